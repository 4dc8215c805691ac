"""Find the ReLN of a trained ReLU network: group hidden units by their gate patterns (docs/theory.md §3).

A bias-free ReLU unit is a gated linear unit, ``relu(w . x) = 1[w . x > 0] w . x``. Units that
share an on/off pattern over the samples act as one pathway of a gated deep linear network; the
ReLN is the GDLN with one pathway per pattern. The paper finds the patterns by clustering units
over training checkpoints without giving details; here the procedure is explicit:

1. At a checkpoint (by default the last), a unit is *active* on a sample when its activity
   exceeds ``activity_threshold`` times its own largest activity. A small relative threshold
   keeps units that are "barely on" in a context from counting as on there (docs/theory.md §7).
2. A unit whose size ``||w_in|| ||w_out||`` is below ``min_unit_weight`` times the largest unit's
   never grew from its initialisation: it carries no weight and is left unassigned.
3. Units active in the same set of contexts (on for at least one item of each) form a pathway,
   gated on those contexts. Within its contexts a unit is usually on for only some items (exact
   per-sample patterns are nearly all distinct: about 440 patterns among 700 units on the
   three-context task), so the item level is kept as a summary: ``coverage``, the weighted
   fraction of the pathway's units that are on, per sample.
4. Each pathway's ``weight_share`` is its units' share of the total unit size; the share of the
   unassigned units is reported apart. Pathways are sorted by weight share.
5. ``settle_epoch`` of a pathway is the weighted median over its units of the first checkpoint
   from which the unit's pattern no longer changes: units switch gates early in training.

Deterministic: no clustering randomness, ties broken by pattern order.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from reln.errors import RelnError
from reln.tasks import Task

if TYPE_CHECKING:
    from reln.training.trajectory import Trajectory


@dataclasses.dataclass(frozen=True)
class IdentifiedPathway:
    """One group of ReLU units sharing a gate pattern.

    Attributes:
        contexts: contexts (0-based) in which the pathway's units are on for at least one item.
        gate: ``(P,)`` 0/1: 1 on the samples of those contexts.
        coverage: ``(P,)`` weighted fraction of the units on, per sample (0 outside the gate).
        units: indices of the ReLU units in the group.
        weight_share: the group's share of the total unit size at the checkpoint.
        settle_epoch: weighted median epoch from which its units keep this pattern.
    """

    contexts: tuple[int, ...]
    gate: np.ndarray
    coverage: np.ndarray
    units: np.ndarray
    weight_share: float
    settle_epoch: int


@dataclasses.dataclass(frozen=True)
class Identification:
    """The pathways of one ReLU network (one seed, one hidden layer), sorted by weight share."""

    pathways: tuple[IdentifiedPathway, ...]
    unassigned_share: float
    unassigned_units: np.ndarray
    epoch: int
    activity_threshold: float
    min_unit_weight: float


def active_patterns(hidden: np.ndarray, activity_threshold: float) -> np.ndarray:
    """Boolean ``(units, P)``: activity above ``activity_threshold`` times the unit's own maximum.

    A silent unit (no positive activity) is active nowhere.
    """
    peak = hidden.max(axis=1, keepdims=True)
    return (hidden > activity_threshold * peak) & (peak > 0)


def _settle_index(patterns: np.ndarray) -> np.ndarray:
    """Per unit, the first snapshot index from which its pattern equals the last one.

    Args:
        patterns: ``(snapshots, units, P)`` boolean.
    """
    differs = np.any(patterns != patterns[-1], axis=2)  # (snapshots, units)
    last_different = np.where(differs.any(axis=0), differs.shape[0] - 1 - np.argmax(differs[::-1], axis=0), -1)
    return last_different + 1


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def identify(
    task: Task,
    hidden: np.ndarray,
    unit_weight: np.ndarray,
    snapshot_epochs: np.ndarray,
    *,
    checkpoint: int = -1,
    activity_threshold: float = 1e-3,
    min_unit_weight: float = 1e-2,
) -> Identification:
    """Group the hidden units of one ReLU network (one seed, one layer) into pathways.

    Args:
        task: the task the network was trained on (for contexts and items).
        hidden: ``(snapshots, units, P)`` post-ReLU activity at each checkpoint.
        unit_weight: ``(snapshots, units)`` unit sizes ``||w_in|| ||w_out||``.
        snapshot_epochs: ``(snapshots,)`` epoch of each checkpoint.
        checkpoint: index of the checkpoint whose patterns define the pathways.
        activity_threshold: relative activity below which a unit counts as off (step 1).
        min_unit_weight: relative size below which a unit is left unassigned (step 2).

    Returns:
        The :class:`Identification`.

    >>> from reln.tasks import contextual_task
    >>> from reln.training.fit import fit_relu
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> relu = fit_relu(task, (16,), 0.1, lr=0.05, epochs=300)
    >>> found = identify(task, relu.layers[0].hidden[0], relu.layers[0].unit_weight[0], relu.snapshot_epochs)
    >>> found.epoch, found.pathways[0].contexts
    (300, (0, 1))
    """
    hidden, unit_weight = np.asarray(hidden), np.asarray(unit_weight)
    if hidden.ndim != 3 or hidden.shape[2] != task.P or unit_weight.shape != hidden.shape[:2]:
        raise RelnError(
            f"identify needs hidden (snapshots, units, P={task.P}) and unit_weight (snapshots, units), "
            f"got {hidden.shape} and {unit_weight.shape}"
        )
    if not -len(hidden) <= checkpoint < len(hidden) or len(snapshot_epochs) != len(hidden):
        raise RelnError(
            f"identify needs checkpoint {checkpoint} among the {len(hidden)} snapshots and one epoch per snapshot "
            f"(got {len(snapshot_epochs)}); train longer or snapshot more often"
        )
    if not 0 <= activity_threshold < 1 or not 0 <= min_unit_weight < 1:
        raise RelnError(
            f"activity_threshold and min_unit_weight are fractions in [0, 1), got "
            f"{activity_threshold} and {min_unit_weight}"
        )
    patterns = np.stack([active_patterns(h, activity_threshold) for h in hidden[: len(hidden) + checkpoint + 1 if checkpoint < 0 else checkpoint + 1]])
    final = patterns[-1]
    sizes = unit_weight[checkpoint]
    total = float(sizes.sum())
    if not total > 0:
        raise RelnError("identify needs units that grew: every unit size is 0 (a zero init, or every unit dead)")
    grown = (sizes >= min_unit_weight * sizes.max()) & final.any(axis=1)
    settle = np.asarray(snapshot_epochs)[_settle_index(patterns)]

    on_in_context = np.stack([final[:, task.context == c].any(axis=1) for c in range(task.n_contexts)], axis=1)
    groups: dict[tuple[int, ...], list[int]] = {}
    for unit in np.flatnonzero(grown):
        groups.setdefault(tuple(int(c) for c in np.flatnonzero(on_in_context[unit])), []).append(int(unit))
    pathways = []
    for contexts, members in groups.items():
        units = np.array(members)
        pathways.append(
            IdentifiedPathway(
                contexts=contexts,
                gate=task.context_mask(contexts),
                coverage=np.average(final[units], axis=0, weights=sizes[units]),
                units=units,
                weight_share=float(sizes[units].sum()) / total,
                settle_epoch=int(_weighted_median(settle[units], sizes[units])),
            )
        )
    pathways.sort(key=lambda p: (-p.weight_share, p.contexts))
    unassigned = np.flatnonzero(~grown)
    return Identification(
        pathways=tuple(pathways),
        unassigned_share=float(sizes[unassigned].sum()) / total,
        unassigned_units=unassigned,
        epoch=int(np.asarray(snapshot_epochs)[checkpoint]),
        activity_threshold=activity_threshold,
        min_unit_weight=min_unit_weight,
    )


def identify_seeds(task: Task, relu: "Trajectory", *, activity_threshold: float = 1e-3,
                   min_unit_weight: float = 1e-2) -> list[Identification]:
    """The identification of every seed of a ReLU run, from its first hidden layer's checkpoints
    (:func:`identify` at the last one; the thresholds are ``[identify]``'s).

    >>> from reln.tasks import contextual_task
    >>> from reln.training.fit import fit_relu
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> found = identify_seeds(task, fit_relu(task, (16,), 0.1, seeds=(0, 1), lr=0.05, epochs=300))
    >>> len(found), round(sum(p.weight_share for p in found[0].pathways) + found[0].unassigned_share, 6)
    (2, 1.0)
    """
    layer = relu.layers[0]
    return [
        identify(task, layer.hidden[s], layer.unit_weight[s], relu.snapshot_epochs,
                 activity_threshold=activity_threshold, min_unit_weight=min_unit_weight)
        for s in range(relu.loss.shape[0])
    ]
