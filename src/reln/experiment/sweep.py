"""Sweep the number of contexts: is structured mixed selectivity amplified with more contexts?

For each ``K`` the ReLU network of a base config is trained on the same task with ``K`` contexts
(nothing else changes: no per-K context scale or width), its units are identified
(:mod:`reln.identification.identify`), and two numbers are kept per seed:

* the weight share of mixed-selective units (active in several contexts but not all), and of
  common and modular ones (:func:`reln.identification.analysis.selectivity`);
* how whole-context the gating is: the within-context coverage of the units
  (:func:`reln.identification.analysis.within_context_coverage`) at the end, and, beside the common
  share, as the loss first halves, with the course of both over training
  (:func:`reln.identification.course.gating_course`);
* the speed of the context-specific phase: the first epoch at which the loss falls below the best
  linear map's (``loss_linear_floor``, which only gating can beat), and below half of it;
* the mixed-selective share the prediction from the task and the init law alone gives
  (:func:`reln.theory.prediction.predict_from_task`: the all-but-one pathways' share of the
  final maps; at ``K = 2`` an all-but-one set is a single context, so it counts as modular), and
  per seed the share of the seeded prediction's units (each seed's initial units in the field of
  that prediction's error, :mod:`reln.theory.field`, identified as the ReLU's are; docs/theory.md
  §5.8). The field costs about one more training per ``K``;
* with ``reln`` or ``theory`` among the config's models, how closely the compact ReLN and its theory
  follow the ReLU (``compact_reln``, ``theory``: max and mean gap per seed, docs/theory.md §5.3, §5.5),
  which maps where the compact picture holds against ``K``. They need the ReLU's checkpoints at the
  config's spacing rather than every 100 epochs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.identification.analysis import SELECTIVITY_CLASSES, gated_below, selectivity
from reln.experiment.config import RunConfig
from reln.errors import RelnError
from reln.experiment.experiments import (
    build_task, compact_schedule_pair, gap_split_to_relu, seeded_field, split_parts, trajectory_split,
)
from reln.identification.course import GATING_SIZES, coverage_or_none, gating_course, stage_metrics
from reln.training.fit import fit_relu
from reln.identification.identify import identify_seeds


def contexts_sweep(config: RunConfig, contexts: Sequence[int], progress=None) -> list[dict]:
    """One entry per ``K``: selectivity shares and context-phase epochs per seed.

    Args:
        config: the base config (its ``[task] contexts`` is replaced; a single structure name is
            needed, since the number of per-context structures must follow ``K``).
        contexts: the values of ``K``.
        progress: optional ``callback(K)`` called before each ``K``.
    """
    if not isinstance(config.task.structures, str):
        raise RelnError("a contexts sweep needs [task] structures to be one name used for every context")
    if not contexts or min(contexts) < 1:
        raise RelnError(f"contexts to sweep must be integers >= 1, got {list(contexts)}")
    if {"reln", "theory"} & set(config.models) and len(config.relu.hidden) != 1:
        raise RelnError("the compact ReLN and its theory describe one hidden layer: sweep this network with relu only")
    entries = []
    for K in contexts:
        if progress is not None:
            progress(K)
        task = build_task(dataclasses.replace(config, task=dataclasses.replace(config.task, contexts=int(K))))
        train = config.train
        compact = bool({"reln", "theory"} & set(config.models))
        relu = fit_relu(
            task, config.relu.hidden, config.relu.init_std, seeds=train.seeds, lr=train.lr,
            # identification reads the last checkpoint: sparse snapshots keep memory small at large K;
            # the compact schedule reads checkpoints at the config's spacing
            epochs=train.epochs, x64=train.x64, batch_size=train.batch_size,
            snapshot_every=config.relu.snapshot_every if compact else max(config.relu.snapshot_every, 100),
        )
        found = identify_seeds(task, relu, activity_threshold=config.identify.activity_threshold,
                               min_unit_weight=config.identify.min_unit_weight)
        shares = [selectivity(identification, task.n_contexts) for identification in found]
        from reln.theory.prediction import predict_from_task

        predicted = predict_from_task(task, config.relu.hidden[0], config.relu.init_std, lr=train.lr,
                                      epochs=train.epochs, keep_error=True, substeps=train.epoch_updates(task.P))
        _, _, seeded = seeded_field(config, task, predicted.prediction.error[0],
                                    snapshot_every=max(config.relu.snapshot_every, 100))
        floor = task.loss_linear_floor
        thresholds = dict(activity_threshold=config.identify.activity_threshold,
                          min_unit_weight=config.identify.min_unit_weight)
        half = stage_metrics(task, relu, fraction=0.5, **thresholds)
        relu_parts = trajectory_split(task, relu)  # the loss split (docs/theory.md §5.7), once per K
        entries.append({
            "predicted_mixed": float(sum(s for c, s in zip(predicted.contexts, predicted.shares) if 1 < len(c) < K)),
            "predicted_mixed_seeded": [selectivity(found_seeded, K)["mixed"] for found_seeded in seeded],
            "contexts": int(K),
            "loss_linear_floor": floor,
            **{kind: [s[kind] for s in shares] for kind in SELECTIVITY_CLASSES},
            "within_context_coverage": [coverage_or_none(identification) for identification in found],
            # how the units gate as the loss first halves: by leaving contexts or by items inside them
            "at_half_loss": {"epoch": half["epoch"], **{kind: half["layers"][0][kind] for kind in (
                "common", "within_context_coverage", *GATING_SIZES)}},
            "gating_course": gating_course(task, relu, **thresholds),
            "epoch_below_linear_floor": [_first_below(loss, floor) for loss in relu.loss],
            # the gated part of the loss (docs/theory.md §5.7): when the ReLU's leaves its plateau, and the prediction's
            "epoch_gated_below": gated_below(relu_parts[1], relu.snapshot_epochs, floor),
            "predicted_epoch_gated_below": {f: v[0] for f, v in gated_below(
                predicted.prediction.split[0, :, 1], predicted.prediction.snapshot_epochs, floor).items()},
            "epoch_below_half_linear_floor": [_first_below(loss, 0.5 * floor) for loss in relu.loss],
            "loss_final": relu.loss[:, -1].tolist(),
        } | (_compact_gaps(config, task, relu, relu_parts, found) if compact else {}))
    return entries


def _compact_gaps(config: RunConfig, task, relu, relu_parts, found) -> dict:
    """The compact ReLN's and its theory's gap to the ReLU on this ``K``, per seed, from the schedules
    a run of the config would use (:func:`reln.experiment.experiments.compact_schedule_pair`,
    docs/theory.md §5.3, §5.5)."""
    from reln.gates import CompactRule
    from reln.identification.analysis import gap_to_reference
    from reln.models.init import relu_initial_weights
    from reln.relns.imitate import fit_compact_reln
    from reln.theory.predict import predict_compact

    train = config.train
    initial = relu_initial_weights(task, config.relu.hidden, config.relu.init_std, train.seeds)
    schedules, theory_schedules = compact_schedule_pair(config, task, relu, initial, for_reln="reln" in config.models,
                                                        for_theory="theory" in config.models)
    out = {}
    if schedules is not None:
        slide = (config.reln.schedule or CompactRule()).slide
        trajectory, _ = fit_compact_reln(task, schedules, initial, lr=train.lr, epochs=train.epochs, slide=slide,
                                         x64=train.x64, batch_size=train.batch_size, seeds=train.seeds)
        out["compact_reln"] = gap_to_reference(trajectory.loss, relu.loss) | {
            "read_phases": schedules[0].reads.read_phases, "gate_phases": schedules[0].n_phases}
        # where it misses: the loss a linear map can remove, or the loss only gating can (docs/theory.md §5.7)
        out["compact_reln"]["gap_split"] = gap_split_to_relu(trajectory_split(task, trajectory),
                                                             trajectory.snapshot_epochs, relu_parts, relu)
    if theory_schedules is not None:
        theory = predict_compact(task, found, initial, theory_schedules, lr=train.lr, epochs=train.epochs,
                                 x64=train.x64, substeps=train.epoch_updates(task.P))
        out["theory"] = gap_to_reference(theory.loss, relu.loss)
        out["theory"]["gap_split"] = gap_split_to_relu(
            None if theory.split is None else split_parts(theory.split), theory.snapshot_epochs, relu_parts, relu)
    return out


def _first_below(loss: np.ndarray, level: float) -> int | None:
    """First epoch with ``loss < level`` (``None`` if never, or if the floor is 0: one context)."""
    below = np.flatnonzero(loss < level) if level > 0 else np.array([], dtype=int)
    return int(below[0]) if below.size else None
