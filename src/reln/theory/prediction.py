"""Predict a ReLU network's ReLN and its learning from the task and the init law alone (docs/theory.md §5.7).

Nothing here reads a trained ReLU network. The prediction has three parts, each a stated
assumption, not a fitted number:

1. **Structure.** A pathway open in every context, reading every input, and one pathway open in
   all contexts but ``m`` for each context ``m``, reading the items only. The all-but-one sets are
   the paper's claim (node reuse: a unit that serves the common structure leaves one context); the
   items-only inputs follow from the linear residual being uncorrelated with the context inputs on
   any union of whole contexts (docs/theory.md §3.4). With one context only the common pathway.
2. **Initial strength.** Every pathway starts balanced along its own modes at the expected
   strength of the ReLU units it will hold (docs/theory.md §2.8, §5.7). Half of the ``H`` units
   grow, and all of them serve the common structure first: the common pathway starts at
   ``pi_0 = (H/2)(sigma_1^2 + sigma_2^2)/4``, a linear pathway of ``H / 2`` units with the ReLU's
   stds. The all-but-one pathway of context ``m`` holds the growing units that leave ``m`` (node
   reuse: a unit leaves one context); nothing in the init law prefers one context, so a ``K``-th
   of them: ``H / (2K)`` units, ``pi_0 / K``.
3. **Dynamics.** The exact balanced end-to-end flow of those pathways from ``t = 0``
   (:func:`reln.theory.integrate_flow`, docs/theory.md §2.7), every pathway learning at once.

The predicted weight share of a pathway is its share of the summed nuclear norms of the final
maps: for balanced units aligned with a pathway's modes, ``sum_j ||w_in,j|| ||w_out,j|| = ||W_p||_*``.

The seeded prediction (model ``prediction_seeded``, :mod:`reln.theory.field`) derives the
structure instead of assuming it, from each seed's initial units in the field of this curve.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import Pathway, build_gdln
from reln.tasks import Task
from reln.theory.explicit import Prediction, predict_explicit


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
                hidden=(int(width) // 2 if len(c) == K else max(1, int(width) // (2 * K)),), init_std=stds,
                name="{" + ",".join(str(k + 1) for k in c) + "}")
        for c in sets
    ]


def predict_from_task(task: Task, width: int, init_std, *, lr: float, epochs: int,
                      keep_error: bool = False, substeps: int = 1) -> TaskPrediction:
    """The ReLN a one-hidden-layer ReLU network of ``width`` units is predicted to form, and its loss.

    Args:
        task: the task; width, init_std: the ReLU's hidden width and init law (one std, or two);
        lr: its learning rate; epochs: the run's length.
        keep_error: also keep the predicted error ``Y - Yhat`` at every epoch
            (``prediction.error``), the field of the seeded prediction (:mod:`reln.theory.field`).
        substeps: gradient steps of ``lr / substeps`` per epoch: ``ceil(P / B)`` for a ReLU trained
            on mini-batches of ``B`` samples (docs/theory.md §2.2).

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
    prediction = predict_explicit(task, gdln, lr=lr, epochs=epochs, keep_error=keep_error, substeps=substeps)
    nuclear = np.linalg.svd(prediction.final_maps[0], compute_uv=False).sum(axis=-1)
    shares = nuclear / nuclear.sum() if nuclear.sum() > 0 else np.full(len(nuclear), 1 / len(nuclear))
    contexts = tuple(tuple(range(task.n_contexts)) if p.contexts is None else tuple(p.contexts) for p in pathways)
    return TaskPrediction(prediction, contexts, shares, time.perf_counter() - start)


def start_check(task: Task, width: int, init_std, initial_weights, *, lr: float) -> dict:
    """How far the ReLU's actual initial units are from the prediction's start (point 2 of the module
    docstring, docs/theory.md §5.7): the common pathway's top-mode strength ``pi_0`` against the
    strength of each seed's units on the top mode of the always-on correlation ``Sigma_yx = Y X^T / P``,

        pi_1 = sum_h c_h1^2,   c_h1 = (v_1 . w_in,h + u_1 . w_out,h) / 2,  0 for c_h1 < 0 (Perron sign),

    at leading order (:func:`reln.theory.effective.effective_unit_weights`: the draw's sampling spread)
    and after each unit's own early gradient descent
    (:func:`reln.theory.effective.relu_effective_unit_weights`: the gating transient too). The seeds'
    initial weights come from the init law; nothing is read from a trained network.

    Args:
        task: the task; width, init_std: the ReLU's hidden width and init law.
        initial_weights: per seed, the ReLU's ``[W_in (H, n_in), W_out (n_out, H)]`` at ``t = 0``.
        lr: the learning rate of the early gradient descent.

    Returns:
        ``common_strength_expected`` (``pi_0``), and per seed ``common_strength_ratio_leading`` and
        ``common_strength_ratio_early_flow`` (the seed's ``pi_1`` over ``pi_0``; 1 where the
        assumption holds exactly), and ``growing_fraction`` (units with ``c_h1 > 0``; the
        assumption: one half).

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(8, 3)
    >>> rng = np.random.default_rng(0)
    >>> units = [[rng.normal(0, 1e-3, (400, task.n_in)), rng.normal(0, 1e-3, (task.n_out, 400))]]
    >>> check = start_check(task, 400, 1e-3, units, lr=1e-3)
    >>> 0.8 < check["common_strength_ratio_leading"][0] < 1.2, 0.4 < check["growing_fraction"][0] < 0.6
    (True, True)
    """
    from reln.theory.effective import effective_unit_weights, expected_mode_strength, relu_effective_unit_weights

    stds = tuple(float(s) for s in np.broadcast_to(np.asarray(init_std, float), (2,)))
    expected = expected_mode_strength(int(width), stds, relu=True)
    yx = task.Y @ task.X.T / task.P
    v1 = np.linalg.svd(yx, full_matrices=False)[2][0]
    leading, early, growing = [], [], []
    for w_in, w_out in initial_weights:
        c_lead = effective_unit_weights(yx, task.X, w_in, w_out, relu=True)[0] @ v1
        c_flow = relu_effective_unit_weights(task.X, task.Y, w_in, w_out, lr=lr)[0] @ v1
        leading.append(float(np.sum(c_lead**2) / expected))
        early.append(float(np.sum(c_flow**2) / expected))
        growing.append(float(np.mean(c_lead != 0)))
    return {"common_strength_expected": expected, "common_strength_ratio_leading": leading,
            "common_strength_ratio_early_flow": early, "growing_fraction": growing}
