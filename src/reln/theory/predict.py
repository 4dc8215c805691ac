"""The theory of the compact ReLN: predicted loss and singular values of a ReLU run (docs/theory.md §5.5).

:func:`predict_compact` (the ``theory`` model of ``reln run``) integrates the compact ReLN of each
ReLU seed as balanced linear units, from its description alone: the seed's compact gate schedule
(:func:`reln.relns.imitate.compact_schedules`) and each unit's effective balanced weights at
``t = 0``. A unit that changes pathway carries its share of the pathway's map
(:mod:`reln.theory.switching`). No constant is fitted. The theory of an explicit GDLN from its init
law is :mod:`reln.theory.explicit`.

Why the late gates come from a schedule and not from the theory's own units: balanced units gated
by whole contexts from their own pre-activations never leave the linear floor, because a unit
leaves a context only once its activity falls on every item of it, and a linear pathway has no
force that does that; the ReLU's units leave sample by sample. Gated per sample by their own
sign, the units are a ReLU network started from balanced weights: a simulation, not a
prediction. The task-only prediction (:mod:`reln.theory.prediction`) derives the sets instead.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.identification.identify import Identification
from reln.gates import GateSchedule
from reln.gates.replay import contexts_on
from reln.relns.imitate import imitating_reln
from reln.gates.kinks import kink_projectors
from reln.tasks import Task
from reln.theory.explicit import Prediction, stack_results
from reln.theory.effective import effective_unit_weights
from reln.theory.switching import integrate_switching


def predict_compact(
    task: Task,
    identifications: Sequence[Identification],
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    schedules: Sequence[GateSchedule],
    *,
    lr: float,
    epochs: int,
    snapshot_every: int = 50,
    x64: bool = False,
    keep_error: bool = False,
    substeps: int = 1,
) -> Prediction:
    """The theory of the compact ReLN: the balanced flow of its pathways, one row per ReLU seed
    (docs/theory.md §5.3, §5.5).

    Each unit ``j`` is a balanced linear unit: it starts from its effective balanced weights
    (:func:`reln.theory.effective.effective_unit_weights` on the always-on correlation
    ``Sigma_yx = Y X^T / P``, since every unit is active in every context at ``t = 0``) and follows
    the gates of the seed's compact schedule (``schedules``, :func:`reln.relns.imitate.compact_schedules`):
    per-sample gates derived from the initial weights in the early phases, whole-context gates in
    the late ones. Units with the same context set form one pathway; a unit that changes set at a
    phase start carries its share of the pathway's map (:mod:`reln.theory.switching`). One Euler
    step per epoch *is* gradient descent with learning rate ``lr`` on the balanced units. Nothing
    but the schedule is read from the ReLU run. Units at zero or never on are dropped (they stay
    zero); the pathways reported (singular values, final maps) are the identified context sets
    (union over seeds), and units in another set count in the loss only.

    Args:
        task: the task.
        identifications: one per seed (:func:`reln.identification.identify.identify`, one hidden layer).
        relu_initial_weights: per seed, the ReLU's initial ``[W_in (H, n_in), W_out (n_out, H)]``.
        schedules: per seed, the compact ReLN's :class:`reln.gates.GateSchedule`.
        lr, epochs: the run's learning rate and length.
        snapshot_every: epochs between singular-value snapshots.
        x64: integrate in float64; seeds run on parallel threads either way.
        keep_error: also keep each seed's error ``Y - Yhat`` at every epoch
            (:func:`reln.theory.switching.integrate_switching`).
        substeps: gradient-descent steps per epoch, each of ``lr / substeps``: ``ceil(P / B)`` for a
            ReLU trained on mini-batches of ``B`` samples (:func:`reln.theory.switching.integrate_switching`).

    Returns:
        The :class:`Prediction`, one row per seed.
    """
    if any(len(w) != 2 for w in relu_initial_weights):
        raise RelnError("the theory describes one-hidden-layer networks; this ReLU network has more layers")
    start = time.perf_counter()
    gdln, _ = imitating_reln(task, identifications, relu_initial_weights)
    sets = [tuple(c) for c in gdln.contexts]
    yx = task.Y @ task.X.T / task.P
    runs = []
    for (w_in, w_out), schedule in zip(relu_initial_weights, schedules):
        starts, gates, pinned = schedule.starts, np.asarray(schedule.gates[0]), np.asarray(schedule.pins[0], bool)
        on = np.stack([contexts_on(task, g > 0) for g in gates])  # each unit's context set
        W1, W2 = effective_unit_weights(yx, task.X, w_in, w_out, relu=True)
        keep = gates.any(axis=(0, 2)) & (np.linalg.norm(W1, axis=1) > 0)
        runs.append((starts, on[:, keep], gates[:, keep], pinned[:, keep], W1[keep], W2[:, keep]))
    width = max(1, max(r[1].shape[1] for r in runs))
    setup = time.perf_counter() - start
    bits = 2 ** np.arange(task.n_contexts)  # a context set as an integer
    wanted = np.array([bits[list(c)].sum() for c in sets])

    def integrate(run):
        starts, on, gates, pinned, W1, W2 = run
        pad = width - W1.shape[0]  # zero units stay zero: one compilation for every seed
        on = np.pad(on, ((0, 0), (0, pad), (0, 0)))
        gates = np.pad(gates, ((0, 0), (0, pad), (0, 0)))
        held = kink_projectors(task.X, np.pad(pinned, ((0, 0), (0, pad), (0, 0)))) if pinned.any() else None
        W1, W2 = np.pad(W1, ((0, pad), (0, 0))), np.pad(W2, ((0, 0), (0, pad)))
        membership = ((on.astype(np.int64) @ bits)[:, None, :] == wanted[None, :, None]).astype(float)
        return integrate_switching(
            task.X, task.Y, starts, gates.astype(float), membership, W1, W2,
            lr=lr, epochs=epochs, snapshot_every=snapshot_every, method="gd", stride=1, x64=x64, pinned=held,
            keep_error=keep_error, substeps=substeps,
        )

    # the first compiles; the others reuse it on parallel threads (the program holds no LAPACK call)
    first = integrate(runs[0])
    with concurrent.futures.ThreadPoolExecutor(max(1, len(runs) - 1)) as pool:
        results = [first, *pool.map(integrate, runs[1:])]
    return stack_results(
        gdln, results, "the compact ReLN of each ReLU seed: its schedule, effective init from its units",
        setup_seconds=setup,
    )
