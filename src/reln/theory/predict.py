"""The theory as a model of a run: predicted loss and singular values, per ReLU seed or from the init law.

Two sources of a prediction, both with no fitted constant:

* :func:`predict_identified`: the ReLN identified from each ReLU seed (one pathway per context set,
  :func:`reln.imitate.imitating_reln`), started from the *effective* balanced maps of the ReLU's own
  initial units (:func:`reln.theory.effective_initial_maps`), integrated by the balanced flow
  (:func:`reln.theory.balanced.integrate_flow`). The structure is the union over seeds, so every
  seed shares one compilation; a pathway a seed lacks starts at zero and stays there.
* :func:`predict_explicit`: an explicit GDLN and its init law (width ``H``, stds ``sigma_1``,
  ``sigma_2``): each mode starts at its expected effective strength
  ``E[1/4 sum_h (a_h + b_h)^2] = H (sigma_1^2 + sigma_2^2) / 4`` (:func:`expected_initial_maps`).

Measured against the ReLU (``reln run PRESET --models relu,theory``, seeds 0, 1, 2), max / mean
``gap_to_relu`` and ``loss_final / loss_initial``: contexts-diff .043-.048 / .018, 4.4-4.9e-3;
contexts-3 .033-.036 / .009, 1.9-2.3e-3; contexts-4 .023-.026 / .004-.006, 1.5e-5; contexts-5
.047-.059 / .002-.003, 6e-7. On contexts-diff and -3 the largest gap is in the context-specific
phase, which the theory predicts too slow (and its tail too: 4e-3 of L(0) left at epoch 8001,
converging to the structure's least-squares optimum later), because the ReLU's context units
switch their gates during training, starting in the common group with grown weights, which fixed
gates do not describe. On contexts-4 and -5 it is a timing offset on a drop (epochs 230-720)
where the ReLU is 5-20 epochs earlier.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.gdln import GDLN
from reln.identify import Identification
from reln.imitate import imitating_reln
from reln.tasks import Task
from reln.theory.balanced import integrate_flow
from reln.theory.correlations import PathwayCorrelations, pathway_correlations
from reln.theory.flow import effective_initial_maps


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
    (``H sigma^2 / 2`` for equal stds; THEORY.md §2, "Effective pi0").

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


def _predict(task: Task, gdln: GDLN, initial_maps: Sequence[np.ndarray], *, lr: float, epochs: int,
             snapshot_every: int, source: str) -> Prediction:
    results = []
    for W0 in initial_maps:
        results.append(integrate_flow(
            task.X, task.Y, gdln.gates, gdln.input_masks, gdln.output_masks, W0, lr=lr, epochs=epochs,
            snapshot_every=snapshot_every,
        ))
    return Prediction(
        gdln=gdln,
        loss=np.stack([r.loss for r in results]),
        snapshot_epochs=results[0].snapshot_epochs,
        singular_values=np.stack([r.singular_values for r in results]),
        final_maps=np.stack([r.final_maps for r in results]),
        seconds=np.array([r.seconds for r in results]),
        source=source,
    )


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
        identifications: one per seed (:func:`reln.identify.identify`, one hidden layer).
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
