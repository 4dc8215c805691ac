"""ReLU units in the field of the predicted error: which contexts each unit leaves, from the task and its initial weights (docs/theory.md §5.8).

A one-hidden-layer ReLU network's units interact only through the error they share,
``E = Y - sum_j u_j relu(w_j X)``. Replace that error by one the theory predicts without the units,
and every unit follows its own gradient descent,

    z = w X,   g = 1[z > 0],   w <- w + lr ((u^T E(t)) * g) X^T,   u <- u + lr E(t) (g * z)^T,

so the units' per-sample gates over the whole run come from the task, the initial weights and one
predicted trajectory, with no ReLU network trained. The field is the error of the ReLN predicted
from the task alone (docs/theory.md §5.7),

    E(t) = Y - Yhat_pred(t),

the common and all-but-one pathways' balanced flow stepped as gradient descent: at first the error
of the always-on linear network (its common pathway), after the first drop the linear residual ``R``
that only gating can remove (§3.4), and then what is left of it as the predicted pathways learn it,
so the field shrinks and turns as pairs of contexts are fitted. What this leaves out is the
feedback of the units' own change on the error: every unit feels a context's residual until the
*predicted* pathways have learnt it, however many units have already left that context.
:class:`FieldFeedback` puts it back, from the theory of the compact ReLN the units imply (§5.8,
"Closing the loop").

The units' trajectory is a :class:`reln.training.trajectory.Trajectory` of one hidden layer, so the
compact ReLN's rule (:class:`reln.gates.CompactRule`) and the identification read it exactly as
they read a trained ReLU network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.tasks import Task
from reln.theory.prediction import predict_from_task
from reln.training.trajectory import HiddenLayer, Trajectory


@dataclasses.dataclass(frozen=True)
class FieldFeedback:
    """``[prediction_seeded]``: how often the seeded prediction feeds its own error back into its field
    (docs/theory.md §5.8, "Closing the loop").

    Pass 0 is the field of the task-only prediction, ``E_0(t) = Y - Yhat_pred(t)``. After pass ``k`` the
    compact ReLN read from the field's units has its own theory, whose error ``E_th,k(t)`` carries the
    units' feedback the task-only error lacks (units that left a context have learnt part of its
    residual); the next field, one per seed, is

        E_{k+1}(t) = mix E_th,k(t) + (1 - mix) E_k(t),

    a damped fixed-point iteration (``mix = 1`` alternates between too much and too little leaving).

    Attributes:
        passes: how many fed-back passes follow pass 0 (0: the field of the task-only prediction alone).
        mix: the weight of the new error, in ``(0, 1]``; 1/2, the plain average, is a choice, not fitted.

    >>> FieldFeedback().passes, FieldFeedback(passes=2).mix
    (0, 0.5)
    """

    passes: int = 0
    mix: float = 0.5

    def __post_init__(self):
        if not isinstance(self.passes, int) or isinstance(self.passes, bool) or self.passes < 0:
            raise RelnError(f"[prediction_seeded] passes must be an integer >= 0, got {self.passes!r}")
        if not isinstance(self.mix, (int, float)) or isinstance(self.mix, bool) or not 0 < self.mix <= 1:
            raise RelnError(f"[prediction_seeded] mix must be a number in (0, 1], got {self.mix!r}")

    def next_field(self, field: np.ndarray, error: np.ndarray) -> np.ndarray:
        """``mix error + (1 - mix) field``, per seed: ``error`` ``(seeds, epochs + 1, n_out, P)``,
        ``field`` the same or shared by the seeds ``(epochs + 1, n_out, P)``; float32, the precision
        the units train in (a field of eight contexts is a gigabyte in float64)."""
        return self.mix * np.asarray(error, np.float32) + np.float32(1 - self.mix) * np.asarray(field, np.float32)


def field_error(task: Task, width: int, init_std, *, lr: float, epochs: int, substeps: int = 1) -> np.ndarray:
    """The field ``E(t) = Y - Yhat_pred(t)`` at ``t = 0..epochs``, ``(epochs + 1, n_out, P)``: the
    error of the ReLN predicted from the task and the init law (module docstring;
    :func:`reln.theory.prediction.predict_from_task` with ``keep_error``, stepped ``substeps``
    times an epoch as a ReLU trained on mini-batches is).

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(8, 3)
    >>> E = field_error(task, 700, 0.005 / 700, lr=1e-3, epochs=10)
    >>> E.shape, round(float(0.5 * np.sum(E[0] ** 2) / task.loss_initial), 6)
    ((11, 60, 24), 1.0)
    """
    return predict_from_task(task, width, init_std, lr=lr, epochs=epochs, keep_error=True,
                             substeps=substeps).prediction.error[0]


def field_units(
    task: Task,
    initial_weights: Sequence[Sequence[np.ndarray]],
    field: np.ndarray,
    *,
    lr: float,
    snapshot_every: int = 10,
    x64: bool = False,
    progress=None,
    batch_size: int | None = None,
    seeds: Sequence[int] | None = None,
) -> Trajectory:
    """Every seed's ReLU units, each following its own gradient descent in a given field ``E(t)``
    (e.g. :func:`field_error`), recorded as a one-hidden-layer trajectory.

    The step is gradient descent on ``-<sg E(t), Yhat>`` (``sg``: a constant), whose gradient is
    the one a unit receives in a network whose error is ``E(t)``; compiled as the training scans are
    (:func:`reln.training.train.train`, seeds on parallel threads).

    Args:
        task: the task.
        initial_weights: per seed, the ReLU's ``[W_in (H, n_in), W_out (n_out, H)]`` at ``t = 0``.
        field: ``(epochs + 1, n_out, P)`` the error the units see at ``t = 0..epochs``, the same for
            every seed, or ``(seeds, epochs + 1, n_out, P)``, one per seed (a fed-back field,
            :class:`FieldFeedback`).
        lr: the learning rate.
        snapshot_every: epochs between the recorded pre-activations.
        x64: float64 (else float32, as the ReLU network trains).
        progress: ``(done, total)`` callback between compiled blocks.
        batch_size, seeds: with ``batch_size``, the units step on the mini-batches a ReLU of those
            run seeds trains on (:func:`reln.training.fit.batching`), in the field of the epoch's start.

    Returns:
        A :class:`Trajectory` whose ``layers[0]`` holds the units' pre-activations and sizes at
        the snapshots and whose ``loss`` is the field's ``1/2 ||E(t)||^2``, one row per seed.

    >>> from reln.tasks import contextual_task
    >>> from reln.models.init import relu_initial_weights
    >>> task = contextual_task(8, 3)
    >>> initial = relu_initial_weights(task, (20,), 1e-3, (0, 1))
    >>> units = field_units(task, initial, field_error(task, 20, 1e-3, lr=1e-3, epochs=50), lr=1e-3)
    >>> units.layers[0].pre.shape, int(units.snapshot_epochs[-1])
    ((2, 6, 20, 24), 50)
    """
    import jax
    import jax.numpy as jnp

    from reln.models.relu import relu_forward, relu_preactivations, unit_weights
    from reln.training.fit import batching
    from reln.training.train import train

    if any(len(w) != 2 for w in initial_weights):
        raise RelnError("the field describes one-hidden-layer networks; these weights have more layers")
    dtype = np.float64 if x64 else np.float32
    field = np.asarray(field, dtype)
    n_seeds = len(initial_weights)
    if (field.ndim not in (3, 4) or field.shape[-2:] != task.Y.shape or (field.ndim == 4 and len(field) != n_seeds)
            or not np.all(np.isfinite(field))):
        raise RelnError(f"the field must be finite, ([{n_seeds} seeds,] epochs + 1, {task.Y.shape[0]}, "
                        f"{task.Y.shape[1]}); got shape {field.shape}")
    field = np.broadcast_to(field, (n_seeds, *field.shape[-3:]))
    epochs = field.shape[1] - 1
    X = task.X.astype(dtype)
    params = [np.stack([np.asarray(w[l], dtype) for w in initial_weights]) for l in range(2)]

    def objective(weights, t, data, mask=None):
        drive = jax.lax.stop_gradient(data["field"][t]) * relu_forward(weights, X)
        return -jnp.sum(drive if mask is None else drive * mask[None, :]), data["loss"][t]

    def snapshot(weights, t, data):
        return {"pre": relu_preactivations(weights, X)[0], "unit_weight": unit_weights(weights)[0]}

    data = {"field": field, "loss": (0.5 * np.sum(field.astype(np.float64) ** 2, axis=(2, 3))).astype(dtype)}
    with jax.enable_x64(x64):
        run = train(objective, params, lr=lr, epochs=epochs, snapshot=snapshot, snapshot_every=snapshot_every,
                    progress=progress, data=data,
                    **batching(batch_size, task, range(n_seeds) if seeds is None else seeds))
    layer = HiddenLayer(pre=run.snapshots["pre"], unit_weight=run.snapshots["unit_weight"])
    return dataclasses.replace(run, layers=(layer,), snapshots={})
