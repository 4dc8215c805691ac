"""Train a ReLU network or a GDLN on a task for many seeds: the high-level entry points.

Both return a :class:`reln.training.train.Trajectory` whose snapshots are what the analyses downstream
need: for a ReLU network, the gate pattern, unit sizes and output of every hidden layer; for a
GDLN, the singular values of every pathway's end-to-end map and the output.
"""

from __future__ import annotations

import dataclasses
import time

from collections.abc import Sequence

import numpy as np

from reln.identification.analysis import layer_imbalance
from reln.errors import RelnError
from reln.models.flat import flat_maps, flat_objective, from_flat, to_flat
from reln.models.pathways import GDLN, check_rule, init_gdln
from reln.models.gdln import gdln_objective, pathway_maps
from reln.models.losses import half_sse
from reln.models.init import GDLN_STREAM, SAMPLING_STREAM, check_seeds, relu_initial_weights, seed_rng
from reln.models.relu import relu_forward, relu_preactivations, unit_weights
from reln.tasks import Task
from reln.training.trajectory import HiddenLayer, Progress, Trajectory
from reln.training.train import FullBatch, MiniBatch, train

def stack_seeds(per_seed: list[list[np.ndarray]], dtype) -> list[np.ndarray]:
    """Stack per-seed weight lists into one list whose arrays carry the seeds on axis 0."""
    return [np.stack(layer).astype(dtype) for layer in zip(*per_seed)]


def batching(batch_size: int | None, task: Task, seeds: Sequence[int]) -> dict:
    """The :func:`reln.training.train.train` arguments of a batch size: full batch for ``None`` or
    ``batch_size >= P``, else :class:`reln.training.train.MiniBatch` with batch orders seeded per run seed
    (a stream of its own, so the order does not correlate with the initial weights).

    >>> from reln.tasks import contextual_task
    >>> batching(4, contextual_task(4, 3, "hierarchy"), [0])["batches"]
    MiniBatch(size=4)
    """
    if batch_size is None or batch_size >= task.P:
        return {"batches": FullBatch()}
    seeds = check_seeds(seeds)
    return {
        "batches": MiniBatch(int(batch_size)),
        "n_samples": task.P,
        "sampling_seeds": [int(seed_rng(s, SAMPLING_STREAM).integers(2**31 - 1)) for s in seeds],
    }


def _dtype(x64: bool):
    return np.float64 if x64 else np.float32


def fit_relu(
    task: Task,
    hidden: Sequence[int],
    init_std: float | Sequence[float],
    *,
    seeds: Sequence[int] = (0,),
    lr: float = 1e-3,
    epochs: int = 8001,
    snapshot_every: int = 100,
    x64: bool = False,
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> Trajectory:
    """Train a bias-free ReLU network ``n_in -> hidden... -> n_out`` by gradient descent.

    Full batch by default; with ``batch_size`` (< P) mini-batch SGD whose batch order is seeded by
    each run's seed (:class:`reln.training.train.MiniBatch`, docs/theory.md §2.2).

    Snapshots (every ``snapshot_every`` epochs): the trajectory's ``layers``, one
    :class:`reln.training.train.HiddenLayer` per hidden layer (pre-activations, from which the gates
    and the activity follow; unit sizes ``||w_in|| ||w_out||``; for a network of several hidden
    layers the imbalance of the weights into and out of it,
    :func:`reln.identification.analysis.layer_imbalance`), and its ``output`` ``(n_out, P)``.
    Run it inside ``jax.enable_x64(True)`` when ``x64`` is set.

    >>> from reln.tasks import contextual_task
    >>> run = fit_relu(contextual_task(4, 2, "hierarchy"), (8,), 0.1, epochs=20, snapshot_every=10)
    >>> run.loss.shape, len(run.layers), run.layers[0].pre.shape, run.output.shape
    ((1, 21), 1, (1, 3, 8, 8), (1, 3, 21, 8))
    """
    dtype = _dtype(x64)
    X, Y = task.X.astype(dtype), task.Y.astype(dtype)
    params = stack_seeds(relu_initial_weights(task, hidden, init_std, seeds), dtype)

    def objective(weights, mask=None):
        loss = half_sse(relu_forward(weights, X), Y, mask)
        return loss, loss

    def snapshot(weights):
        records = {"output": relu_forward(weights, X)}
        for l, (pre, sizes_l) in enumerate(zip(relu_preactivations(weights, X), unit_weights(weights))):
            records[f"pre_{l}"] = pre
            records[f"unit_weight_{l}"] = sizes_l
        if len(weights) > 2:  # deep networks: how far each hidden layer's two sides are from balanced
            for l in range(len(weights) - 1):
                records[f"imbalance_{l}"] = layer_imbalance(weights[l], weights[l + 1])
        return records

    trajectory = train(
        objective, params, lr=lr, epochs=epochs, snapshot=snapshot,
        snapshot_every=snapshot_every, progress=progress, **batching(batch_size, task, seeds),
    )
    # The activity is the rectified pre-activation (HiddenLayer.hidden): derived after the scan
    # rather than recorded in it, which halves what every snapshot carries off the device.
    records = trajectory.snapshots
    layers = tuple(
        HiddenLayer(pre=records[f"pre_{l}"], unit_weight=records[f"unit_weight_{l}"], imbalance=records.get(f"imbalance_{l}"))
        for l in range(len(params) - 1)
    )
    return dataclasses.replace(trajectory, layers=layers, output=records["output"], snapshots={})


def fit_gdln(
    task: Task,
    gdln: GDLN,
    *,
    rule: str = "total",
    seeds: Sequence[int] = (0,),
    lr: float = 1e-3,
    epochs: int = 8001,
    snapshot_every: int = 10,
    x64: bool = False,
    progress: Progress | None = None,
    init_params: list[np.ndarray] | None = None,
    singular_values: bool = True,
    batch_size: int | None = None,
) -> Trajectory:
    """Train a GDLN by gradient descent under ``rule`` (``"total"`` or ``"staged"``); full batch,
    or mini-batch SGD with ``batch_size`` as :func:`fit_relu`.

    ``init_params`` (weights with the seeds on axis 0, e.g. from :func:`reln.relns.imitate.imitating_reln`)
    replaces the random initialisation. ``singular_values=False`` skips the snapshots (for a
    GDLN of single-unit pathways they are only the units' sizes, and many).

    Snapshots (every ``snapshot_every`` epochs): the trajectory's ``singular_values``
    ``(n_pathways, min(n_out, n_in))`` of each pathway's end-to-end map, in float64.

    >>> from reln.models.pathways import Pathway, build_gdln
    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> gdln = build_gdln([Pathway(contexts=None, hidden=(8,), init_std=0.1)], task)
    >>> run = fit_gdln(task, gdln, seeds=(0, 1), lr=0.05, epochs=200)
    >>> run.loss.shape, run.singular_values.shape[:3], bool((run.loss[:, -1] < run.loss[:, 0]).all())
    ((2, 201), (2, 21, 1), True)
    """
    check_rule(rule, gdln)
    seeds = check_seeds(seeds)
    if (gdln.gates.shape[1], gdln.input_masks.shape[1], gdln.output_masks.shape[1]) != (task.P, task.n_in, task.n_out):
        raise RelnError(
            f"the GDLN was built for another task ({gdln.gates.shape[1]} samples, {gdln.input_masks.shape[1]} inputs, "
            f"{gdln.output_masks.shape[1]} outputs; this task: {task.P}, {task.n_in}, {task.n_out}); "
            "build it with build_gdln(pathways, task)"
        )
    dtype = _dtype(x64)
    X, Y = task.X.astype(dtype), task.Y.astype(dtype)
    if init_params is None:
        params = stack_seeds([init_gdln(seed_rng(s, GDLN_STREAM), gdln) for s in seeds], dtype)
    else:
        params = [np.asarray(w, dtype) for w in init_params]

    flat = gdln.widths.shape[1] == 1  # one hidden layer: train in the faster flat layout
    objective, maps = (flat_objective, flat_maps) if flat else (gdln_objective, pathway_maps)

    def snapshot(weights):
        return {"maps": maps(weights, gdln)} if singular_values else {}

    trajectory = train(
        lambda w, t, *mask: objective(w, gdln, X, Y, rule, t, *mask), to_flat(params) if flat else params,
        lr=lr, epochs=epochs, snapshot=snapshot, snapshot_every=snapshot_every, progress=progress,
        epoch_aware=True, **batching(batch_size, task, seeds),
    )
    if flat:
        trajectory = dataclasses.replace(trajectory, final_params=from_flat(trajectory.final_params, gdln))
    if not singular_values:
        return trajectory
    # Singular values in float64 NumPy after training, not inside the scan: an SVD there is a
    # LAPACK call, which forces seeds to run one at a time (see reln.training.train), and in float32.
    maps = trajectory.snapshots["maps"].astype(np.float64)
    began = time.perf_counter()
    singular_values = np.linalg.svd(maps, compute_uv=False)
    return dataclasses.replace(
        trajectory, singular_values=singular_values, snapshots={},
        wall_seconds=trajectory.wall_seconds + time.perf_counter() - began,
    )

