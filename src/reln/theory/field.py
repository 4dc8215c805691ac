"""ReLU units in the field of the predicted error: which contexts each unit leaves, from the task and its initial weights (docs/theory.md §5.8).

A one-hidden-layer ReLU network's units interact only through the error they share,
``E = Y - sum_j u_j relu(w_j X)``. Replace that error by one the theory predicts without the units,
and every unit follows its own gradient descent,

    z = w X,   g = 1[z > 0],   w <- w + lr ((u^T E(t)) * g) X^T,   u <- u + lr E(t) (g * z)^T,

so the units' per-sample gates over the whole run come from the task, the initial weights and two
predicted curves, with no ReLU network trained. The field is

    E(t) = (Y - W_lin(t) X) sqrt(L_abo(t) / L_lin(t)),

the error of the always-on linear network (balanced, at the ReLU units' expected strength
``H (sigma_1^2 + sigma_2^2) / 8``, stepped as gradient descent: docs/theory.md §2.8, §5.5), whose
*direction* after the first drop is the linear residual ``R`` that only gating can remove (§3.4),
scaled so that its loss is that of the all-but-one prediction ``L_abo(t)`` (§5.7): the residual
shrinks as the predicted ReLN learns it. What this leaves out is the feedback of each unit's own
change on the error: the units never see the residual rotate as the context pathways learn it.

The units' trajectory is a :class:`reln.training.trajectory.Trajectory` of one hidden layer, so the
compact ReLN's rule (:class:`reln.gates.CompactRule`) and the identification read it exactly as
they read a trained ReLU network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import Pathway, build_gdln
from reln.tasks import Task
from reln.theory.correlations import pathway_correlations
from reln.theory.deep import balanced_factors
from reln.theory.explicit import expected_initial_maps
from reln.training.trajectory import HiddenLayer, Trajectory


def linear_network_factors(task: Task, width: int, init_std) -> tuple[np.ndarray, np.ndarray]:
    """Balanced factors ``(A (n_out, r), B (r, n_in))`` of the always-on linear network a ReLU
    network of ``width`` units starts as: every mode at the expected effective strength
    ``width (sigma_1^2 + sigma_2^2) / 8`` (a linear network of ``width / 2`` units, docs/theory.md §2.8).

    >>> from reln.tasks import contextual_task
    >>> A, B = linear_network_factors(contextual_task(8, 3), 700, 0.005 / 700)
    >>> A.shape, B.shape
    ((60, 11), (11, 11))
    """
    stds = tuple(np.broadcast_to(np.asarray(init_std, float), (2,)))
    gdln = build_gdln([Pathway(hidden=(int(width) // 2,), init_std=stds)], task)
    W0 = expected_initial_maps(pathway_correlations(task, gdln), gdln.widths[:, 0], gdln.init_std)
    B, A = balanced_factors(W0, depth=2)
    return A[0], B[0]


def field_error(task: Task, target_loss: np.ndarray, *, width: int, init_std, lr: float) -> np.ndarray:
    """The predicted field ``E(t) = (Y - W_lin(t) X) sqrt(L_abo(t) / L_lin(t))`` at ``t = 0..T``
    (module docstring), ``(T + 1, n_out, P)``, the linear network stepped as gradient descent.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(8, 3)
    >>> E = field_error(task, np.full(11, task.loss_initial / 2), width=700, init_std=0.005 / 700, lr=1e-3)
    >>> E.shape, round(float(0.5 * np.sum(E[10] ** 2) / task.loss_initial), 6)
    ((11, 60, 24), 0.5)
    """
    target_loss = np.asarray(target_loss, float)
    if target_loss.ndim != 1 or np.any(target_loss < 0) or not np.all(np.isfinite(target_loss)):
        raise RelnError("the field's target loss must be a finite, non-negative curve over epochs 0..T")
    X, Y = np.asarray(task.X, float), np.asarray(task.Y, float)
    A, B = linear_network_factors(task, width, init_std)
    field = np.empty((len(target_loss), *Y.shape))
    for t, target in enumerate(target_loss):
        E = Y - A @ (B @ X)
        linear_loss = 0.5 * np.vdot(E, E)
        field[t] = E * np.sqrt(target / linear_loss) if linear_loss > 0 else E
        G = lr * E @ X.T  # the linear network's own gradient descent
        A, B = A + G @ B.T, B + A.T @ G
    return field


def field_units(
    task: Task,
    initial_weights: Sequence[Sequence[np.ndarray]],
    target_loss: np.ndarray,
    *,
    width: int,
    init_std,
    lr: float,
    snapshot_every: int = 10,
    x64: bool = False,
    progress=None,
) -> Trajectory:
    """Every seed's ReLU units, each following its own gradient descent in the predicted field
    ``E(t)`` (:func:`field_error`), recorded as a one-hidden-layer trajectory.

    The step is gradient descent on ``-<sg E(t), Yhat>`` (``sg``: a constant), whose gradient is
    the one a unit receives in a network whose error is ``E(t)``; compiled as the training scans are
    (:func:`reln.training.train.train`, seeds on parallel threads).

    Args:
        task: the task.
        initial_weights: per seed, the ReLU's ``[W_in (H, n_in), W_out (n_out, H)]`` at ``t = 0``.
        target_loss: ``(epochs + 1,)`` the predicted loss ``L_abo(t)`` the field's size follows
            (e.g. :func:`reln.theory.prediction.predict_from_task`'s curve).
        width, init_std: the ReLU's width and init law (for the linear network of the field).
        lr: the learning rate.
        snapshot_every: epochs between the recorded pre-activations.
        x64: float64 (else float32, as the ReLU network trains).
        progress: ``(done, total)`` callback between compiled blocks.

    Returns:
        A :class:`Trajectory` whose ``layers[0]`` holds the units' pre-activations and sizes at
        the snapshots and whose ``loss`` is the field's ``1/2 ||E(t)||^2`` (``target_loss``), one
        row per seed.

    >>> from reln.tasks import contextual_task
    >>> from reln.models.init import relu_initial_weights
    >>> task = contextual_task(8, 3)
    >>> initial = relu_initial_weights(task, (20,), 1e-3, (0, 1))
    >>> field = field_units(task, initial, np.full(51, task.loss_initial), width=20, init_std=1e-3, lr=1e-3)
    >>> field.layers[0].pre.shape, int(field.snapshot_epochs[-1])
    ((2, 6, 20, 24), 50)
    """
    import jax
    import jax.numpy as jnp

    from reln.models.relu import relu_forward, relu_preactivations, unit_weights
    from reln.training.train import train

    if any(len(w) != 2 for w in initial_weights):
        raise RelnError("the field describes one-hidden-layer networks; these weights have more layers")
    dtype = np.float64 if x64 else np.float32
    field = field_error(task, target_loss, width=width, init_std=init_std, lr=lr).astype(dtype)
    epochs, n_seeds = len(field) - 1, len(initial_weights)
    X = task.X.astype(dtype)
    params = [np.stack([np.asarray(w[l], dtype) for w in initial_weights]) for l in range(2)]

    def objective(weights, t, data):
        drive = -jnp.sum(jax.lax.stop_gradient(data["field"][t]) * relu_forward(weights, X))
        return drive, data["loss"][t]

    def snapshot(weights, t, data):
        return {"pre": relu_preactivations(weights, X)[0], "unit_weight": unit_weights(weights)[0]}

    data = {"field": np.broadcast_to(field, (n_seeds, *field.shape)),
            "loss": np.broadcast_to(np.asarray(target_loss, dtype), (n_seeds, epochs + 1))}
    with jax.enable_x64(x64):
        run = train(objective, params, lr=lr, epochs=epochs, snapshot=snapshot, snapshot_every=snapshot_every,
                    progress=progress, data=data)
    layer = HiddenLayer(pre=run.snapshots["pre"], unit_weight=run.snapshots["unit_weight"])
    return dataclasses.replace(run, layers=(layer,), snapshots={})
