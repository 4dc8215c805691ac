"""Build the ReLN that imitates a ReLU network from its identified pathways (THEORY.md §3, §1 claim 8).

Given one :class:`~reln.identify.Identification` per seed and the ReLU network's initial weights,
the ReLN has one pathway per context set found in any seed, gated on those contexts, and starts
from the ReLU's own units: a pathway's hidden units are the ReLU units assigned to it, with their
initial input rows and output columns. So the ReLN and the ReLU network begin from the same
function up to the gating, and differ only in that the ReLN's gates are fixed.

Inputs (claim 8, checked on the data rather than assumed): a pathway reads the context inputs
only if they correlate with what it has to fit. The always-on pathway fits ``Y``; a pathway gated
on a subset of contexts fits what the best linear map leaves, ``R = Y - Y X^+ X``. ``R`` is
double-centred (THEORY.md §4), so its sum over the items of each context is zero and it has no
correlation with a context one-hot on any union of whole contexts: such pathways read the items
only. :func:`context_correlation` reports the number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reln.gdln import GDLN, Pathway, build_gdln
from reln.identify import Identification
from reln.tasks import Task

CORRELATION_TOLERANCE = 1e-8


def context_correlation(task: Task, gate: np.ndarray) -> float:
    """Normalised correlation ``||T G C^T|| / (||T G|| ||C G||)`` of a pathway's target with the
    context inputs ``C`` on its samples (``G = diag(gate)``).

    The target ``T`` is ``Y`` for a pathway open on every sample, the linear residual
    ``Y - Y X^+ X`` otherwise.
    """
    gate = np.asarray(gate, dtype=float)
    if np.all(gate == 1):
        target = task.Y
    else:
        target = task.Y - task.Y @ np.linalg.pinv(task.X) @ task.X
    contexts = task.X[~task.item_inputs]
    numerator = np.linalg.norm((target * gate) @ contexts.T)
    denominator = np.linalg.norm(target * gate) * np.linalg.norm(contexts * gate)
    return float(numerator / denominator) if denominator > 0 else 0.0


def reln_structure(task: Task, identifications: Sequence[Identification]) -> tuple[list[tuple[int, ...]], list[str]]:
    """The context sets of the ReLN (union over seeds, by mean weight share) and their inputs."""
    shares: dict[tuple[int, ...], float] = {}
    for identification in identifications:
        for pathway in identification.pathways:
            shares[pathway.contexts] = shares.get(pathway.contexts, 0.0) + pathway.weight_share
    context_sets = sorted(shares, key=lambda c: (-shares[c], c))
    inputs = [
        "all" if context_correlation(task, task.context_mask(c)) > CORRELATION_TOLERANCE else "items"
        for c in context_sets
    ]
    return context_sets, inputs


def imitating_reln(
    task: Task,
    identifications: Sequence[Identification],
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *,
    init_scale: float = 1.0,
) -> tuple[GDLN, list[np.ndarray]]:
    """The ReLN of a one-hidden-layer ReLU network, with its initial weights per seed.

    Args:
        task: the task.
        identifications: one per seed, from :func:`reln.identify.identify` on layer 0.
        relu_initial_weights: per seed, the ReLU's initial ``[W_in (h, n_in), W_out (n_out, h)]``.
        init_scale: factor on the copied initial weights (1: the ReLU's own).

    Returns:
        ``(gdln, params)``: the GDLN (pathway widths are the largest unit count over seeds; a seed
        with fewer units has zero padding, which stays zero) and its weights with seeds on axis 0.
    """
    context_sets, inputs = reln_structure(task, identifications)
    widths = [
        max(1, max((len(p.units) for i in identifications for p in i.pathways if p.contexts == c), default=0))
        for c in context_sets
    ]
    pathways = [
        Pathway(contexts=c, inputs=inp, hidden=(w,), init_std=0.0, name="{" + ",".join(str(k + 1) for k in c) + "}")
        for c, inp, w in zip(context_sets, inputs, widths)
    ]
    gdln = build_gdln(pathways, task)
    n_paths, width = len(pathways), max(widths)
    W0 = np.zeros((len(identifications), n_paths, width, task.n_in))
    W1 = np.zeros((len(identifications), n_paths, task.n_out, width))
    for s, (identification, (w_in, w_out)) in enumerate(zip(identifications, relu_initial_weights)):
        for pathway in identification.pathways:
            p = context_sets.index(pathway.contexts)
            units = pathway.units
            W0[s, p, : len(units)] = init_scale * w_in[units] * gdln.input_masks[p]
            W1[s, p, :, : len(units)] = init_scale * w_out[:, units]
    return gdln, [W0, W1]
