"""Cost of drawing and writing a run's figures: the layout computed once per figure against once per file.

The run is the paper's three-context task (``contexts-diff``, every model of the preset, seeds 0, 1, 2),
trained once and kept in a pickle (``--cache``; ``--fresh`` trains it again) so that only the figure
work is timed. Each repeat builds every figure (:func:`reln.experiment.experiments.run_figures`) and
writes each as PNG and PDF with :func:`reln.experiment.io.write_all`, two ways:

* ``baseline``: one plain ``savefig`` per format, so constrained layout (and the extra draw that
  ``savefig`` makes for it) runs again for the PDF: what the writers did before.
* ``ours``: :func:`reln.experiment.io.figure_writers`: the layout engine runs once per figure, on
  its own, and both files are printed at its positions (the PNG bytes are those of the baseline).

One untimed round first imports everything (scikit-learn, fonts) for both. Every time is the median
of ``--repeats`` runs, the two ways interleaved within each repeat, as wall seconds and as this
process's CPU seconds (the work is single-threaded, and CPU time is steadier on a busy machine);
the ratios are baseline / ours.

    .venv/bin/python benchmarks/bench_figures.py [--repeats 3] [--cache /tmp/reln_bench_figures_run.pkl] [--fresh]
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from reln.experiment.config import load_config, with_overrides  # noqa: E402
from reln.experiment.experiments import run_experiment, run_figures  # noqa: E402
from reln.experiment.io import figure_writer, figure_writers, write_all  # noqa: E402

SEEDS = (0, 1, 2)


def cached_run(path: Path, fresh: bool):
    """The benchmark's run: read from ``path``, or trained (and pickled there)."""
    if path.is_file() and not fresh:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    start = time.perf_counter()
    run = run_experiment(with_overrides(load_config("contexts-diff"), seeds=SEEDS))
    print(f"trained contexts-diff, seeds {SEEDS}, in {time.perf_counter() - start:.1f} s; kept in {path}")
    with open(path, "wb") as handle:
        pickle.dump(run, handle)
    return run


def baseline_writers(stem: str, figure, formats=("png", "pdf"), dpi: int = 130) -> dict:
    """The plain way: every file its own ``savefig`` (:func:`reln.experiment.io.figure_writer`),
    with the figure's layout engine in force."""
    return {f"{stem}.{fmt}": figure_writer(figure, fmt, dpi, close=k == len(formats) - 1) for k, fmt in enumerate(formats)}


def figures_and_files(run, writers_of, folder: Path) -> dict[str, float]:
    """Wall and CPU seconds to build every figure of ``run`` and to write them all into ``folder``."""
    wall, cpu = time.perf_counter(), time.process_time()
    figures = run_figures(run)
    built_wall, built_cpu = time.perf_counter(), time.process_time()
    writers = {}
    for stem, figure in figures.items():
        writers |= writers_of(stem, figure)
    write_all(folder, writers)
    return {"build wall": built_wall - wall, "write wall": time.perf_counter() - built_wall,
            "build cpu": built_cpu - cpu, "write cpu": time.process_time() - built_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "reln_bench_figures_run.pkl")
    parser.add_argument("--fresh", action="store_true", help="train the run again instead of reading the cache")
    args = parser.parse_args()
    run = cached_run(args.cache, args.fresh)
    ways = {"baseline": baseline_writers, "ours": figure_writers}
    parts = ("build wall", "write wall", "build cpu", "write cpu")
    times = {way: {part: [] for part in parts} for way in ways}
    with tempfile.TemporaryDirectory() as root:
        for way, writers_of in ways.items():  # untimed: imports, font cache
            figures_and_files(run, writers_of, Path(root) / way)
        for _ in range(args.repeats):
            for way, writers_of in ways.items():
                for part, seconds in figures_and_files(run, writers_of, Path(root) / way).items():
                    times[way][part].append(seconds)
        n_files = len(list((Path(root) / "ours").glob("*.p*")))
    print(f"figures of contexts-diff, seeds {SEEDS}: {n_files} files (PNG and PDF), "
          f"medians of {args.repeats} (seconds)")
    totals = {}
    for way in ways:
        for clock in ("wall", "cpu"):
            build, write = times[way][f"build {clock}"], times[way][f"write {clock}"]
            totals[way, clock] = float(np.median(np.add(build, write)))
            print(f"  {way:8s} {clock:4s}  build {np.median(build):6.2f}  write {np.median(write):6.2f}  "
                  f"total {totals[way, clock]:6.2f}   (write runs {', '.join(f'{t:.2f}' for t in write)})")
    for clock in ("wall", "cpu"):
        print(f"  baseline / ours, {clock}: {totals['baseline', clock] / totals['ours', clock]:.2f}x")

if __name__ == "__main__":
    main()
