"""Tests of grid sweeps: the grid as data, the rows, a real two-worker Dask cluster, resuming,
failed points as results, the figures, and the validity map's preset."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.experiment.config import load_config, with_overrides, with_values
from reln.errors import RelnError
from reln.experiment.grid import boundary, grid_points, metrics_row, parse_grid_option, point_config, point_seeds, task_key


@given(st.lists(st.lists(st.integers(-5, 50), min_size=1, max_size=4, unique=True), min_size=1, max_size=3))
@settings(max_examples=40, deadline=None)
def test_grid_points_are_the_product_of_the_values(value_lists):
    grid = [(f"t.k{i}", values) for i, values in enumerate(value_lists)]
    points = grid_points(grid)
    assert len(points) == math.prod(len(v) for v in value_lists)
    assert len({tuple(p.values()) for p in points}) == len(points)
    assert all(p[f"t.k{i}"] in value_lists[i] for p in points for i in range(len(value_lists)))


@given(st.lists(st.floats(1e-6, 1.0, allow_nan=False), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None)
def test_parse_grid_option_reads_the_numbers_back(values):
    key, parsed = parse_grid_option("train.lr=" + ",".join(repr(v) for v in values))
    assert key == "train.lr" and parsed == values


@pytest.mark.parametrize("text", ["train.lr", "lr=1,2", "train.lr=", "train.lr=1,,2", "=1"])
def test_parse_grid_option_rejects_malformed(text):
    with pytest.raises(RelnError, match="grid"):
        parse_grid_option(text)


def test_point_config_sets_the_values_and_one_seed():
    base = load_config("contexts-diff")
    config = point_config(base, {"train.lr": 0.002, "relu.hidden": [50], "train.batch_size": 6}, 2)
    assert (config.train.lr, config.relu.hidden, config.train.batch_size, config.train.seeds) == (0.002, (50,), 6, (2,))
    assert point_seeds(base, {"train.lr": 1.0}) == [0, 1, 2]
    assert point_seeds(base, {"train.seeds": 4}) == [4]
    assert task_key(config) != task_key(point_config(base, {"train.lr": 0.002, "relu.hidden": [50]}, 2))
    with pytest.raises(RelnError, match="unknown config key"):
        point_config(base, {"train.speed": 1}, 0)
    with pytest.raises(RelnError, match="lr must be positive"):
        with_values(base, {"train.lr": -1.0})


def test_metrics_row_reads_one_seed():
    metrics = {
        "relu": {"epoch_below": {"0.5": [100], "0.1": [None]}, "loss_final": [0.5],
                 "selectivity": {"common": [0.6], "mixed": [0.4], "modular": [0.0]}},
        "reln": {"gap_to_relu": {"max": [0.02], "mean": [0.001]}, "loss_final": [0.51]},
    }
    row = metrics_row(metrics, ("relu", "reln", "theory"))
    assert row == {"relu.ep50": 100, "relu.ep10": None, "relu.loss_final": 0.5, "relu.common": 0.6, "relu.mixed": 0.4,
                   "relu.modular": 0.0, "reln.gap_max": 0.02, "reln.gap_mean": 0.001, "reln.loss_final": 0.51}


def test_boundary_counts_failures_as_past_the_level():
    rows = [{"w": w, "m": m, "status": s} for w, m, s in
            [(1, 0.01, "ok"), (1, 0.02, "ok"), (2, 0.03, "ok"), (2, None, "diverged"), (2, None, "diverged")]]
    edge = boundary(rows, "w", "m", 0.05)
    assert edge["medians"][1] == pytest.approx(0.015)
    assert edge["first_past"] == 2


def _tiny_base():
    base = with_overrides(load_config("contexts-diff"), seeds=(0, 1), epochs=200, models=("relu", "reln", "theory"))
    return with_values(base, {"relu.hidden": [40], "relu.snapshot_every": 10})


@pytest.fixture(scope="module")
def two_workers():
    """A real local Dask cluster of two worker processes, shared by the tests of this module."""
    from reln.experiment.distributed import dask_client

    with dask_client(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client


def test_sweep_on_a_two_worker_local_cluster_resumes_and_keeps_failures(tmp_path, monkeypatch, two_workers):
    from reln.experiment import distributed

    grid = [("train.lr", [1e-3, 50.0])]  # lr = 50 kills the ReLU: a row with its status, not a crash
    seen = []
    rows = distributed.run_sweep(_tiny_base(), grid, tmp_path, client=two_workers,
                                 progress=lambda d, n: seen.append((d, n)))
    assert [(r["train.lr"], r["seed"]) for r in rows] == [(1e-3, 0), (1e-3, 1), (50.0, 0), (50.0, 1)]
    ok, failed = rows[:2], rows[2:]
    assert all(r["status"] == "ok" for r in ok)
    assert all(r["status"].startswith("model 'relu'") for r in failed) and all("relu.ep50" not in r for r in failed)
    assert all(0 <= r["reln.gap_max"] < 0.05 and r["relu.loss_final"] > 0 for r in ok)
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    for name in ("sweep.json", "sweep.csv", "sweep.parquet"):
        assert (tmp_path / name).exists()
    assert json.loads((tmp_path / "sweep.json").read_text()) == json.loads(json.dumps(rows))

    # Resuming: every row is reused, no cluster is started.
    def no_cluster(*args, **kwargs):
        raise AssertionError("a finished sweep must not start a cluster")

    monkeypatch.setattr(distributed, "dask_client", no_cluster)
    again = distributed.run_sweep(_tiny_base(), grid, tmp_path, workers=2)
    assert again == rows


def test_parquet_table_has_one_row_per_run_and_seed(tmp_path):
    import pyarrow.parquet as pq

    from reln.experiment.distributed import write_table

    rows = [{"key": "a", "train.lr": 0.001, "seed": 0, "status": "ok", "reln.gap_max": 0.01, "seconds": 1.0},
            {"key": "b", "train.lr": 0.002, "seed": 0, "status": "diverged", "seconds": 0.5}]
    write_table(rows, tmp_path)
    table = pq.read_table(tmp_path / "sweep.parquet").to_pylist()
    assert [r["key"] for r in table] == ["a", "b"] and table[1]["reln.gap_max"] is None
    assert (tmp_path / "sweep.csv").read_text().splitlines()[0] == "key,train.lr,seed,status,reln.gap_max,seconds"


def _fake_rows(keys_values, failed=()):
    rng = np.random.default_rng(0)
    rows = []
    for point in grid_points(keys_values):
        for seed in (0, 1):
            bad = tuple(point.values()) in failed
            rows.append({**point, "seed": seed, "status": "diverged" if bad else "ok",
                         "reln.gap_max": None if bad else float(rng.uniform(0, 0.1)),
                         "theory.gap_max": None if bad else float(rng.uniform(0, 0.1))})
    return rows


def _text_overlaps(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for ax in fig.axes for t in
             ax.get_xticklabels() + ax.get_yticklabels() + [ax.title, ax.xaxis.label, ax.yaxis.label] if t.get_text()]
    return sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_grid_figures_draw_lines_and_maps_without_overlapping_labels():
    from reln.viz.grid_figures import grid_figures

    lines = grid_figures(_fake_rows([("train.batch_size", [24, 6, 1])], failed={(1,)}), ["train.batch_size"],
                         "reln.gap_max", level=0.05, title="batch")
    maps = grid_figures(_fake_rows([("relu.init_std", [1e-5, 1e-3, 1e-1]), ("train.lr", [1e-3, 1e-2])], failed={(1e-1, 1e-2)}),
                        ["relu.init_std", "train.lr"], "reln.gap_max", level=0.05, title="init-lr")
    assert list(lines) == ["sweep-lines.png"] and sorted(maps) == ["sweep-map-reln.png", "sweep-map-theory.png"]
    for fig in [*lines.values(), *maps.values()]:
        assert all(ax.has_data() or ax.images for ax in fig.axes if ax.get_label() != "<colorbar>")
        assert _text_overlaps(fig) == 0


def test_validity_preset_covers_the_limits_the_issue_names():
    from reln.experiment.validity import load_sweep

    spec = load_sweep("validity")
    grids = {m.name: dict(m.grid) for m in spec.maps}
    inits = grids["init-lr"]["relu.init_std"]
    assert len(inits) >= 6 and max(inits) / min(inits) >= 1e3
    assert len(grids["init-lr"]["train.lr"]) >= 4
    from reln.experiment.experiments import build_task

    assert max(grids["batch"]["train.batch_size"]) >= build_task(load_config(spec.base)).P  # full batch ...
    assert min(grids["batch"]["train.batch_size"]) == 1  # ... down to one sample
    widths = grids["width"]["relu.hidden"]
    assert len(widths) >= 5 and min(widths) <= 50 and max(widths) >= 2000
    assert spec.seeds is not None and len(spec.seeds) >= 3


def test_reduced_validity_map_runs_and_summarizes(tmp_path, two_workers):
    from reln.experiment.validity import load_sweep, reduced, run_validity, validity_figures

    from reln.experiment.io import figure_writer
    from reln.viz.report import report_page

    spec = reduced(load_sweep("validity"), epochs=60)
    out = tmp_path
    tmp_path = out / "validity"
    summary = run_validity(spec, tmp_path, client=two_workers)
    assert set(summary["maps"]) == {"init-lr", "batch", "width", "lr-batch"}
    assert summary["maps"]["init-lr"]["runs"] == 4 and summary["maps"]["batch"]["runs"] == 2
    assert summary["maps"]["lr-batch"]["runs"] == 4
    written = json.loads((tmp_path / "validity.json").read_text())
    assert written["maps"]["width"]["boundaries"]["relu.hidden"]["reln.gap_max"]["level"] == 0.05
    figures = validity_figures(spec, tmp_path)
    assert {p.name for p in figures} == {"sweep-map-reln.png", "sweep-map-theory.png", "sweep-lines.png"}
    assert len(figures) == 6
    for path, figure in figures.items():
        figure_writer(figure)(path)
    page = report_page(out, ["validity"])
    assert "Where the picture holds" in page and "min of task time" in page
    for src in re.findall(r'src="([^"]+)"', page):
        assert (out / src).is_file(), src


def test_a_failed_model_keeps_the_other_models_numbers(monkeypatch):
    """When the compact ReLN diverges at a point, the row keeps the ReLU's and the theory's numbers
    and says which model failed; the map then counts the ReLN as past every level there."""
    import reln.experiment.experiments
    from reln.errors import ModelFailed
    from reln.experiment.grid import run_point

    calls = []

    class Run:
        metrics = {"relu": {"epoch_below": {"0.5": [10], "0.1": [20]}, "loss_final": [0.1]},
                   "theory": {"gap_to_relu": {"max": [0.02], "mean": [0.01]}, "loss_final": [0.1]}}

    def fake_run(config, progress=None):
        calls.append(config.models)
        if "reln" in config.models:
            raise ModelFailed("reln", "model 'reln' (seeds 0, by index): training diverged: loss became inf")
        return Run()

    monkeypatch.setattr(reln.experiment.experiments, "run_experiment", fake_run)
    config = _tiny_base()
    row = run_point(config, {"train.lr": 0.08}, 0)
    assert calls == [("relu", "reln", "theory"), ("relu", "theory")]
    assert row["status"] == "ok" and row["theory.gap_max"] == 0.02 and row["relu.ep50"] == 10
    assert row["reln.status"].startswith("model 'reln'") and "reln.gap_max" not in row
    assert boundary([row | {"train.lr": 0.08}], "train.lr", "reln.gap_max", 0.05)["first_past"] == 0.08
