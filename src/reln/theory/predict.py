"""The theory as a model of a run: predicted loss and singular values (docs/theory.md §5.5).

Two sources of a prediction, neither with a fitted constant:

* :func:`predict_compact` (the ``theory`` model of ``reln run``): the compact ReLN of each ReLU
  seed integrated as balanced linear units, from its description alone: the seed's compact gate
  schedule (:func:`reln.relns.imitate.compact_schedules`) and each unit's effective balanced
  weights at ``t = 0``. A unit that changes pathway carries its share of the pathway's map
  (:mod:`reln.theory.switching`).
* :func:`predict_explicit`: an explicit GDLN and its init law (width ``H``, stds ``sigma_1``,
  ``sigma_2``): each mode starts at its expected effective strength
  ``E[1/4 sum_h (a_h + b_h)^2] = H (sigma_1^2 + sigma_2^2) / 4`` (:func:`expected_initial_maps`).

Why the late gates come from a schedule and not from the theory's own units: balanced units gated
by whole contexts from their own pre-activations never leave the linear floor, because a unit
leaves a context only once its activity falls on every item of it, and a linear pathway has no
force that does that; the ReLU's units leave sample by sample. Gated per sample by their own
sign, the units are a ReLU network started from balanced weights: a simulation, not a
prediction. The task-only prediction (:mod:`reln.theory.prediction`) derives the sets instead.
"""

from __future__ import annotations

import concurrent.futures

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import GDLN
from reln.identification.identify import Identification
from reln.gates import GateSchedule
from reln.gates.replay import contexts_on
from reln.relns.imitate import imitating_reln
from reln.gates.kinks import kink_projectors
from reln.tasks import Task
from reln.theory.balanced import FlowResult, integrate_flow
from reln.theory.correlations import PathwayCorrelations, pathway_correlations
from reln.theory.switching import effective_unit_weights, integrate_switching

@dataclasses.dataclass(frozen=True)
class Prediction:
    """The theory's trajectories, seeds (or a single row) along the first axis.

    Attributes:
        gdln: the gated structure the flow used (its pathways, gates and masks).
        loss: ``(n, epochs + 1)``.
        snapshot_epochs: ``(n_snapshots,)``.
        singular_values: ``(n, n_snapshots, p, r)`` of each pathway's predicted map.
        final_maps: ``(n, p, n_out, n_in)``.
        seconds: ``(n,)`` wall seconds per prediction (compilation included in the first).
        source: how the structure and the initial maps were obtained.
    """

    gdln: GDLN
    loss: np.ndarray
    snapshot_epochs: np.ndarray
    singular_values: np.ndarray
    final_maps: np.ndarray
    seconds: np.ndarray
    source: str


def expected_initial_maps(correlations: PathwayCorrelations, widths: np.ndarray, init_std: np.ndarray) -> np.ndarray:
    """Balanced maps with every mode at its expected effective strength under the init law.

    For ``N(0, sigma_1^2)`` input and ``N(0, sigma_2^2)`` output weights of ``H`` units, the
    projections ``a_h = v . w_in_h``, ``b_h = u . w_out_h`` are ``N(0, sigma_1^2)``, ``N(0, sigma_2^2)``
    (unit vectors), so ``E[pi_k(0)] = E[1/4 sum_h (a_h + b_h)^2] = H (sigma_1^2 + sigma_2^2) / 4``
    (``H sigma^2 / 2`` for equal stds; docs/theory.md §2.8).

    Args:
        widths: ``(p,)`` hidden units per pathway; ``init_std``: ``(p, 2)`` the two layers' stds.
    """
    maps = np.zeros_like(correlations.yx)
    for p, yx in enumerate(correlations.yx):
        U, s, Vt = np.linalg.svd(yx, full_matrices=False)
        keep = s > 1e-12 * max(s.max(), 1e-300)
        strength = widths[p] * (init_std[p, 0] ** 2 + init_std[p, 1] ** 2) / 4
        maps[p] = strength * (U[:, keep] @ Vt[keep])
    return maps


def _stacked(gdln: GDLN, results: Sequence[FlowResult], source: str, setup_seconds: float = 0.0) -> Prediction:
    """One :class:`Prediction` from per-seed results (seeds on the first axis); the setup time is
    shared out equally."""
    return Prediction(
        gdln=gdln,
        loss=np.stack([r.loss for r in results]),
        snapshot_epochs=results[0].snapshot_epochs,
        singular_values=np.stack([r.singular_values for r in results]),
        final_maps=np.stack([r.final_maps for r in results]),
        seconds=np.array([r.seconds for r in results]) + setup_seconds / len(results),
        source=source,
    )


def _predict(task: Task, gdln: GDLN, initial_maps: Sequence[np.ndarray], *, lr: float, epochs: int,
             snapshot_every: int, source: str) -> Prediction:
    results = []
    for W0 in initial_maps:
        results.append(integrate_flow(
            task.X, task.Y, gdln.gates, gdln.input_masks, gdln.output_masks, W0, lr=lr, epochs=epochs,
            snapshot_every=snapshot_every,
        ))
    return _stacked(gdln, results, source)


def predict_from_maps(task: Task, gdln: GDLN, initial_maps: Sequence[np.ndarray], *, lr: float, epochs: int,
                      snapshot_every: int = 10, source: str = "given initial maps") -> Prediction:
    """The balanced flow of an explicit one-hidden-layer GDLN from given initial maps, one row per
    entry of ``initial_maps`` (each ``(p, n_out, n_in)``, e.g. one per seed)."""
    if gdln.widths.shape[1] != 1:
        raise RelnError("the theory describes one-hidden-layer pathways; this GDLN has deeper ones")
    return _predict(task, gdln, initial_maps, lr=lr, epochs=epochs, snapshot_every=snapshot_every, source=source)


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
) -> Prediction:
    """The theory of the compact ReLN: the balanced flow of its pathways, one row per ReLU seed
    (docs/theory.md §5.3, §5.5).

    Each unit ``j`` is a balanced linear unit: it starts from its effective balanced weights
    (:func:`reln.theory.switching.effective_unit_weights` on the always-on correlation
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
        )

    # the first compiles; the others reuse it on parallel threads (the program holds no LAPACK call)
    first = integrate(runs[0])
    with concurrent.futures.ThreadPoolExecutor(max(1, len(runs) - 1)) as pool:
        results = [first, *pool.map(integrate, runs[1:])]
    return _stacked(
        gdln, results, "the compact ReLN of each ReLU seed: its schedule, effective init from its units",
        setup_seconds=setup,
    )


def predict_explicit(task: Task, gdln: GDLN, *, lr: float, epochs: int, snapshot_every: int = 10) -> Prediction:
    """Predict the loss of an explicit one-hidden-layer GDLN from its init law (one row)."""
    if gdln.widths.shape[1] != 1:
        raise RelnError("the theory describes one-hidden-layer pathways; this GDLN has deeper ones")
    start = time.perf_counter()
    maps = expected_initial_maps(pathway_correlations(task, gdln), gdln.widths[:, 0], gdln.init_std)
    setup = time.perf_counter() - start
    prediction = _predict(task, gdln, [maps], lr=lr, epochs=epochs, snapshot_every=snapshot_every,
                          source="explicit pathways, expected effective init from the init law")
    return dataclasses.replace(prediction, seconds=prediction.seconds + setup)
