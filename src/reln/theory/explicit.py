"""The theory of an explicit one-hidden-layer GDLN: its balanced flow from its init law (docs/theory.md §2.7, §2.8).

An explicit GDLN (its pathways given by a config or derived from the task, not read from a ReLU
run) is predicted by the balanced flow of its pathways' maps, each started at its expected
effective strength under the init law (:func:`expected_initial_maps`), or from given maps
(:func:`predict_from_maps`, e.g. one per seed's draw). The flow is stepped as gradient descent,
one step per epoch (:func:`reln.theory.integrate_flow` with ``method="gd"``), the algorithm the
ReLU network is trained with (docs/theory.md §5.5). Nothing here needs JAX.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import GDLN
from reln.tasks import Task
from reln.theory.balanced import FlowResult, integrate_flow
from reln.theory.correlations import PathwayCorrelations, pathway_correlations


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
        error: ``(n, epochs + 1, n_out, P)`` the error ``Y - Yhat`` at every epoch, when asked
            for, else ``None``.
        split: ``(n, n_snapshots, 2)`` the loss at the snapshots, split into the part a linear map
            can remove and the part only gating can (:attr:`reln.theory.balanced.FlowResult.split`),
            where the integrator keeps it, else ``None``.
    """

    gdln: GDLN
    loss: np.ndarray
    snapshot_epochs: np.ndarray
    singular_values: np.ndarray
    final_maps: np.ndarray
    seconds: np.ndarray
    source: str
    error: np.ndarray | None = None
    split: np.ndarray | None = None


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


def stack_results(gdln: GDLN, results: Sequence[FlowResult], source: str, setup_seconds: float = 0.0) -> Prediction:
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
        error=None if results[0].error is None else np.stack([r.error for r in results]),
        split=None if any(r.split is None for r in results) else np.stack([r.split for r in results]),
    )


def _predict(task: Task, gdln: GDLN, initial_maps: Sequence[np.ndarray], *, lr: float, epochs: int,
             snapshot_every: int, source: str, keep_error: bool = False, substeps: int = 1) -> Prediction:
    results = []
    for W0 in initial_maps:
        results.append(integrate_flow(
            task.X, task.Y, gdln.gates, gdln.input_masks, gdln.output_masks, W0, lr=lr, epochs=epochs,
            method="gd", stride=1, snapshot_every=snapshot_every, keep_error=keep_error, substeps=substeps,
        ))
    return stack_results(gdln, results, source)


def predict_from_maps(task: Task, gdln: GDLN, initial_maps: Sequence[np.ndarray], *, lr: float, epochs: int,
                      snapshot_every: int = 10, source: str = "given initial maps") -> Prediction:
    """The balanced flow of an explicit one-hidden-layer GDLN from given initial maps, one row per
    entry of ``initial_maps`` (each ``(p, n_out, n_in)``, e.g. one per seed)."""
    if gdln.widths.shape[1] != 1:
        raise RelnError("the theory describes one-hidden-layer pathways; this GDLN has deeper ones")
    return _predict(task, gdln, initial_maps, lr=lr, epochs=epochs, snapshot_every=snapshot_every, source=source)


def predict_explicit(task: Task, gdln: GDLN, *, lr: float, epochs: int, snapshot_every: int = 10,
                     keep_error: bool = False, substeps: int = 1) -> Prediction:
    """Predict the loss of an explicit one-hidden-layer GDLN from its init law (one row); with
    ``keep_error``, also its error ``Y - Yhat`` at every epoch; ``substeps`` gradient steps of
    ``lr / substeps`` per epoch for a ReLU trained on that many mini-batches an epoch
    (:func:`reln.theory.balanced.integrate_flow`)."""
    if gdln.widths.shape[1] != 1:
        raise RelnError("the theory describes one-hidden-layer pathways; this GDLN has deeper ones")
    start = time.perf_counter()
    maps = expected_initial_maps(pathway_correlations(task, gdln), gdln.widths[:, 0], gdln.init_std)
    setup = time.perf_counter() - start
    prediction = _predict(task, gdln, [maps], lr=lr, epochs=epochs, snapshot_every=snapshot_every,
                          source="explicit pathways, expected effective init from the init law", keep_error=keep_error,
                          substeps=substeps)
    return dataclasses.replace(prediction, seconds=prediction.seconds + setup)
