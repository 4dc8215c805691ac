"""Run a grid sweep's (point, seed) tasks on a Dask cluster, resumably, and write its tidy table.

Every task is independent (:func:`reln.experiment.grid.run_point`), so the sweep is an embarrassingly
parallel map: a local cluster of one single-threaded worker process per core by default, or any
running Dask scheduler (``scheduler="tcp://host:8786"``, e.g. a SLURM allocation started with
dask-jobqueue, see the README). Each finished row is written at once to ``OUT/rows/KEY.json``, its
key a hash of the task's resolved config (:func:`reln.experiment.grid.task_key`); a sweep started again reuses
those rows and submits only the rest. The table, one row per (point, seed), is written as
``sweep.json``, ``sweep.csv`` and ``sweep.parquet``.

Workers of a local cluster run XLA on one thread each (``XLA_FLAGS``): the tasks are the
parallelism, and one process per core using every core's threads would oversubscribe the machine.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from reln.experiment.config import RunConfig
from reln.errors import RelnError
from reln.experiment.grid import Grid, grid_points, point_config, point_seeds, run_point, task_key

ONE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def sweep_tasks(base: RunConfig, grid: Grid) -> list[tuple[dict, int, RunConfig]]:
    """Every ``(point, seed, config)`` of the grid, points in grid order and seeds within.

    >>> from reln.experiment.config import load_config
    >>> tasks = sweep_tasks(load_config("contexts-diff"), [("train.lr", [1e-3, 2e-3])])
    >>> [(p["train.lr"], s) for p, s, _ in tasks][:4]
    [(0.001, 0), (0.001, 1), (0.001, 2), (0.002, 0)]
    """
    return [(point, seed, point_config(base, point, seed)) for point in grid_points(grid) for seed in point_seeds(base, point)]


def is_sweep_folder(folder: Path) -> bool:
    """Whether ``folder`` can take a sweep: new, empty, or a sweep's (it holds ``rows/``,
    ``sweep.json`` or ``validity.json``, or only such folders). Anything else is left alone.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> is_sweep_folder(folder / "new"), is_sweep_folder(folder)
    (True, True)
    >>> _ = (folder / "notes.txt").write_text("mine"); is_sweep_folder(folder)
    False
    """
    folder = Path(folder)
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    children = list(folder.iterdir())
    if not children or any((folder / mark).exists() for mark in ("rows", "sweep.json", "validity.json")):
        return True
    return all(child.is_dir() and is_sweep_folder(child) for child in children)


def check_sweep_folder(folder: Path) -> None:
    """Raise unless :func:`is_sweep_folder`: a sweep never writes into a folder it did not make."""
    if not is_sweep_folder(folder):
        raise RelnError(f"output folder '{folder}' is not empty and holds no sweep (rows/, sweep.json); "
                        "give a new or empty folder with --out")


def finished_rows(out_dir: Path) -> dict[str, dict]:
    """The rows a previous run of the sweep left in ``OUT/rows``, by task key."""
    rows = {}
    for path in sorted((out_dir / "rows").glob("*.json")):
        with contextlib.suppress(json.JSONDecodeError, OSError):  # a row cut short is recomputed
            row = json.loads(path.read_text())
            rows[row["key"]] = row
    return rows


def _write_row(out_dir: Path, row: dict) -> None:
    folder = out_dir / "rows"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{row['key']}.json.part"
    partial.write_text(json.dumps(row, default=_plain))
    partial.replace(folder / f"{row['key']}.json")  # atomic: a row is there whole or not at all


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else str(value)


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A ``dask.distributed.Client``: to ``scheduler`` if given, else to a local cluster of
    ``workers`` single-threaded processes (default: one per core), closed on exit."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise RelnError("sweeps need dask[distributed]: pip install 'dask[distributed]'") from error
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise RelnError(f"--workers must be at least 1, got {workers}")
    env = {"XLA_FLAGS": ONE_THREAD_XLA, "OMP_NUM_THREADS": "1"}
    with LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR, env=env,
    ) as cluster, Client(cluster) as client:
        yield client


def run_sweep(
    base: RunConfig,
    grid: Grid,
    out_dir: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    compile_cache: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    client=None,
) -> list[dict]:
    """Run every (point, seed) not already in ``out_dir`` on Dask; return all rows in grid order
    and write ``sweep.csv`` and ``sweep.parquet``.

    Args:
        base: the config every point modifies (its seeds are each point's seeds).
        grid: ``(key, values)`` pairs (:func:`reln.experiment.grid.parse_grid_option`).
        out_dir: the sweep's folder; its ``rows/`` makes the sweep resumable.
        workers: local worker processes (default: the cores); ignored with ``scheduler``.
        scheduler: address of a running Dask scheduler.
        compile_cache: folder of the workers' persistent XLA cache (``None``: none).
        progress: called as ``progress(done, total)`` after each finished task, reused ones first.
        client: a ``dask.distributed.Client`` to use (several sweeps on one cluster); default:
            one made from ``workers`` or ``scheduler`` for this sweep, closed at its end.

    Returns:
        One dict per (point, seed): :func:`reln.experiment.grid.run_point`'s row.
    """
    tasks = sweep_tasks(base, grid)
    keys = [task_key(config) for _, _, config in tasks]
    if len(set(keys)) != len(keys):
        raise RelnError("two points of the grid resolve to the same config; remove the repeated values")
    check_sweep_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {k: r for k, r in finished_rows(out_dir).items() if k in set(keys)}
    todo = [(key, task) for key, task in zip(keys, tasks) if key not in rows]
    if progress is not None:
        progress(len(rows), len(tasks))
    if todo:
        from dask.distributed import as_completed

        with (contextlib.nullcontext(client) if client is not None else dask_client(workers, scheduler)) as client:
            futures = [
                client.submit(_run_task, config, point, seed, key, compile_cache, key=f"reln-{key}", pure=False)
                for key, (point, seed, config) in todo
            ]
            for future in as_completed(futures):
                row = future.result()
                _write_row(out_dir, row)
                rows[row["key"]] = row
                if progress is not None:
                    progress(len(rows), len(tasks))
    ordered = [rows[k] for k in keys]
    write_table(ordered, out_dir)
    return ordered


def _run_task(config: RunConfig, point: dict, seed: int, key: str, compile_cache: str | None) -> dict:
    """What a worker runs: set its XLA cache once, then one (point, seed) under the driver's key."""
    from reln.experiment.compile_cache import use_compilation_cache

    use_compilation_cache(compile_cache)
    return run_point(config, point, seed, key)


def table_columns(rows: Sequence[dict]) -> list[str]:
    """Columns in first-seen order: key, grid values, seed, status, the numbers, seconds last.

    >>> table_columns([{"key": "a", "seconds": 1.0, "status": "ok"}, {"key": "b", "reln.gap_max": 0.1}])
    ['key', 'status', 'reln.gap_max', 'seconds']
    """
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return [c for c in columns if c != "seconds"] + (["seconds"] if "seconds" in columns else [])


def write_table(rows: Sequence[dict], out_dir: Path) -> list[Path]:
    """Write the sweep's rows, one per (point, seed), in grid order: ``sweep.json`` (typed, as the
    figures read them), ``sweep.csv`` and ``sweep.parquet``."""
    (out_dir / "sweep.json").write_text(json.dumps(list(rows), indent=1, default=_plain))
    columns = table_columns(rows)
    cells = [{c: _cell(row.get(c)) for c in columns} for row in rows]  # csv writes None as an empty cell
    path = out_dir / "sweep.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(cells)
    written = [out_dir / "sweep.json", path]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - a dependency of the package
        return written
    table = pa.Table.from_pylist(cells)
    pq.write_table(table, out_dir / "sweep.parquet")
    return written + [out_dir / "sweep.parquet"]


def _cell(value):
    """Lists and dicts (a list-valued grid key) as JSON text; everything else as it is."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value
