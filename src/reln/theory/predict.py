"""The theory as a model of a run: predicted loss and singular values, per ReLU seed or from the init law.

Three sources of a prediction, none with a fitted constant:

* :func:`predict_switching` (what ``reln run`` uses with a ReLU run): the ReLU's units as balanced
  linear units grouped into pathways by the contexts they are active in, read from the ReLU's
  checkpoints every 100 epochs; a unit that switches pathway carries its share of the pathway's
  map (:mod:`reln.theory.switching`). Started from each unit's effective balanced weights.
* :func:`predict_identified`: the ReLN identified from each ReLU seed with *fixed* gates (one
  pathway per context set, :func:`reln.relns.imitate.imitating_reln`), from the effective balanced maps
  of the ReLU's own initial units (:func:`reln.theory.effective_initial_maps`), integrated by the
  balanced flow (:func:`reln.theory.balanced.integrate_flow`). The structure is the union over
  seeds; a pathway a seed lacks starts at zero and stays there.
* :func:`predict_explicit`: an explicit GDLN and its init law (width ``H``, stds ``sigma_1``,
  ``sigma_2``): each mode starts at its expected effective strength
  ``E[1/4 sum_h (a_h + b_h)^2] = H (sigma_1^2 + sigma_2^2) / 4`` (:func:`expected_initial_maps`).

Against the ReLU (``reln run PRESET --models relu,theory``) the switching theory, with per-sample
gates until the ReLU's first drop (what ``reln run`` does), tracks the loss more closely than the
fixed-gate prediction on every context preset (the report of ``reln reproduce`` shows the gaps
and final losses).

With fixed gates the largest gap is in the context-specific phase, predicted too slow: the
ReLU's context units start in the common group and switch with grown weights. With switching
units it is in the context phase, the theory behind (``contexts-diff``: its loss above the
ReLU's through the middle of that phase; 5 contexts: behind early in it, ahead later).

Why the gates are read from the ReLU and not from the theory's own units: balanced units gated
by whole contexts from their own pre-activations never leave the linear floor, because a unit
leaves a context only once its activity falls on every item of it, and a linear pathway has no
force that does that; the ReLU's units leave sample by sample. Gated per sample by their own
sign, the units are a ReLU network started from balanced weights: a simulation, not a
prediction.
"""

from __future__ import annotations

import concurrent.futures

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.models.gdln import GDLN
from reln.identification.identify import Identification
from reln.relns.imitate import contexts_on, imitating_reln, switching_schedule
from reln.gates.kinks import kink_projectors
from reln.tasks import Task
from reln.theory.balanced import FlowResult, integrate_flow
from reln.theory.correlations import PathwayCorrelations, pathway_correlations
from reln.theory.flow import effective_initial_maps
from reln.theory.switching import effective_unit_weights, integrate_switching, relu_effective_unit_weights

# The ReLU run's checkpoints (its default ``snapshot_every``) at which the switching theory reads
# the units' context sets; a coarser snapshot spacing is used as it is.
SWITCH_EVERY = 100


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


def predict_identified(
    task: Task,
    identifications: Sequence[Identification],
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *,
    lr: float,
    epochs: int,
    snapshot_every: int = 10,
) -> Prediction:
    """Predict each ReLU seed's loss from its identified ReLN and its own initial units.

    Args:
        identifications: one per seed (:func:`reln.identification.identify.identify`, one hidden layer).
        relu_initial_weights: per seed, the ReLU's initial ``[W_in (h, n_in), W_out (n_out, h)]``.
    """
    if any(len(w) != 2 for w in relu_initial_weights):
        raise RelnError("the theory describes one-hidden-layer networks; this ReLU network has more layers")
    start = time.perf_counter()
    gdln, params = imitating_reln(task, identifications, relu_initial_weights)
    correlations = pathway_correlations(task, gdln)
    maps = [effective_initial_maps(correlations, W_in, W_out) for W_in, W_out in zip(*params)]
    setup = time.perf_counter() - start
    prediction = _predict(task, gdln, maps, lr=lr, epochs=epochs, snapshot_every=snapshot_every,
                          source="identified ReLN of each ReLU seed, effective init from its units")
    return dataclasses.replace(prediction, seconds=prediction.seconds + setup / len(maps))


def predict_switching(
    task: Task,
    identifications: Sequence[Identification],
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    relu_pre: np.ndarray,
    snapshot_epochs: np.ndarray,
    *,
    lr: float,
    epochs: int,
    gate_threshold: float = 0.1,
    method: str = "gd",
    early_flow: bool = False,
    snapshot_every: int = 50,
    x64: bool = False,
    fine_until: int = 0,
    fine_every: int = 10,
    gate_level: str = "context",
    pin_kinks: bool = False,
    schedules: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> Prediction:
    """Predict each ReLU seed's loss by pathways whose units switch at the ReLU's checkpoints.

    With ``schedules`` (per seed ``(phase_starts, gates (phases, units, P), pins)``, e.g. the
    compact ReLN's, :func:`reln.relns.imitate.compact_schedules`) the units follow those gates and
    nothing else is read from the ReLU run: ``relu_pre`` and the gate options are unused.

    Before ``fine_until`` (the ReLU's first drop, :func:`reln.relns.imitate.first_drop_epoch`, as the
    switching ReLN does) each unit follows its per-sample gate ``1[w_j x > 0]`` every
    ``fine_every`` epochs; with ``fine_until = 0`` the units are gated by whole contexts from
    ``t = 0``. ``gate_level = "sample"`` gates units after that on the samples where their
    activity exceeds ``gate_threshold`` of their peak rather than on whole contexts (the
    switching ReLN's option, for tasks whose gating lives within contexts such as XOR). The
    per-sample start tracks the ReLU as well as or better than whole contexts from 0 on most
    presets, most of all with 8 contexts, and worse with 4 or 2 contexts. Keeping the units with
    ``c_1 < 0`` (a linear unit's start) changes the gaps little either way and doubles the units
    to integrate.

    Each unit starts from its effective balanced weights (:func:`effective_unit_weights`, on the
    always-on correlation ``Y X^T / P``: every unit is active in every context at ``t = 0``) and
    learns with its context gates read every :data:`SWITCH_EVERY` epochs from the ReLU run
    (:func:`reln.relns.imitate.switching_schedule`; with ``pin_kinks`` the pairs it pins are held, as in
    the switching ReLN); a unit that changes pathway carries its share of the pathway's map (:mod:`reln.theory.switching`). Units at zero (grown against the Perron mode) or
    never on are dropped: they stay exactly zero. The pathways reported (singular values, final
    maps) are the identified ReLN's context sets (union over seeds); units in another set count in
    the loss only.

    ``method="gd"`` (default) takes one Euler step per epoch, which *is* gradient descent with
    learning rate ``lr`` on the balanced units, the algorithm the ReLU is trained with; the
    gradient flow (``"rk4"``) grows a mode by ``e^rho`` per epoch where gradient descent grows it
    by ``1 + rho`` (``rho = 2 s / tau``, small for every mode of the presets), so it runs
    slightly ahead in time, and its gap to the ReLU is larger than gradient descent's (the report
    of ``reln reproduce`` shows them).

    Args:
        relu_pre: ``(seeds, snapshots, H, P)`` the ReLU's pre-activations at its checkpoints.
        snapshot_epochs: the checkpoints' epochs.
        method: ``"gd"`` or ``"rk4"`` (:func:`reln.theory.integrate_switching`).
        early_flow: start from :func:`reln.theory.relu_effective_unit_weights` (each unit's own
            early dynamics, gradient descent when ``method="gd"``) instead of the leading-order
            rule; how the two compare in :mod:`reln.theory.switching`.
        x64: integrate in float64 (:func:`reln.theory.integrate_switching`); seeds run on
            parallel threads either way.
    """
    if any(len(w) != 2 for w in relu_initial_weights):
        raise RelnError("the theory describes one-hidden-layer networks; this ReLU network has more layers")
    start = time.perf_counter()
    gdln, _ = imitating_reln(task, identifications, relu_initial_weights)
    sets = [tuple(c) for c in gdln.contexts]
    yx = task.Y @ task.X.T / task.P
    runs = []
    for seed, ((w_in, w_out), pre) in enumerate(zip(relu_initial_weights, relu_pre)):
        if schedules is not None:
            starts, gates, pinned = schedules[seed]
            pinned = np.asarray(pinned, bool)
        else:
            # the switching ReLN's schedule (reln.relns.imitate.switching_schedule), regrouped every
            # SWITCH_EVERY epochs; per-sample gates until fine_until
            starts, gates, pinned = switching_schedule(
                task, pre, snapshot_epochs, fine_until=fine_until, fine_every=fine_every,
                regroup_every=max(SWITCH_EVERY, fine_every), gate_threshold=gate_threshold,
                gate_level=gate_level, pin_kinks=pin_kinks,
            )
        on = np.stack([contexts_on(task, g > 0) for g in gates])  # each unit's context set
        if early_flow:
            W1, W2 = relu_effective_unit_weights(task.X, task.Y, w_in, w_out, lr=lr if method == "gd" else None)
        else:
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
            lr=lr, epochs=epochs, snapshot_every=snapshot_every, method=method, stride=1 if method == "gd" else 5,
            x64=x64, pinned=held,
        )

    # the first compiles; the others reuse it on parallel threads (the program holds no LAPACK call)
    first = integrate(runs[0])
    with concurrent.futures.ThreadPoolExecutor(max(1, len(runs) - 1)) as pool:
        results = [first, *pool.map(integrate, runs[1:])]
    return _stacked(
        gdln, results, "identified ReLN of each ReLU seed, units switching at its checkpoints, effective init from its units",
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
