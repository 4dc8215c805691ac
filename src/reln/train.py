"""Full-batch gradient descent as jit-compiled scans, many seeds at once (DESIGN.md conventions).

The loop is a ``lax.scan`` of ``snapshot_every`` gradient steps (recording the loss of every
epoch) nested in a ``lax.scan`` over snapshots (recording whatever ``snapshot`` returns). Seeds run
through ``jax.vmap``. Python only sees blocks of snapshots: between blocks it reports progress and
stops a run that has diverged, so no Python code runs per epoch.

Time convention: index ``t`` of a trajectory is the state after ``t`` updates; ``loss[0]`` is the
loss at initialisation (the reference implementation's index ``i`` is our ``t = i + 1``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError

Objective = Callable[[object], tuple[jax.Array, jax.Array]]
Snapshot = Callable[[object], dict[str, jax.Array]]
Progress = Callable[[int, int], None]

MEMORY_BUDGET_BYTES = 2 * 1024**3


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """What a training run records, seeds along the first axis of every array.

    Attributes:
        loss: ``(n_seeds, epochs + 1)`` total loss at ``t = 0..epochs``.
        snapshot_epochs: ``(n_snapshots,)`` the epochs ``t`` at which snapshots were taken:
            ``0, every, 2 every, ...`` and the last epoch.
        snapshots: name -> ``(n_seeds, n_snapshots, ...)``.
        final_params: the parameters after the last update, seeds on the first axis.
        seconds: wall seconds per seed (a vmapped batch's time shared equally; compilation
            included).
    """

    loss: np.ndarray
    snapshot_epochs: np.ndarray
    snapshots: dict[str, np.ndarray]
    final_params: list[np.ndarray]
    seconds: np.ndarray


def snapshot_schedule(epochs: int, every: int) -> np.ndarray:
    """Epochs at which snapshots are taken: ``0, every, 2 every, ...`` below ``epochs``, then ``epochs``."""
    every = min(every, epochs)
    return np.append(every * np.arange(epochs // every), epochs)


def _block_size(n_chunks: int, target_blocks: int = 20) -> int:
    """A divisor of ``n_chunks`` giving about ``target_blocks`` blocks, so one compilation serves."""
    divisors = [d for d in range(1, n_chunks + 1) if n_chunks % d == 0]
    return min(divisors, key=lambda d: abs(n_chunks / d - target_blocks))


def _check_finite(losses: np.ndarray, first_epoch: int, lr: float) -> None:
    bad = ~np.isfinite(losses)
    if bad.any():
        seed, offset = np.argwhere(bad)[0]
        raise RelnError(
            f"training diverged: loss became {losses[seed, offset]} at epoch {first_epoch + offset} "
            f"(seed index {seed}); lower the learning rate (lr={lr}) or the init scale"
        )


def train(
    objective: Objective,
    params: object,
    *,
    lr: float,
    epochs: int,
    snapshot: Snapshot | None = None,
    snapshot_every: int = 100,
    progress: Progress | None = None,
    memory_budget: int = MEMORY_BUDGET_BYTES,
) -> Trajectory:
    """Train many seeds with full-batch gradient descent ``theta <- theta - lr * grad``.

    Args:
        objective: ``params -> (objective, loss)`` for one seed. The gradient of ``objective``
            drives the update and ``loss`` is recorded (they differ for the staged rule).
        params: a pytree whose leaves carry the seeds on their first axis.
        lr: learning rate.
        epochs: number of updates; the trajectory has ``epochs + 1`` losses.
        snapshot: ``params -> dict of arrays`` recorded every ``snapshot_every`` epochs.
        snapshot_every: epochs between snapshots.
        progress: called as ``progress(epochs_done, epochs)`` between blocks.
        memory_budget: bytes of snapshots to hold at once; seeds beyond it run in sequence.

    Returns:
        The :class:`Trajectory`.
    """
    if int(epochs) != epochs or epochs < 1:
        raise RelnError(f"epochs must be a positive integer, got {epochs!r}")
    if int(snapshot_every) != snapshot_every or snapshot_every < 1:
        raise RelnError(f"snapshot_every must be a positive integer, got {snapshot_every!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise RelnError(f"the learning rate must be positive and finite, got lr={lr!r}")
    epochs, every = int(epochs), int(min(snapshot_every, epochs))
    snapshot = snapshot or (lambda p: {})
    leaves = jax.tree_util.tree_leaves(params)
    n_seeds = leaves[0].shape[0]

    one_seed = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), params)
    shapes = jax.eval_shape(snapshot, one_seed)
    n_snapshots = len(snapshot_schedule(epochs, every))
    bytes_per_seed = n_snapshots * sum(np.prod(s.shape) * s.dtype.itemsize for s in shapes.values())
    batch = int(max(1, min(n_seeds, memory_budget // max(bytes_per_seed, 1))))

    compiled = _compile(objective, snapshot, lr, every, epochs)
    runs, done_total = [], 0

    def report(epochs_done_in_batch, seeds_in_batch):
        if progress is not None:
            progress(done_total + epochs_done_in_batch * seeds_in_batch, epochs * n_seeds)

    for start in range(0, n_seeds, batch):
        part = jax.tree_util.tree_map(lambda x: x[start : start + batch], params)
        size = jax.tree_util.tree_leaves(part)[0].shape[0]
        began = time.perf_counter()
        runs.append(_run_batch(compiled, part, epochs, every, lr, lambda e: report(e, size)))
        runs[-1]["seconds"] = np.full(size, (time.perf_counter() - began) / size)
        done_total += epochs * size
    return Trajectory(
        loss=np.concatenate([r["loss"] for r in runs]),
        snapshot_epochs=snapshot_schedule(epochs, every),
        snapshots={k: np.concatenate([r["snapshots"][k] for r in runs]) for k in shapes},
        final_params=jax.tree_util.tree_map(
            lambda *xs: np.concatenate(xs), *[r["params"] for r in runs]
        ),
        seconds=np.concatenate([r["seconds"] for r in runs]),
    )


def _compile(objective: Objective, snapshot: Snapshot, lr: float, every: int, epochs: int):
    """The jitted, vmapped pieces of the loop: a block of chunks, and the tail with the last state.

    A chunk snapshots the state it starts from, then takes ``every`` steps; the tail takes the
    remaining ``epochs % every`` steps and records the final loss and snapshot. Two compilations
    per run, whatever the number of blocks.
    """

    def step(params, _):
        (_, loss), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

    def chunk(params, _):
        records = snapshot(params)
        params, losses = jax.lax.scan(step, params, None, length=every)
        return params, (losses, records)

    def block(params, n_chunks):
        return jax.lax.scan(chunk, params, None, length=n_chunks)

    def tail(params, n_steps):
        params, losses = jax.lax.scan(step, params, None, length=n_steps)
        return params, losses, objective(params)[1], snapshot(params)

    return {
        "block": functools.lru_cache(None)(
            lambda n: jax.jit(jax.vmap(functools.partial(block, n_chunks=n)))
        ),
        "tail": jax.jit(jax.vmap(functools.partial(tail, n_steps=epochs % every))),
    }


def _run_batch(compiled, params, epochs: int, every: int, lr: float, progress: Callable) -> dict:
    """Run one vmapped batch of seeds through every block; host-side checks between blocks."""
    n_chunks = epochs // every
    losses, snaps = [], []
    block_chunks = _block_size(n_chunks)
    run_block = compiled["block"](block_chunks)
    for b in range(n_chunks // block_chunks):
        params, (block_losses, block_snaps) = run_block(params)
        block_losses = np.asarray(block_losses).reshape(block_losses.shape[0], -1)
        _check_finite(block_losses, b * block_chunks * every, lr)
        losses.append(block_losses)
        snaps.append({k: np.asarray(v) for k, v in block_snaps.items()})
        progress((b + 1) * block_chunks * every)
    params, tail_losses, last_loss, last_snapshot = compiled["tail"](params)
    losses += [np.asarray(tail_losses), np.asarray(last_loss)[:, None]]
    _check_finite(np.concatenate(losses, axis=1), 0, lr)
    snaps.append({k: np.asarray(v)[:, None] for k, v in last_snapshot.items()})
    progress(epochs)
    return {
        "loss": np.concatenate(losses, axis=1),
        "snapshots": {k: np.concatenate([s[k] for s in snaps], axis=1) for k in last_snapshot},
        "params": jax.tree_util.tree_map(np.asarray, params),
    }
