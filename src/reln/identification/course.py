"""How a ReLU network's gating forms over training: by leaving contexts or by items inside them (docs/theory.md §3.2).

:func:`stage_metrics` does the same at one matched stage of learning, for every hidden layer.

At checkpoints spread geometrically over the run, the first hidden layer is identified
(:func:`reln.identification.identify.identify`) and summarised by the weight shares of units by the
number of contexts they serve (:func:`reln.identification.analysis.selectivity`) and by the
within-context coverage (:func:`reln.identification.analysis.within_context_coverage`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reln.errors import RelnError
from reln.identification.analysis import (
    GATING_WEIGHT, SELECTIVITY_CLASSES, epoch_below, gating_size, selectivity, within_context_coverage,
)
from reln.identification.identify import Identification, active_patterns, identify
from reln.tasks import Task

if TYPE_CHECKING:
    from reln.training.trajectory import Trajectory


def coverage_or_none(identification: Identification) -> float | None:
    """:func:`reln.identification.analysis.within_context_coverage`, ``None`` (JSON null) where no unit was identified.

    >>> from reln.identification.identify import Identification
    >>> coverage_or_none(Identification((), 1.0, np.array([], int), 0, 1e-3, 1e-2)) is None
    True
    """
    c = within_context_coverage(identification)
    return None if np.isnan(c) else c


GATING_SIZES = ("pathways_context", "pathways_sample")


def gating_sizes(identification: Identification, hidden: np.ndarray, unit_weight: np.ndarray) -> dict[str, int]:
    """One checkpoint's :func:`reln.identification.analysis.gating_size` over the units its
    identification assigned: ``pathways_context`` over their context sets (the identified pathways:
    a ReLN with whole-context gates), ``pathways_sample`` over their own per-sample gates at the
    identification's activity threshold (docs/theory.md §3.2).

    Args:
        identification: of this checkpoint; hidden: ``(units, P)`` its activity; unit_weight:
            ``(units,)`` the unit sizes.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(2, 2, np.eye(2), common=np.eye(2))  # samples c1:i1, c1:i2, c2:i1, c2:i2
    >>> hidden = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    >>> found = identify(task, hidden[None], np.ones((1, 3)), np.array([0]))
    >>> gating_sizes(found, hidden, np.ones(3))  # one context set, three sample patterns
    {'pathways_context': 1, 'pathways_sample': 3}
    """
    pathways = identification.pathways
    units = np.concatenate([p.units for p in pathways]) if pathways else np.array([], int)
    on = active_patterns(np.asarray(hidden)[units], identification.activity_threshold)
    sizes = np.asarray(unit_weight, float)[units]
    context = gating_size(np.eye(len(pathways), dtype=bool), np.array([p.weight_share for p in pathways]),
                          GATING_WEIGHT) if pathways else 0
    return dict(zip(GATING_SIZES, (context, gating_size(on, sizes, GATING_WEIGHT))))


GATING_COURSE_POINTS = 16
"""Checkpoints of :func:`gating_course`, geometrically spaced: the ReLU's transitions are evenly
spread in log time (docs/theory.md §5.3)."""


def gating_course(task: Task, relu: "Trajectory", *, activity_threshold: float = 1e-3, min_unit_weight: float = 1e-2,
                  points: int = GATING_COURSE_POINTS) -> dict:
    """How the first hidden layer's gating forms over training: at ``points`` checkpoints, per
    seed, the weight shares by number of contexts served (:func:`reln.identification.analysis.selectivity`),
    the within-context coverage (:func:`reln.identification.analysis.within_context_coverage`) and
    how many pathways hold :data:`reln.identification.analysis.GATING_WEIGHT` of the grown units'
    weight, with whole-context gates and with the units' own per-sample gates
    (:func:`reln.identification.analysis.gating_size`; docs/theory.md §3.2).

    Read together they say *how* the units gate as the loss leaves the linear floor: by leaving
    whole contexts (the common share falls while the coverage stays near 1: the ReLN's picture) or
    by turning off on items inside the contexts they keep (the coverage falls while the common
    share stays: selectivity whole-context pathways do not have). The two sizes say the same in
    numbers of pathways: a ReLN of a few context sets against a GDLN that needs hundreds of
    per-sample patterns.

    Returns:
        ``{"epochs": [...], "loss": [[per checkpoint] per seed], "common" / "mixed" / "modular" /
        "within_context_coverage" / "pathways_context" / "pathways_sample": [[per checkpoint] per
        seed]}``, the loss as a fraction of ``L(0)``.

    >>> from reln.tasks import contextual_task
    >>> from reln.training.fit import fit_relu
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> course = gating_course(task, fit_relu(task, (16,), 0.1, lr=0.05, epochs=300, snapshot_every=10), points=4)
    >>> course["epochs"], len(course["within_context_coverage"][0])
    ([10, 30, 100, 300], 4)
    >>> all(c <= s for c, s in zip(course["pathways_context"][0], course["pathways_sample"][0]))
    True
    """
    epochs = np.asarray(relu.snapshot_epochs)
    positive = np.flatnonzero(epochs > 0)
    if not positive.size:
        raise RelnError("the gating course needs a ReLU checkpoint after epoch 0")
    wanted = np.geomspace(epochs[positive[0]], epochs[-1], points)
    picks = np.unique([positive[np.argmin(np.abs(epochs[positive] - t))] for t in wanted])
    layer = relu.layers[0]
    kinds = ("common", "mixed", "modular", "within_context_coverage", *GATING_SIZES)
    course = {"epochs": epochs[picks].tolist(), "loss": (relu.loss[:, epochs[picks]] / relu.loss[:, :1]).tolist()}
    course |= {kind: [] for kind in kinds}
    for s in range(relu.loss.shape[0]):
        rows = {kind: [] for kind in kinds}
        for k in picks:  # one checkpoint at a time: the settle epochs are not needed here
            found = identify(task, layer.hidden[s, k:k + 1], layer.unit_weight[s, k:k + 1], epochs[k:k + 1],
                             activity_threshold=activity_threshold, min_unit_weight=min_unit_weight)
            shares = selectivity(found, task.n_contexts) | {"within_context_coverage": coverage_or_none(found)}
            shares |= gating_sizes(found, layer.hidden[s, k], layer.unit_weight[s, k])
            for kind in kinds:
                rows[kind].append(shares[kind])
        for kind in kinds:
            course[kind].append(rows[kind])
    return course


STAGE_FRACTION = 0.1
"""The matched stage of learning at which networks of different depths are compared: the first
checkpoint at or after the loss falls below this fraction of its start (docs/theory.md §7)."""


def stage_metrics(task: Task, relu: "Trajectory", activity_threshold: float, min_unit_weight: float,
                   fraction: float = STAGE_FRACTION) -> dict:
    """Each hidden layer's selectivity, within-context coverage and gating sizes (:func:`gating_sizes`)
    at a matched stage of learning, per seed: identified at the first checkpoint at or after
    ``ep(fraction)`` (``None`` where the loss never gets there), so that networks which learn at
    different speeds (depths, init scales) are compared at the same point of their own learning
    rather than at the same epoch."""
    layers = range(len(relu.layers))
    epochs, shares = [], {l: [] for l in layers}
    for s, loss in enumerate(relu.loss):
        reached = epoch_below(loss, fraction)
        after = np.flatnonzero(relu.snapshot_epochs >= reached) if reached is not None else np.array([], int)
        if not after.size:
            epochs.append(None)
            for l in layers:
                shares[l].append(None)
            continue
        checkpoint = int(after[0])
        epochs.append(int(relu.snapshot_epochs[checkpoint]))
        for l in layers:
            found = identify(
                task, relu.layers[l].hidden[s], relu.layers[l].unit_weight[s], relu.snapshot_epochs,
                checkpoint=checkpoint, activity_threshold=activity_threshold, min_unit_weight=min_unit_weight,
            )
            shares[l].append(selectivity(found, task.n_contexts) | {"within_context_coverage": coverage_or_none(found)}
                             | gating_sizes(found, relu.layers[l].hidden[s, checkpoint],
                                            relu.layers[l].unit_weight[s, checkpoint]))
    return {
        "fraction": fraction,
        "epoch": epochs,
        "layers": [
            {"layer": l + 1, **{kind: [None if x is None else x[kind] for x in shares[l]]
                                for kind in (*SELECTIVITY_CLASSES, "within_context_coverage", *GATING_SIZES)}}
            for l in layers
        ],
    }
