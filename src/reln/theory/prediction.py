"""Predict a ReLU network's ReLN and its learning from the task and the init law alone (docs/theory.md §5.7).

Nothing here reads a trained ReLU network. The prediction has three parts, each a stated
assumption, not a fitted number:

1. **Structure.** A pathway open in every context, reading every input, and one pathway open in
   all contexts but ``m`` for each context ``m``, reading the items only. The all-but-one sets are
   the paper's claim (node reuse: a unit that serves the common structure leaves one context); the
   items-only inputs follow from the linear residual being uncorrelated with the context inputs on
   any union of whole contexts (docs/theory.md §3.4). With one context only the common pathway.
2. **Initial strength.** Every pathway starts balanced along its own modes at the expected
   strength of the ReLU's units, ``pi_0 = H (sigma_1^2 + sigma_2^2) / 8`` (docs/theory.md §2.8):
   all ``H`` units serve every pathway's correlations at first, half of them grow. It is built as
   a linear pathway of ``H / 2`` units with the ReLU's stds (``E[pi_0] = (H/2)(sigma_1^2 + sigma_2^2)/4``).
3. **Dynamics.** The exact balanced end-to-end flow of those pathways from ``t = 0``
   (:func:`reln.theory.integrate_flow`, docs/theory.md §2.7), every pathway learning at once.

The predicted weight share of a pathway is its share of the summed nuclear norms of the final
maps: for balanced units aligned with a pathway's modes, ``sum_j ||w_in,j|| ||w_out,j|| = ||W_p||_*``.

:func:`predict_from_seeds` is the same prediction with point 2 taken from one draw of the initial
weights instead of its expectation (model ``prediction_seeded``): what the draw decides, set apart
from what the task decides.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import Pathway, build_gdln
from reln.tasks import Task
from reln.theory.correlations import pathway_correlations
from reln.theory.explicit import Prediction, predict_explicit, predict_from_maps


@dataclasses.dataclass(frozen=True)
class TaskPrediction:
    """The prediction of :func:`predict_from_task`.

    Attributes:
        prediction: the flow's loss ``(1, epochs + 1)``, singular values and final maps.
        contexts: per pathway, its 0-based context set.
        shares: ``(p,)`` predicted weight shares (nuclear norms of the final maps).
        seconds: wall seconds, compilation included.
    """

    prediction: Prediction
    contexts: tuple[tuple[int, ...], ...]
    shares: np.ndarray
    seconds: float


def predicted_pathways(task: Task, width: int, init_std) -> list[Pathway]:
    """The predicted ReLN's pathways (module docstring, points 1 and 2).

    >>> from reln.tasks import contextual_task
    >>> [p.name for p in predicted_pathways(contextual_task(8, 3), 700, 0.005 / 700)]
    ['{1,2,3}', '{2,3}', '{1,3}', '{1,2}']
    """
    if int(width) != width or width < 2:
        raise RelnError(f"the ReLU width must be an integer of at least 2, got {width!r}")
    K = task.n_contexts
    stds = tuple(np.broadcast_to(np.asarray(init_std, float), (2,)))
    sets = [tuple(range(K))] + ([tuple(c for c in range(K) if c != m) for m in range(K)] if K > 1 else [])
    return [
        Pathway(contexts=None if len(c) == K else c, inputs="all" if len(c) == K else "items",
                hidden=(int(width) // 2,), init_std=stds, name="{" + ",".join(str(k + 1) for k in c) + "}")
        for c in sets
    ]


def predict_from_task(task: Task, width: int, init_std, *, lr: float, epochs: int) -> TaskPrediction:
    """The ReLN a one-hidden-layer ReLU network of ``width`` units is predicted to form, and its loss.

    Args:
        task: the task; width, init_std: the ReLU's hidden width and init law (one std, or two);
        lr: its learning rate; epochs: the run's length.

    Returns:
        a :class:`TaskPrediction`; ``prediction.loss[0]`` is the predicted loss at ``t = 0..epochs``.

    >>> from reln.tasks import contextual_task
    >>> p = predict_from_task(contextual_task(8, 3), 700, 0.005 / 700, lr=1e-3, epochs=50)
    >>> p.prediction.loss.shape, round(float(p.shares.sum()), 6)
    ((1, 51), 1.0)
    """
    start = time.perf_counter()
    pathways = predicted_pathways(task, width, init_std)
    gdln = build_gdln(pathways, task)
    prediction = predict_explicit(task, gdln, lr=lr, epochs=epochs)
    nuclear = np.linalg.svd(prediction.final_maps[0], compute_uv=False).sum(axis=-1)
    shares = nuclear / nuclear.sum() if nuclear.sum() > 0 else np.full(len(nuclear), 1 / len(nuclear))
    contexts = tuple(tuple(range(task.n_contexts)) if p.contexts is None else tuple(p.contexts) for p in pathways)
    return TaskPrediction(prediction, contexts, shares, time.perf_counter() - start)


def seeded_initial_maps(correlations, relu_weights) -> np.ndarray:
    """Each predicted pathway's initial map from one draw of a ReLU's initial weights.

    For a pathway with gated correlation ``Sigma_p = U S V^T`` (the Perron mode's signs made
    positive, docs/theory.md §2.8), unit ``h`` has amplitudes ``c_hk = (v_k . w_in,h + u_k . w_out,h) / 2``
    along its modes; units with ``c_h1 <= 0`` close and stay small, the others start balanced,
    so ``W_p(0) = sum_{h: c_h1 > 0} (U c_h)(c_h V^T)``. Its expectation over the init law is the
    map :func:`predict_from_task` starts from (strength ``H (sigma_1^2 + sigma_2^2) / 8`` per mode).

    Args:
        correlations: :func:`reln.theory.pathway_correlations` of the predicted GDLN.
        relu_weights: one seed's ``[W_in (H, n_in), W_out (n_out, H)]``.

    Returns:
        ``(p, n_out, n_in)`` initial maps.
    """
    W_in, W_out = (np.asarray(w, np.float64) for w in relu_weights)
    maps = np.zeros_like(correlations.yx)
    for p, yx in enumerate(correlations.yx):
        U, s, Vt = np.linalg.svd(yx, full_matrices=False)
        keep = s > 1e-12 * max(s.max(), 1e-300)
        U, Vt = U[:, keep], Vt[keep]
        if Vt[0].sum() < 0:  # the Perron mode, taken non-negative
            U[:, 0], Vt[0] = -U[:, 0], -Vt[0]
        c = (W_in @ Vt.T + W_out.T @ U) / 2  # (H, modes)
        grow = c[:, 0] > 0
        maps[p] = (U @ c[grow].T) @ (c[grow] @ Vt)
    return maps


def predict_from_seeds(task: Task, width: int, init_std, relu_initial_weights, *, lr: float, epochs: int) -> TaskPrediction:
    """:func:`predict_from_task` from each seed's own initial weights: one row per seed.

    Args:
        task, width, init_std, lr, epochs: as :func:`predict_from_task`.
        relu_initial_weights: per seed, the ReLU's ``[W_in, W_out]`` at ``t = 0`` (its init law's
            draw; nothing of its training).

    Returns:
        a :class:`TaskPrediction` whose ``prediction.loss`` has one row per seed and ``shares``
        ``(seeds, p)``.

    >>> from reln.tasks import contextual_task
    >>> from reln.models.init import relu_initial_weights
    >>> task = contextual_task(8, 3)
    >>> p = predict_from_seeds(task, 100, 1e-3, relu_initial_weights(task, [100], 1e-3, [0, 1]), lr=1e-3, epochs=20)
    >>> p.prediction.loss.shape, p.shares.shape
    ((2, 21), (2, 4))
    """
    start = time.perf_counter()
    pathways = predicted_pathways(task, width, init_std)
    gdln = build_gdln(pathways, task)
    correlations = pathway_correlations(task, gdln)
    maps = [seeded_initial_maps(correlations, weights) for weights in relu_initial_weights]
    prediction = predict_from_maps(task, gdln, maps, lr=lr, epochs=epochs,
                                   source="predicted pathways, each seed's initial weights")
    nuclear = np.linalg.svd(prediction.final_maps, compute_uv=False).sum(axis=-1)  # (seeds, p)
    shares = nuclear / np.maximum(nuclear.sum(axis=1, keepdims=True), 1e-300)
    contexts = tuple(tuple(range(task.n_contexts)) if p.contexts is None else tuple(p.contexts) for p in pathways)
    return TaskPrediction(prediction, contexts, shares, time.perf_counter() - start)
