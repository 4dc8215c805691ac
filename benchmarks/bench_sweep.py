"""Wall time of a grid sweep on N Dask workers against the same sweep on one, in the same run.

The sweep is 4 learning rates x 4 init stds x 3 seeds of ``contexts-diff`` (48 tasks, 2000 epochs,
models relu, reln, theory), the size the sweep issue asks for. Each repeat runs it with one worker
and with ``--workers``, back to back, each into a fresh folder with a cold XLA cache of its own (so
neither reuses the other's compilations); the ratio of medians is printed.

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from reln.experiment.config import load_config, with_overrides
from reln.experiment.distributed import run_sweep

GRID = [("train.lr", [1e-3, 2e-3, 4e-3, 8e-3]), ("relu.init_std", [7e-6, 7e-5, 7e-4, 7e-3])]


def timed(workers: int, base) -> float:
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        rows = run_sweep(base, GRID, Path(folder) / "out", workers=workers, compile_cache=str(Path(folder) / "xla"))
        seconds = time.perf_counter() - began
    assert len(rows) == 48 and all(r["status"] == "ok" for r in rows)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    base = with_overrides(load_config("contexts-diff"), seeds=(0, 1, 2), epochs=2000, models=("relu", "reln", "theory"))
    one, many = [], []
    for _ in range(args.repeats):
        one.append(timed(1, base))
        many.append(timed(args.workers, base))
        print(f"1 worker {one[-1]:.1f} s, {args.workers} workers {many[-1]:.1f} s", flush=True)
    print(f"median: 1 worker {statistics.median(one):.1f} s, {args.workers} workers {statistics.median(many):.1f} s, "
          f"ratio {statistics.median(many) / statistics.median(one):.3f}")


if __name__ == "__main__":  # worker processes re-import this file: only the main process runs the sweep
    main()
