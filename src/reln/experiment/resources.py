"""Checks before work: a rough estimate of the memory and disk a run needs, against the machine.

The estimate counts what dominates: the weights of every seed (drawn in float64, trained in the
run's precision, with their gradients), and the snapshots the ReLU run keeps in memory (per
hidden layer, pre-activations and activity for every sample, every ``snapshot_every`` epochs) and
the imitating ReLN's as many again; on disk, ``results.npz`` keeps the ReLU's gates and unit sizes
every 100 epochs. It errs high by design; a run it refuses would have been killed or filled the
disk after minutes of training.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from reln.experiment.config import RunConfig
from reln.errors import RelnError

FIGURES_BYTES = 20 * 2**20  # the figures of a run, PNG and PDF, with room to spare


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Bytes a run needs: ``memory`` while training, ``disk`` for its files."""

    memory: int
    disk: int


def estimate(config: RunConfig, n_in: int, n_out: int, samples: int) -> Estimate:
    """A rough, high estimate of a run's memory and disk.

    Args:
        config: the validated config.
        n_in, n_out, samples: the task's sizes.

    Returns:
        The :class:`Estimate`.
    """
    seeds, epochs = len(config.train.seeds), config.train.epochs
    itemsize = 8 if config.train.x64 else 4
    memory = disk = 0
    if "relu" in config.models or "reln" in config.models:
        sizes = (n_in, *config.relu.hidden, n_out)
        weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        memory += seeds * weights * (8 + 3 * itemsize)  # float64 draw, the weights, gradient, update
        snapshots = epochs // config.relu.snapshot_every + 1
        per_snapshot = sum(h * (2 * samples + 1) for h in config.relu.hidden) * itemsize + n_out * samples * itemsize
        relu_snapshots = seeds * snapshots * per_snapshot
        memory += relu_snapshots * (2 if "reln" in config.models else 1)
        kept = epochs // 100 + 2
        disk += seeds * kept * sum(h * (samples + itemsize) for h in config.relu.hidden)
        disk += seeds * weights * itemsize * (2 if "reln" in config.models else 1)
    disk += seeds * (epochs + 1) * itemsize * len(config.models)  # the loss curves
    return Estimate(memory=int(memory), disk=int(disk + FIGURES_BYTES))


def available_memory() -> int | None:
    """Bytes of memory available to a new process (Linux ``MemAvailable``), or ``None``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_resources(config: RunConfig, out_dir: Path) -> Estimate:
    """Refuse, before training, a run whose estimate exceeds the machine's available memory or the
    free space where ``out_dir`` goes, with a one-line error giving both numbers.

    Args:
        config: the validated config.
        out_dir: the output folder (need not exist yet).

    Returns:
        The :class:`Estimate`.
    """
    from reln.experiment.experiments import build_task

    task = build_task(config)
    need = estimate(config, task.n_in, task.n_out, task.P)
    gb = 1e9
    have = available_memory()
    fix = "use fewer seeds or epochs, smaller widths, or a larger [relu] snapshot_every"
    if have is not None and need.memory > have:
        raise RelnError(
            f"the run needs about {need.memory / gb:.1f} GB of memory by a rough estimate, and "
            f"{have / gb:.1f} GB are available; {fix}"
        )
    parent = Path(out_dir).expanduser().resolve()
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if need.disk > free:
        raise RelnError(
            f"the run's files need about {need.disk / gb:.2f} GB by a rough estimate, and '{parent}' has "
            f"{free / gb:.2f} GB free; {fix}, or another --out"
        )
    return need
