"""Figures: each returns a figure with content and can be written as PNG and PDF (a run writing
every figure is checked by the run-contract test in test_cli.py)."""

import io

import numpy as np
import pytest

from reln.viz import plots
from reln.experiment.io import figure_writers, write_all
from reln.tasks import contextual_task


@pytest.fixture(scope="module")
def task():
    return contextual_task(items=4, contexts=3, structures=["hierarchy", "cross", "hierarchy"])


def _rendered_bytes(figure, fmt="png") -> int:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    plots.plt.close(figure)
    return buffer.tell()


def _images(figure) -> int:
    return sum(len(ax.images) for ax in figure.axes)


def test_dataset_figure_shows_inputs_and_targets_by_context(task):
    figure = plots.dataset_figure(task, title="data")
    assert _images(figure) == 2
    labels = {t.get_text() for ax in figure.axes for t in ax.get_xticklabels()}
    assert {"context 1", "context 2", "context 3"} <= labels  # numbered from 1
    assert _rendered_bytes(figure) > 5_000


def test_output_figure_puts_timelines_and_final_only_models_apart(task):
    rng = np.random.default_rng(0)
    outputs = {
        "relu": (np.array([0, 50, 100]), rng.normal(size=(3, task.n_out, task.P))),
        "reln": (np.array([100]), rng.normal(size=(1, task.n_out, task.P))),
        "modular": (np.array([100]), rng.normal(size=(1, task.n_out, task.P))),
    }
    figure = plots.output_figure(outputs, task.Y, task.context, output_blocks=task.output_blocks, title="out")
    assert _images(figure) == 3 + 2 + 2  # ReLU over time, the two final-only panels, a target per row
    titles = [ax.get_title() for ax in figure.axes]
    assert "epoch 50" in titles and any(t.startswith("compact ReLN") for t in titles)
    norm = figure.axes[0].images[0].norm
    assert norm.vmin == -norm.vmax  # symmetric limits: zero in the middle of the colour map
    assert _rendered_bytes(figure, "pdf") > 5_000


def test_mds_figure_draws_paths_and_labels_items(task):
    rng = np.random.default_rng(1)
    points = np.cumsum(rng.normal(size=(5, task.P, 2)), axis=0)
    figure = plots.mds_figure({"relu": (np.arange(5) * 10, points)}, task.context, task.item, title="mds")
    ax = figure.axes[0]
    assert len(ax.lines) == task.P and len(ax.collections) > task.P
    assert len(figure.legends[0].get_texts()) == task.n_contexts + 2
    assert _rendered_bytes(figure) > 5_000


def test_coinciding_points_share_one_label():
    points = np.array([[0.0, 0.0], [0.001, 0.0], [1.0, 0.0], [0.0, 0.0]])
    assert plots._coinciding(points, np.array([0, 0, 0, 1]), 0.01) == [[0, 1], [2], [3]]


def test_rdm_figure_has_one_panel_per_model_on_one_scale(task):
    from reln.viz.representation import rdm

    rdms = {"relu": rdm(task.Y + 0.1), "reln": rdm(task.Y), "target Y": rdm(task.Y)}
    figure = plots.rdm_figure(rdms, task.context, title="rdm")
    assert _images(figure) == 3
    assert len({im.get_clim() for ax in figure.axes for im in ax.images}) == 1
    assert _rendered_bytes(figure) > 5_000


def test_loss_figure_marks_plateaus():
    losses = {"relu": np.linspace(10, 1, 50)[None]}
    figure = plots.loss_figure(losses, title="loss", linear_floor=3.0, plateaus={"start": 10.0})
    texts = [t.get_text() for legend in (ax.get_legend() for ax in figure.axes) if legend for t in legend.get_texts()]
    assert any(t.startswith("start") for t in texts) and any(t.startswith("best linear map") for t in texts)
    plots.plt.close(figure)


def test_figure_epochs_follow_the_loss():
    loss = np.concatenate([np.full(30, 10.0), np.linspace(10, 0.5, 71)])
    # below 0.9 L0 at t = 38, 0.5 L0 at t = 67, 0.1 L0 at t = 97: the next snapshots, and the last
    assert plots.figure_epochs(loss, np.arange(0, 101, 10)) == [40, 70, 100]
    assert plots.figure_epochs(np.full(11, 5.0), np.arange(0, 101, 10)) == [100]  # never learns


def test_figure_writers_write_png_and_pdf(tmp_path):
    figure = plots.dataset_figure(contextual_task(items=4, contexts=2), title="data")
    paths = write_all(tmp_path, figure_writers("data", figure))
    assert [p.name for p in paths] == ["data.png", "data.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_figure_writers_lay_out_once_and_write_the_plain_png(tmp_path):
    data = contextual_task(items=4, contexts=2)
    plain = plots.dataset_figure(data, title="data")
    buffer = io.BytesIO()
    plain.savefig(buffer, format="png", dpi=130)
    positions = [ax.get_position().bounds for ax in plain.axes]
    plots.plt.close(plain)

    figure = plots.dataset_figure(data, title="data")
    engine = figure.get_layout_engine()
    runs = []
    execute = engine.execute
    engine.execute = lambda fig: (runs.append(fig), execute(fig))[1]
    paths = write_all(tmp_path, figure_writers("data", figure))
    assert len(runs) == 1  # once for both files: the PDF is printed where the PNG's layout put things
    assert paths[0].read_bytes() == buffer.getvalue()  # the PNG is the one savefig writes by itself
    assert [ax.get_position().bounds for ax in figure.axes] == positions
    assert figure.get_layout_engine() is engine  # put back after the saves
