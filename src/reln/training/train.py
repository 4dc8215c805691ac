"""Gradient descent as jit-compiled scans, many seeds at once (docs/theory.md §2.2).

The loop is a ``lax.scan`` of ``snapshot_every`` gradient steps (recording the loss of every
epoch) nested in a ``lax.scan`` over snapshots (recording whatever ``snapshot`` returns). Python
only sees blocks of snapshots: between blocks it reports progress and stops a run that has
diverged, so no Python code runs per epoch.

Every block is the same compiled function. The step counter travels in the scan carry, and steps
past the last epoch leave the parameters unchanged, so a run whose length is not a multiple of the
block needs no second compilation: the end of the last block idles (less than one block in
twenty). Each block also returns the loss and snapshot of the state it ends in; the last block's
are the final epoch's.

Seeds: a group of seeds runs through ``jax.vmap``, and groups run on parallel threads. On a CPU
the step is bound by the arithmetic of its matrix products, so vmapping seeds gains nothing per
seed while separate cores do: the default is one seed per group and one thread per
group (up to twice the cores: 3 seeds on 2 cores share them rather than leave one idle).

Batches: :class:`FullBatch` (the default, the paper's setting) takes one update per epoch on the
total loss. :class:`MiniBatch` takes ``ceil(P / B)`` updates per epoch, each on the half squared
error of ``B`` samples drawn without replacement from a permutation seeded by the run's seed and the
epoch. The batch losses sum to the total loss, so one epoch of mini-batch updates moves the
parameters by ``-lr grad L`` to first order in ``lr``, as one full-batch step does: epochs keep their
meaning (``tau = 1 / (P lr)`` epochs) and only the noise and the higher orders differ.

Time convention: index ``t`` of a trajectory is the state after ``t`` updates; ``loss[0]`` is the
loss at initialisation (the reference implementation's index ``i`` is our ``t = i + 1``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError
from reln.training.trajectory import Progress, Trajectory

Objective = Callable[..., tuple[jax.Array, jax.Array]]  # (params) or, epoch_aware, (params, t)
Snapshot = Callable[[object], dict[str, jax.Array]]

MEMORY_BUDGET_BYTES = 2 * 1024**3


def snapshot_schedule(epochs: int, every: int) -> np.ndarray:
    """Epochs at which snapshots are taken: ``0, every, 2 every, ...`` up to ``epochs``, and ``epochs``."""
    times = np.arange(0, epochs + 1, min(every, epochs))
    return times if times[-1] == epochs else np.append(times, epochs)


def _blocks(n_chunks: int, target_blocks: int = 20) -> tuple[int, int]:
    """``(chunks per block, blocks)`` covering ``n_chunks`` in about ``target_blocks`` blocks."""
    per_block = -(-n_chunks // min(target_blocks, n_chunks))
    return per_block, -(-n_chunks // per_block)


def _seed_groups(n_seeds: int, bytes_per_seed: int, group: int | None, workers: int | None, budget: int):
    """Split seeds into vmapped groups and pick how many groups run at once, within the budget.

    Defaults: on a CPU one seed per group and, up to twice the cores, one thread per group;
    on an accelerator one group. Every group at once beats one thread per core when the groups do
    not divide evenly: 3 seeds on 2 cores took 18.4 s instead of 28.0 s (``depth`` ReLU, 30001
    epochs) and 1.6 s instead of 2.1 s (``contexts-diff``), because no core idles while the last
    seed runs alone.
    """
    on_cpu = jax.default_backend() == "cpu"
    fits = max(1, budget // max(bytes_per_seed, 1))
    group = max(1, min(group or (1 if on_cpu else n_seeds), n_seeds, fits))
    n_groups = -(-n_seeds // group)
    cores = os.cpu_count() or 1
    workers = workers or ((n_groups if n_groups <= 2 * cores else cores) if on_cpu else 1)
    workers = max(1, min(workers, n_groups, fits // group))
    return [list(range(i, min(i + group, n_seeds))) for i in range(0, n_seeds, group)], workers


def _check_finite(losses: np.ndarray, first_epoch: int, lr: float) -> None:
    bad = ~np.isfinite(losses)
    if bad.any():
        seed, offset = np.argwhere(bad)[0]
        raise RelnError(
            f"training diverged: loss became {losses[seed, offset]} at epoch {first_epoch + offset} "
            f"(seed index {seed}); lower the learning rate (lr={lr}) or the init scale"
        )


@dataclasses.dataclass(frozen=True)
class FullBatch:
    """One update per epoch on the total loss ``L = sum_p l_p``: the gradient descent of the theory.

    >>> FullBatch()
    FullBatch()
    """


@dataclasses.dataclass(frozen=True)
class MiniBatch:
    """``ceil(P / size)`` updates per epoch, each on ``sum_{p in B} l_p`` for a batch ``B`` of
    ``size`` samples; the batches of an epoch partition a random permutation of the samples.

    The permutation of epoch ``t`` for a run with sampling seed ``s`` is
    ``jax.random.permutation(fold_in(PRNGKey(s), t), P)``: the same seed gives the same bits.
    The last batch of an epoch is smaller when ``size`` does not divide ``P``.

    Args:
        size: samples per update, ``1 <= size``; ``size >= P`` is full-batch descent.

    >>> MiniBatch(4).size
    4
    """

    size: int

    def __post_init__(self):
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size < 1:
            raise RelnError(f"a mini-batch size must be a positive integer, got {self.size!r}")


Batches = FullBatch | MiniBatch


class _Cancelled(Exception):
    """Raised inside a run's thread when another run failed or the user interrupted."""


def train(
    objective: Objective,
    params: object,
    *,
    lr: float,
    epochs: int,
    snapshot: Snapshot | None = None,
    snapshot_every: int = 100,
    progress: Progress | None = None,
    seeds_per_group: int | None = None,
    workers: int | None = None,
    memory_budget: int = MEMORY_BUDGET_BYTES,
    epoch_aware: bool = False,
    data: object | None = None,
    batches: Batches = FullBatch(),
    n_samples: int | None = None,
    sampling_seeds: object | None = None,
) -> Trajectory:
    """Train many seeds with gradient descent ``theta <- theta - lr * grad``.

    Args:
        objective: ``params -> (objective, loss)`` for one seed. The gradient of ``objective``
            drives the update and ``loss`` is recorded (they differ for the staged rule).
        params: a pytree whose leaves (NumPy or JAX arrays) carry the seeds on their first axis.
        lr: learning rate.
        epochs: number of updates; the trajectory has ``epochs + 1`` losses.
        snapshot: ``params -> dict of arrays`` recorded every ``snapshot_every`` epochs.
        snapshot_every: epochs between snapshots.
        progress: called as ``progress(epochs_done, total)`` between blocks, ``total`` being
            ``epochs * n_seeds``.
        seeds_per_group: seeds vmapped together (default: 1 on a CPU, all on an accelerator).
        workers: groups trained at once on separate threads (default: the CPU cores).
        memory_budget: bytes of snapshots to hold at once; it caps both numbers above.
        epoch_aware: the objective takes ``(params, t)``, ``t`` the epoch (an int32 scalar), for
            models that change with time (gates that switch).
        data: a pytree of per-seed constants (seeds on the first axis, like ``params``), passed
            as ``objective(params, t, data)`` and never differentiated or updated: per-seed gate
            schedules, so that seeds with different gates share one compilation and run on
            parallel threads. Implies ``epoch_aware``; ``snapshot`` is then called as
            ``snapshot(params, t, data)`` too.
        batches: :class:`FullBatch` or :class:`MiniBatch`. With mini-batches the objective is
            called with one more argument, ``mask``: ``(P,)`` ones on the batch's samples and
            zeros elsewhere, which it passes to :func:`reln.models.losses.half_sse`; the recorded loss
            is the total loss at the start of each epoch.
        n_samples: ``P``, needed with mini-batches.
        sampling_seeds: ``(n_seeds,)`` integers seeding each seed's batch order (default
            ``0, 1, ...``).

    Returns:
        The :class:`Trajectory`. Results do not depend on the grouping.

    >>> import jax.numpy as jnp
    >>> objective = lambda w: (jnp.sum((w - 3.0) ** 2), jnp.sum((w - 3.0) ** 2))
    >>> run = train(objective, jnp.zeros((2, 1)), lr=0.25, epochs=10, snapshot_every=5)
    >>> run.loss.shape, run.snapshot_epochs.tolist(), round(float(run.final_params[0, 0]), 4)
    ((2, 11), [0, 5, 10], 2.9971)
    """
    if int(epochs) != epochs or epochs < 1:
        raise RelnError(f"epochs must be a positive integer, got {epochs!r}")
    if int(snapshot_every) != snapshot_every or snapshot_every < 1:
        raise RelnError(f"snapshot_every must be a positive integer, got {snapshot_every!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise RelnError(f"the learning rate must be positive and finite, got lr={lr!r}")
    started = time.perf_counter()
    epochs, every = int(epochs), int(min(snapshot_every, epochs))
    if snapshot is None:
        snapshot = lambda params, t=None, data=None: {}  # noqa: E731
    elif data is None:
        snapshot = (lambda plain: lambda params, t=None, data=None: plain(params))(snapshot)
    n_seeds = jax.tree_util.tree_leaves(params)[0].shape[0]
    if isinstance(batches, MiniBatch) and (n_samples is None or batches.size >= n_samples):
        if n_samples is None:
            raise RelnError("mini-batch training needs n_samples, the number of samples P")
        batches = FullBatch()  # a batch of every sample is the full batch
    sampling_seeds = np.arange(n_seeds, dtype=np.int32) if sampling_seeds is None else np.asarray(sampling_seeds, np.int32)
    if sampling_seeds.shape != (n_seeds,):
        raise RelnError(f"sampling_seeds needs one integer per seed ({n_seeds}), got shape {sampling_seeds.shape}")

    one_seed = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), params)
    one_data = None if data is None else jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), data)
    shapes = jax.eval_shape(snapshot, one_seed, jax.ShapeDtypeStruct((), np.int32), one_data)
    schedule = snapshot_schedule(epochs, every)
    bytes_per_seed = len(schedule) * sum(np.prod(s.shape) * s.dtype.itemsize for s in shapes.values())
    groups, n_workers = _seed_groups(n_seeds, bytes_per_seed, seeds_per_group, workers, memory_budget)

    if data is None:
        data = np.zeros(n_seeds, dtype=np.int8)  # a placeholder the objective never sees
        if not epoch_aware:
            objective = (lambda plain: lambda params, t, _, *mask: plain(params, *mask))(objective)
        else:
            objective = (lambda timed: lambda params, t, _, *mask: timed(params, t, *mask))(objective)
    # The batch order's seed and the learning rate travel with the per-seed constants: one compiled
    # program serves every learning rate (a sweep over lr compiles once, or reuses the disk cache).
    leaf_dtype = np.asarray(jax.tree_util.tree_leaves(params)[0]).dtype
    data = (data, sampling_seeds, np.full(n_seeds, lr, dtype=leaf_dtype))
    block = _compile(objective, snapshot, every, epochs, batches, n_samples)
    # Host-side slicing: indexing a device array here would compile a gather per group.
    parts = [jax.tree_util.tree_map(lambda x, g=g: np.asarray(x)[g], (params, data)) for g in groups]
    per_block = _blocks(len(schedule) - 1)[0]
    for size in sorted({len(g) for g in groups}):  # compile once per group size, before threads
        block(per_block, parts[[len(g) for g in groups].index(size)])
    compile_seconds = time.perf_counter() - started
    if block.uses_lapack:
        n_workers = 1
    done = [0] * len(groups)
    lock, stop = threading.Lock(), threading.Event()
    x64 = bool(jax.config.jax_enable_x64)  # a thread-local setting: carry it into the workers

    def run(index: int) -> dict:
        def report(epochs_done: int) -> None:
            if stop.is_set():
                raise _Cancelled
            with lock:
                done[index] = epochs_done * len(groups[index])
                if progress is not None:
                    progress(sum(done), epochs * n_seeds)

        began = time.perf_counter()
        with jax.enable_x64(x64):
            result = _run_group(block, parts[index], epochs, every, lr, report)
        result["seconds"] = np.full(len(groups[index]), (time.perf_counter() - began) / len(groups[index]))
        return result

    with concurrent.futures.ThreadPoolExecutor(n_workers) as pool:
        futures = [pool.submit(run, i) for i in range(len(groups))]
        try:
            runs = [f.result() for f in futures]
        except BaseException:
            stop.set()  # the other runs stop at their next block; the first error propagates
            raise
    return Trajectory(
        loss=np.concatenate([r["loss"] for r in runs]),
        snapshot_epochs=schedule,
        snapshots={k: np.concatenate([r["snapshots"][k] for r in runs]) for k in shapes},
        final_params=jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *[r["params"] for r in runs]),
        seconds=np.concatenate([r["seconds"] for r in runs]),
        compile_seconds=compile_seconds,
        wall_seconds=time.perf_counter() - started,
    )


@dataclasses.dataclass
class _CompiledBlocks:
    """Compiled blocks of a run, one per (chunks, group size), compiled ahead of time on demand.

    ``uses_lapack`` is set when a compiled program calls LAPACK (``jnp.linalg.svd``, ``eigh``...):
    such calls hang when two runs execute them at once on the CPU (seen with jax 0.10.2), so the
    caller then runs groups one at a time.
    """

    block: Callable
    cache: dict = dataclasses.field(default_factory=dict)
    uses_lapack: bool = False

    def __call__(self, chunks: int, example):
        """The block of ``chunks`` chunks for these (params, data) shapes."""
        example_params, example_data = example
        n_seeds = jax.tree_util.tree_leaves(example_params)[0].shape[0]
        if (chunks, n_seeds) not in self.cache:
            carry = (example_params, np.zeros(n_seeds, dtype=np.int32), example_data)
            lowered = jax.jit(jax.vmap(functools.partial(self.block, chunks=chunks))).lower(carry)
            self.cache[chunks, n_seeds] = lowered.compile()
            self.uses_lapack = self.uses_lapack or "lapack" in lowered.as_text().lower()
        return self.cache[chunks, n_seeds]


def _compile(
    objective: Objective, snapshot: Snapshot, every: int, epochs: int, batches: Batches, n_samples: int | None
) -> _CompiledBlocks:
    """A factory of compiled blocks: ``chunks`` chunks (each a snapshot, then ``every`` epochs),
    then the loss and snapshot of the state the block ends in; vmapped over a group of seeds.

    The carry is ``(params, t, (data, sampling_seed, lr))``: the learning rate is an input of the
    program, not a constant compiled into it."""

    def descend(params, grads, active, lr):
        return jax.tree_util.tree_map(lambda p, g: jnp.where(active, p - lr * g, p), params, grads)

    def full_step(carry, _):
        params, t, (data, seed, lr) = carry
        (_, loss), grads = jax.value_and_grad(objective, has_aux=True)(params, t, data)
        return (descend(params, grads, t < epochs, lr), t + 1, (data, seed, lr)), loss

    def minibatch_step(carry, _):
        params, t, (data, seed, lr) = carry
        loss = objective(params, t, data)[1]
        size = batches.size
        n_batches = -(-n_samples // size)
        order = jax.random.permutation(jax.random.fold_in(jax.random.PRNGKey(seed), t), n_samples)
        # Pad with the out-of-range index P, which the scatter below drops: a short last batch.
        order = jnp.concatenate([order, jnp.full(n_batches * size - n_samples, n_samples, order.dtype)])
        dtype = jax.tree_util.tree_leaves(params)[0].dtype

        def update(params, batch):
            mask = jnp.zeros(n_samples, dtype).at[batch].set(1, mode="drop")
            grads = jax.grad(lambda p: objective(p, t, data, mask)[0])(params)
            return descend(params, grads, t < epochs, lr), None

        params, _ = jax.lax.scan(update, params, order.reshape(n_batches, size))
        return (params, t + 1, (data, seed, lr)), loss

    step = minibatch_step if isinstance(batches, MiniBatch) else full_step

    def chunk(carry, _):
        records = snapshot(carry[0], carry[1], carry[2][0])
        carry, losses = jax.lax.scan(step, carry, None, length=every)
        return carry, (losses, records)

    def block(carry, chunks: int):
        carry, records = jax.lax.scan(chunk, carry, None, length=chunks)
        params, t, (data, *_) = carry
        return carry, records, (objective(params, epochs, data)[1], snapshot(params, t, data))

    return _CompiledBlocks(block)


def _run_group(block, part, epochs: int, every: int, lr: float, progress: Callable) -> dict:
    """Run one vmapped group of seeds through every block; host-side checks between blocks."""
    n_chunks = len(snapshot_schedule(epochs, every)) - 1  # a chunk starts at each but the last
    per_block, n_blocks = _blocks(n_chunks)
    run_block = block(per_block, part)
    params, data = part
    n_seeds = jax.tree_util.tree_leaves(params)[0].shape[0]
    carry = (params, np.zeros(n_seeds, dtype=np.int32), data)
    losses, snaps = [], []
    for b in range(n_blocks):
        carry, (block_losses, block_snaps), (end_loss, end_snap) = run_block(carry)
        block_losses = np.asarray(block_losses).reshape(n_seeds, -1)
        first_epoch = b * per_block * every
        _check_finite(block_losses[:, : max(0, epochs - first_epoch)], first_epoch, lr)
        losses.append(block_losses)
        snaps.append({k: np.asarray(v) for k, v in block_snaps.items()})
        progress(min(epochs, (b + 1) * per_block * every))
    end_loss = np.asarray(end_loss)[:, None]  # the last block ends in the final epoch's state
    _check_finite(end_loss, epochs, lr)
    return {
        "loss": np.concatenate([np.concatenate(losses, axis=1)[:, :epochs], end_loss], axis=1),
        "snapshots": {  # chunks of the idle tail of the last block are dropped
            k: np.concatenate(
                [np.concatenate([s[k] for s in snaps], axis=1)[:, :n_chunks], np.asarray(end_snap[k])[:, None]],
                axis=1,
            )
            for k in end_snap
        },
        "params": jax.tree_util.tree_map(np.asarray, carry[0]),
    }
