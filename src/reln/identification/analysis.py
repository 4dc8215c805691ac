"""Numbers that compare learning curves and describe what a ReLU network has learned.

Conventions (DESIGN.md, "The run contract"): ``epoch_below[f]`` is the first epoch ``t`` with
``loss(t) < f loss(0)``; the gap between a model and the ReLU network is
``|L_model(t) - L_relu(t)| / L_relu(0)`` over all ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reln.tasks import Task

FRACTIONS = (0.5, 0.1, 0.01)


def epoch_below(loss: np.ndarray, fraction: float) -> int | None:
    """First epoch ``t`` with ``loss[t] < fraction * loss[0]``, or ``None`` if never."""
    below = np.flatnonzero(loss < fraction * loss[0])
    return int(below[0]) if below.size else None


def crossing_epochs(losses: np.ndarray, fractions: Sequence[float] = FRACTIONS) -> dict:
    """``{str(f): [epoch_below per seed]}`` for a ``(n_seeds, epochs + 1)`` array of losses.

    >>> crossing_epochs(np.array([[10.0, 6.0, 4.0, 0.5, 0.05]]))
    {'0.5': [2], '0.1': [3], '0.01': [4]}
    """
    return {str(f): [epoch_below(loss, f) for loss in losses] for f in fractions}


def gap_to_reference(losses: np.ndarray, reference: np.ndarray) -> dict:
    """Max and mean of ``|L(t) - L_ref(t)| / L_ref(0)`` per row (seed against seed).

    ``losses`` and ``reference`` are ``(n_seeds, T)``; a single reference row is broadcast (a
    deterministic theory against each ReLU seed then uses ``reference`` with many rows and
    ``losses`` with one).

    >>> gap_to_reference(np.array([[10.0, 6.0, 1.0]]), np.array([[10.0, 5.0, 1.0]]))
    {'max': [0.1], 'mean': [0.03333333333333333]}
    """
    gap = np.abs(losses - reference) / reference[:, :1]
    return {"max": gap.max(axis=1).tolist(), "mean": gap.mean(axis=1).tolist()}


def loss_split(task: Task, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss split into the part a linear map can remove and the part only gating can
    (docs/theory.md §5.7, "Where the curve misses").

    With ``P_X = X^+ X`` the projector onto the row space of the inputs and ``E = Y - Yhat``,

        L = 1/2 ||E P_X||^2 + 1/2 ||E (I - P_X)||^2.

    A linear map's output ``W X`` lies in the row space, so for it the second (gated) part is
    ``1/2 ||Y (I - P_X)||^2``, the best linear map's loss, whatever ``W``: only a gated network
    lowers it.

    Args:
        task: the task (``X (n_in, P)``, ``Y (n_out, P)``).
        output: ``(..., n_out, P)`` a network's outputs, e.g. a trajectory's ``output`` ``(seeds,
            snapshots, n_out, P)``.

    Returns:
        ``(linear, gated)``, each of ``output``'s leading shape.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(4, 2)
    >>> linear, gated = loss_split(task, np.zeros_like(task.Y))
    >>> bool(np.isclose(linear + gated, 0.5 * (task.Y ** 2).sum()))
    True
    >>> W = np.random.default_rng(0).normal(size=(task.Y.shape[0], task.X.shape[0]))
    >>> best = task.Y @ np.linalg.pinv(task.X) @ task.X
    >>> bool(np.isclose(loss_split(task, W @ task.X)[1], 0.5 * ((task.Y - best) ** 2).sum()))
    True
    """
    X, Y = np.asarray(task.X, np.float64), np.asarray(task.Y, np.float64)
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    basis = Vt[s > s.max() * max(X.shape) * np.finfo(float).eps].T  # (P, rank): P_X = basis basis^T
    E = Y - np.asarray(output, np.float64)
    linear = 0.5 * ((E @ basis) ** 2).sum(axis=(-2, -1))  # n_out x P x rank a row, not P^2
    return linear, np.maximum(0.5 * (E ** 2).sum(axis=(-2, -1)) - linear, 0.0)


def split_gap(parts, reference_parts, snapshot_epochs: np.ndarray, initial_loss: np.ndarray) -> dict:
    """The gap to the ReLU network split into its linear and gated parts (:func:`loss_split`): per
    seed and part, the max over snapshots of ``|L_part(t) - L_part,ref(t)| / L_ref(0)``, and the
    snapshot epoch of that largest miss with its sign (``+``: the model behind).

    Args:
        parts, reference_parts: ``(linear, gated)`` of the model and of the ReLU network, each
            ``(seeds, snapshots)`` at the same ``snapshot_epochs`` (a single model row is compared
            with every ReLU seed, as in :func:`gap_to_reference`).
        initial_loss: ``(seeds,)`` the ReLU's ``L(0)``.

    >>> split = split_gap((np.array([[1.0, 0.5]]), np.array([[2.0, 1.0]])),
    ...                   (np.array([[1.0, 0.4]]), np.array([[2.0, 1.2]])), np.array([0, 10]), np.array([3.0]))
    >>> {key: [round(v, 4) for v in values] for key, values in split.items()}
    {'linear': [0.0333], 'linear_epoch': [10], 'linear_signed': [0.0333], 'gated': [0.0667], 'gated_epoch': [10], 'gated_signed': [-0.0667]}
    """
    initial = np.asarray(initial_loss, np.float64)[:, None]
    out = {}
    for name, part, reference in zip(("linear", "gated"), parts, reference_parts):
        miss = np.subtract(part, reference) / initial
        worst = np.abs(miss).argmax(axis=1)
        out[name] = np.abs(miss).max(axis=1).tolist()
        out[f"{name}_epoch"] = [int(snapshot_epochs[i]) for i in worst]
        out[f"{name}_signed"] = miss[np.arange(len(worst)), worst].tolist()
    return out


def gated_below(gated: np.ndarray, snapshot_epochs: np.ndarray, floor: float, fractions: Sequence[float] = (0.95, 0.5)) -> dict:
    """When the gated part of the loss (:func:`loss_split`) leaves its plateau: per fraction ``f``
    and row, the first snapshot epoch with ``gated < f * floor`` (``None``: never), ``floor`` the
    best linear map's loss, where the gated part of a small initialisation starts
    (docs/theory.md §5.7). 0.95 marks the escape from the plateau, 0.5 the context-specific drop
    half done: levels to read a curve by, not fitted.

    >>> gated_below(np.array([[10.0, 9.9, 9.0, 4.0]]), np.array([0, 10, 20, 30]), 10.0)
    {'0.95': [20], '0.5': [30]}
    """
    gated = np.atleast_2d(gated)
    out = {}
    for f in fractions:
        below = gated < f * floor
        out[str(f)] = [int(snapshot_epochs[np.argmax(row)]) if row.any() else None for row in below]
    return out


def unit_weight_shares(gates: np.ndarray, unit_weight: np.ndarray, task: Task) -> dict:
    """Share of ReLU unit weight by the set of contexts where a unit is active (docs/theory.md §7).

    A unit is active in context ``c`` when it is on (pre-activation > 0) for at least one item
    of ``c``. Returns ``{frozenset(contexts): share}`` with shares summing to 1 (units silent
    everywhere are keyed by the empty set).
    """
    active = np.stack(
        [gates[:, task.context == c].any(axis=1) for c in range(task.n_contexts)], axis=1
    )
    total = float(unit_weight.sum())
    shares: dict = {}
    for pattern, weight in zip(map(tuple, active), unit_weight):
        key = frozenset(int(c) for c in np.flatnonzero(pattern))
        shares[key] = shares.get(key, 0.0) + float(weight) / total
    return shares


SELECTIVITY_CLASSES = ("common", "mixed", "modular", "silent")


def selectivity(identification, n_contexts: int) -> dict[str, float]:
    """Weight shares of the ReLU's hidden units by how many contexts they serve (paper §5 claims).

    * ``common``: active in all ``K`` contexts;
    * ``mixed``: active in several contexts but not all (structured mixed selectivity; the
      all-but-one pathways are its main part);
    * ``modular``: active in exactly one context;
    * ``silent``: the weight left unassigned by the identification (never grew, or never on).

    Args:
        identification: a :class:`reln.identification.identify.Identification` of one seed and layer.
        n_contexts: ``K``.

    Returns:
        ``{class: share}``, summing to 1.
    """
    shares = dict.fromkeys(SELECTIVITY_CLASSES, 0.0)
    for pathway in identification.pathways:
        n = len(pathway.contexts)
        kind = "common" if n == n_contexts else "modular" if n == 1 else "mixed"
        shares[kind] += pathway.weight_share
    shares["silent"] = identification.unassigned_share
    return shares


def within_context_coverage(identification) -> float:
    """How whole-context a ReLU network's gating is: the size-weighted fraction of the samples of
    its own contexts on which a unit is on (docs/theory.md §3.2).

    A unit ``j`` of size ``s_j = ||w_in,j|| ||w_out,j||`` that is active in the contexts ``C_j``
    (on for at least one item of each) is on for ``a_j`` of the ``|C_j| n`` samples of those
    contexts; the coverage is

        c = sum_j s_j (a_j / (|C_j| n)) / sum_j s_j,

    over the identified units. ``c = 1`` exactly when every unit is on for every item of the
    contexts it serves: the ReLU's gates are then whole-context gates, the ReLN the theory is
    about. The smaller ``c``, the more of the ReLU's gating is selectivity among the items of a
    context, which whole-context pathways do not have. It is the pathways' ``coverage`` (the
    weighted fraction of units on, per sample) averaged over their gates and weighted by share.

    Args:
        identification: a :class:`reln.identification.identify.Identification` of one seed and layer.

    Returns:
        ``c`` in ``(0, 1]``, or ``nan`` when no unit was identified.

    >>> from reln.identification.identify import identify
    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(2, 2, np.eye(2), common=np.eye(2))  # samples c1:i1, c1:i2, c2:i1, c2:i2
    >>> hidden = np.array([[[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]])  # unit 2 on one item per context
    >>> found = identify(task, hidden, np.ones((1, 2)), np.array([0]), min_unit_weight=0.0)
    >>> within_context_coverage(found)
    0.75
    """
    pathways = identification.pathways
    weight = sum(p.weight_share for p in pathways)
    if not pathways or weight <= 0:
        return float("nan")
    return float(sum(p.weight_share * np.mean(p.coverage[p.gate > 0]) for p in pathways) / weight)


GATING_WEIGHT = 0.8
"""The fraction of the units' weight :func:`gating_size` asks a gated linear network to hold: a
convention (how many pathways carry most of the network), not a fitted constant."""


def gating_size(patterns: np.ndarray, weights: np.ndarray, fraction: float = GATING_WEIGHT) -> int:
    """How small a gated linear network can hold a ReLU layer's units: the fewest distinct gate
    patterns whose units carry ``fraction`` of the weight (docs/theory.md §3.2).

    Units with the same pattern form one pathway of a GDLN; sorting the patterns by their summed
    weight ``W_g = sum_{j in g} s_j`` (``s_j = ||w_in,j|| ||w_out,j||``), the size is the smallest
    ``m`` with ``W_(1) + ... + W_(m) >= fraction sum_j s_j``. With patterns over contexts (a unit's
    contexts) it counts the pathways of a ReLN with whole-context gates; with patterns over samples
    (a unit's per-sample gates), those of a GDLN gated like the ReLU itself. The paper's picture, a
    *small* GDLN, is that both are small; when only the first is, the ReLU's selectivity lies among
    the items of the contexts.

    Args:
        patterns: ``(units, d)`` bool, a unit's gate pattern; weights: ``(units,)`` non-negative.
        fraction: in ``(0, 1]``.

    Returns:
        the size, ``0`` when the units carry no weight.

    >>> gating_size(np.array([[1, 0], [1, 0], [0, 1], [1, 1]], bool), np.array([1.0, 1.0, 1.0, 0.5]))
    2
    """
    patterns, weights = np.asarray(patterns, bool), np.asarray(weights, float)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    if patterns.ndim != 2 or weights.shape != patterns.shape[:1] or np.any(weights < 0):
        raise ValueError(f"patterns (units, d) and non-negative weights (units,) expected, got "
                         f"{patterns.shape} and {weights.shape}")
    total = weights.sum()
    if total <= 0:
        return 0
    _, group = np.unique(patterns, axis=0, return_inverse=True)
    mass = np.sort(np.bincount(group.ravel(), weights=weights))[::-1]
    return int(np.searchsorted(np.cumsum(mass), fraction * total * (1 - 1e-12)) + 1)


def path_sequence_shares(weights: Sequence[np.ndarray], gates: Sequence[np.ndarray], task: Task) -> dict:
    """Share of a deep ReLU network's path weight by the sequence of context sets its units have.

    In a network of several hidden layers a pathway of the ReLN is a *sequence* of groups, one per
    layer (issue: deep ReLNs). A path from the input through units ``j_1, ..., j_L`` to the output
    carries ``||W_1[j_1, :]|| |W_2[j_2, j_1]| ... |W_L[j_L, j_{L-1}]| ||W_{L+1}[:, j_L]||``, the
    product of the sizes of its weights (with one hidden layer, the unit size
    ``||w_in|| ||w_out||`` of DESIGN.md). Each unit is labelled by the contexts in which it is on for
    at least one item (as :func:`unit_weight_shares`); the path weight is summed over the paths
    whose units carry the labels ``(a_1, ..., a_L)`` and normalised to 1.

    Args:
        weights: ``[W_1 (h_1, n_in), ..., W_{L+1} (n_out, h_L)]`` of one seed.
        gates: per hidden layer, ``(h_l, P)`` on/off patterns of that seed.

    Returns:
        ``{(frozenset(a_1), ..., frozenset(a_L)): share}``, shares summing to 1.
    """
    labels, onehots = [], []
    for g in gates:
        active = np.stack([np.asarray(g)[:, task.context == c].any(axis=1) for c in range(task.n_contexts)], axis=1)
        keys = [frozenset(int(c) for c in np.flatnonzero(row)) for row in active]
        unique = sorted(set(keys), key=lambda k: (len(k), sorted(k)))
        labels.append(unique)
        onehots.append(np.array([[k == u for u in unique] for k in keys], dtype=np.float64))
    W = [np.abs(np.asarray(w, dtype=np.float64)) for w in weights]
    flow = np.linalg.norm(weights[0], axis=1)[:, None] * onehots[0]  # (h_1, groups_1)
    for l in range(1, len(gates)):
        # (h_l, groups_1 ... groups_{l-1}) -> (h_l, groups_1 ... groups_l)
        carried = np.tensordot(W[l], flow, axes=(1, 0))
        flow = carried[..., None] * onehots[l].reshape(onehots[l].shape[0], *([1] * (carried.ndim - 1)), -1)
    out_norm = np.linalg.norm(weights[-1], axis=0)
    total = np.tensordot(out_norm, flow, axes=(0, 0))  # (groups_1, ..., groups_L)
    total = total / total.sum()
    shares = {}
    for index in zip(*np.nonzero(total)):
        shares[tuple(labels[l][i] for l, i in enumerate(index))] = float(total[index])
    return shares


def layer_imbalance(lower, upper):
    """How far two consecutive weight matrices are from balanced, in ``[0, 1]``.

    ``||W_u^T W_u - W_l W_l^T||_F / (||W_u^T W_u||_F + ||W_l W_l^T||_F)`` for ``W_l`` ``(h, n)``
    feeding ``W_u`` ``(m, h)``. It is 0 exactly when ``W_u^T W_u = W_l W_l^T``, the balance that
    gradient flow keeps in a linear network started balanced, and which makes the layers' singular
    vectors align (the deep-pathway analysis of docs/theory.md §2 and :mod:`reln.theory.deep` rest on
    it); 1 when the two Gram matrices are orthogonal. Scale-free, and written with products and
    sums only so that it can run inside a compiled scan on NumPy or JAX arrays.
    """
    a, b = upper.T @ upper, lower @ lower.T
    norm = lambda m: ((m * m).sum()) ** 0.5  # noqa: E731
    return norm(a - b) / (norm(a) + norm(b) + 1e-30)


def context_set_name(contexts) -> str:
    """A context set as named in files and figures, 1-based: ``(0, 2)`` -> ``"{1,3}"``.

    >>> context_set_name((0, 2))
    '{1,3}'
    """
    return "{" + ",".join(str(c + 1) for c in contexts) + "}"


# The weight share from which a context set counts as part of a structure, predicted or identified:
# a convention for what "the structure" names, not a fitted constant.
STRUCTURE_FLOOR = 0.02


def structure_agreement(predicted: Sequence[dict], identified: Sequence[dict], floor: float = STRUCTURE_FLOOR) -> dict:
    """How a predicted structure compares with the identified one: the context sets holding at
    least ``floor`` of the weight in each (mean share over seeds), whether they are the same, and
    per set the predicted minus the identified share (0 where a set is absent).

    Args:
        predicted, identified: pathway entries with ``contexts`` (0-based) and ``weight_share``.
        floor: the share from which a set counts as part of a structure.

    Returns:
        ``floor``, ``predicted_sets``, ``identified_sets`` (names, 1-based), ``same_sets``,
        ``share_error`` (name -> predicted - identified) and ``share_error_max`` (largest absolute).

    >>> agree = structure_agreement([{"contexts": [0, 1], "weight_share": 0.7}, {"contexts": [1], "weight_share": 0.3}],
    ...                             [{"contexts": [0, 1], "weight_share": 0.6}, {"contexts": [0], "weight_share": 0.4}])
    >>> agree["same_sets"], agree["share_error"]["{1}"], round(agree["share_error_max"], 2)
    (False, -0.4, 0.4)
    """
    def shares(entries):
        return {tuple(sorted(p["contexts"])): float(p["weight_share"] or 0.0) for p in entries}

    pred, ident = shares(predicted), shares(identified)
    kept_pred = {s for s, v in pred.items() if v >= floor}
    kept_ident = {s for s, v in ident.items() if v >= floor}
    sets = sorted(kept_pred | kept_ident, key=lambda s: (-len(s), s))
    errors = {context_set_name(s): pred.get(s, 0.0) - ident.get(s, 0.0) for s in sets}
    return {
        "floor": floor,
        "predicted_sets": [context_set_name(s) for s in sets if s in kept_pred],
        "identified_sets": [context_set_name(s) for s in sets if s in kept_ident],
        "same_sets": kept_pred == kept_ident,
        "share_error": errors,
        "share_error_max": max((abs(e) for e in errors.values()), default=0.0),
    }


def gating_agreement(task: Task, pre: np.ndarray, epochs_of: np.ndarray, reference_pre: np.ndarray,
                     reference_epochs: np.ndarray, unit_weight: np.ndarray, at: Sequence[int]) -> list[list[float]]:
    """How far two runs of the same units gate them apart, unit by unit: at each epoch of ``at``,
    the mean over contexts of ``|f - f_ref|``, ``f`` a unit's fraction of a context's items on
    which its pre-activation is positive, averaged over units weighted by the reference's unit
    sizes. 0: every unit open on the same share of every context; 1: opposite.

    Args:
        task: the task (contexts and items).
        pre, reference_pre: ``(seeds, snapshots, units, P)`` pre-activations of the same units
            (the same initial weights) in two runs; epochs_of, reference_epochs: their snapshot epochs.
        unit_weight: ``(seeds, snapshots, units)`` the reference's unit sizes.
        at: epochs to compare (each run's last snapshot at or before it).

    Returns:
        ``[seed][epoch]`` the weighted mean difference.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> pre = np.ones((1, 1, 3, 8)); other = pre.copy(); other[0, 0, 0, :4] = -1
    >>> gating_agreement(task, pre, np.array([0]), other, np.array([0]), np.ones((1, 1, 3)), [0])
    [[0.16666666666666666]]
    """
    def fractions(z):  # (units, P) -> (units, K)
        return (z > 0).reshape(z.shape[0], task.n_contexts, task.n_items).mean(axis=2)

    rows = []
    for s in range(pre.shape[0]):
        row = []
        for t in at:
            i = max(0, np.searchsorted(epochs_of, t, side="right") - 1)
            j = max(0, np.searchsorted(reference_epochs, t, side="right") - 1)
            w = unit_weight[s, j]
            diff = np.abs(fractions(pre[s, i]) - fractions(reference_pre[s, j])).mean(axis=1)
            row.append(float(np.sum(w * diff) / max(np.sum(w), 1e-300)))
        rows.append(row)
    return rows
