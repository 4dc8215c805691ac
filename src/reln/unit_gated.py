"""Linear networks whose hidden units are gated by a schedule read from a ReLU run (any depth).

A bias-free ReLU network computes ``h_l = g_l ⊙ (W_l h_{l-1})`` with ``g_l = 1[W_l h_{l-1} > 0]``.
Replacing each ``g_l`` by a given 0/1 gate per unit and sample, piecewise constant in time, makes the
network *linear in every pathway*: units of layer ``l`` with equal gates form one group, and a
sequence of groups through the layers is a pathway of a gated deep linear network (THEORY.md §2-3)
whose layers are shared between pathways, as in the ReLU network itself. With one hidden layer it
is exactly the switching ReLN of :func:`reln.imitate.switching_reln` (one width-1 pathway per
unit); with more it is the deep ReLN of the depth experiment, with no freeze, no staged rule and no
hand-set scale: gates from the ReLU's checkpoints, weights from the ReLU's initialisation, plain
gradient descent on the total loss.

The gates of every layer follow :func:`reln.imitate.switching_schedule` at the checkpoints of the
ReLU run. Each seed's schedule is per-seed *data* of one compiled program
(:func:`reln.train.train`'s ``data``), so seeds run on parallel threads.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError
from reln.imitate import switching_schedule
from reln.losses import half_sse
from reln.tasks import Task
from reln.train import Progress, Trajectory, train


def unit_gated_forward(weights: Sequence, X, gates: Sequence):
    """``W_L (g_{L-1} ⊙ (W_{L-1} ... (g_1 ⊙ (W_1 X))))``: a ReLU network with given gates.

    Args:
        weights: ``[W_1 (h_1, n_in), ..., W_L (n_out, h_{L-1})]``.
        X: ``(n_in, P)``.
        gates: one ``(h_l, P)`` 0/1 array per hidden layer.
    """
    h = X
    for W, g in zip(weights[:-1], gates):
        h = g * (W @ h)
    return weights[-1] @ h


def layer_schedules(
    task: Task,
    relu: Trajectory,
    seed_index: int,
    *,
    fine_until: int,
    fine_every: int,
    regroup_every: int,
    gate_threshold: float,
    gate_level: str,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The switching schedule of every hidden layer of one ReLU seed.

    Returns:
        ``(phase_starts (n_phases,), [phase_gates (n_phases, units_l, P) per layer])``.
    """
    layers = sorted(int(k.split("_")[1]) for k in relu.snapshots if k.startswith("hidden_"))
    if not layers:
        raise RelnError("the ReLU trajectory has no hidden_l snapshots to read gates from")
    starts, gates = None, []
    for l in layers:
        starts, phase_gates = switching_schedule(
            task, relu.snapshots[f"gates_{l}"][seed_index], relu.snapshots[f"hidden_{l}"][seed_index],
            relu.snapshot_epochs, fine_until=fine_until, fine_every=fine_every, regroup_every=regroup_every,
            gate_threshold=gate_threshold, gate_level=gate_level,
        )
        gates.append(phase_gates)
    return starts, gates


def fit_switching_network(
    task: Task,
    relu: Trajectory,
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *,
    lr: float,
    gate_threshold: float = 0.1,
    gate_level: str = "context",
    fine_until: int | None = None,
    fine_every: int | None = None,
    regroup_every: int | None = None,
    x64: bool = False,
    progress: Progress | None = None,
) -> tuple[Trajectory, dict]:
    """Train the unit-gated linear network of every ReLU seed (its switching ReLN).

    Args:
        relu: the ReLU trajectory, with ``hidden_l`` and ``gates_l`` snapshots of every layer.
        relu_initial_weights: per seed, the ReLU's initial weights (the ReLN starts from them).
        fine_until, fine_every, regroup_every: the schedule of
            :func:`reln.imitate.switching_schedule`; by default per-sample gates every 10 epochs
            until 100, then regrouped every 100, or at the snapshot spacing if it is coarser.

    Returns:
        ``(trajectory, description)``; the trajectory snapshots the output every 100 epochs.
    """
    epochs = int(relu.snapshot_epochs[-1])
    spacing = int(relu.snapshot_epochs[1] - relu.snapshot_epochs[0]) if len(relu.snapshot_epochs) > 1 else 1
    fine_every = fine_every or max(10, spacing)
    fine_until = fine_until if fine_until is not None else max(100, fine_every)
    regroup_every = regroup_every or max(100, spacing)
    schedules = [
        layer_schedules(
            task, relu, s, fine_until=fine_until, fine_every=fine_every, regroup_every=regroup_every,
            gate_threshold=gate_threshold, gate_level=gate_level,
        )
        for s in range(relu.loss.shape[0])
    ]
    starts = schedules[0][0]
    dtype = np.float64 if x64 else np.float32
    gates = [np.stack([s[1][l] for s in schedules]).astype(dtype) for l in range(len(schedules[0][1]))]
    params = [np.stack([np.asarray(w[l]) for w in relu_initial_weights]).astype(dtype) for l in range(len(gates) + 1)]
    X, Y = task.X.astype(dtype), task.Y.astype(dtype)
    phase_starts = jnp.asarray(starts, dtype=jnp.int32)

    def objective(weights, t, layer_gates):
        phase = jnp.searchsorted(phase_starts, t, side="right") - 1
        loss = half_sse(unit_gated_forward(weights, X, [g[phase] for g in layer_gates]), Y)
        return loss, loss

    trajectory = train(
        objective, params, lr=lr, epochs=epochs, snapshot_every=max(100, spacing), progress=progress, data=gates,
    )
    return trajectory, {
        "gating": "switching", "gate_phases": len(starts), "gate_threshold": gate_threshold,
        "gate_level": gate_level, "layers": len(gates),
        "schedule": {"fine_until": fine_until, "fine_every": fine_every, "regroup_every": regroup_every},
    }
