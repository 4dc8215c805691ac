"""Every figure kind a run draws, checked as a reader sees it: no text box over another, no empty
panel; the MDS pictures of different models turned onto one another."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from figure_checks import empty_axes, overlapping_texts
from reln.experiment.config import load_config, with_overrides
from reln.experiment.experiments import run_experiment, run_figures
from reln.viz.representation import align_to


def _figures(name: str, epochs: int, models=None, seeds=(0,)):
    config = with_overrides(load_config(name), seeds=seeds, epochs=epochs, models=models)
    return run_figures(run_experiment(config))


@pytest.fixture(scope="module")
def all_figures():
    models = ("relu", "reln", "paper_reln", "modular", "theory", "prediction", "prediction_seeded")  # every kind
    figures = {f"contexts-diff/{k}": v for k, v in _figures("contexts-diff", 1500, models=models).items()}
    figures |= {f"xor/{k}": v for k, v in _figures("xor", 1000).items()}
    depth = with_overrides(load_config("depth"), seeds=(0,), epochs=300)
    figures |= {f"depth/{k}": v for k, v in run_figures(run_experiment(depth)).items()}
    yield figures
    import matplotlib.pyplot as plt

    plt.close("all")


def test_every_figure_kind_is_drawn(all_figures):
    stems = {name.split("/")[1] for name in all_figures}
    for kind in ("loss", "loss_split", "structure", "outputs", "dataset", "mds", "rdm", "reln_phases", "theory_singular_values",
                 "paper_reln_singular_values", "modular_singular_values", "prediction_singular_values", "layers", "gating"):
        assert kind in stems, kind


def test_no_text_overlaps_another_and_no_panel_is_empty(all_figures):
    problems = {name: (overlapping_texts(fig), empty_axes(fig)) for name, fig in all_figures.items()}
    assert {name: p for name, p in problems.items() if p[0] or p[1]} == {}


@given(st.floats(0, 2 * np.pi), st.booleans(), st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_align_to_undoes_any_rotation_or_reflection(angle, reflect, seed):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(3, 8, 2))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if reflect:
        turn = turn @ np.diag([1.0, -1.0])
    moved = reference @ turn + rng.normal(size=2)
    np.testing.assert_allclose(align_to(reference, moved), reference, atol=1e-9)


def test_mds_panels_are_turned_onto_the_relu(all_figures):
    """MDS fixes a picture only up to a rotation: every model's panel but the ReLU's is turned
    onto the ReLU's (align_to), and says so."""
    titles = [ax.get_title() for ax in all_figures["contexts-diff/mds"].axes if ax.collections]
    assert titles[0].startswith("ReLU network") and "Procrustes" not in titles[0]
    assert len(titles) >= 2 and all("turned onto the ReLU's (Procrustes)" in t for t in titles[1:])


def test_sweep_figure_keeps_its_legends_and_notes_off_the_data():
    from reln.viz.plots import sweep_figure

    rng = np.random.default_rng(0)
    entries = [{"contexts": K, "mixed": list(rng.uniform(0, 1, 3)), "common": list(rng.uniform(0, 1, 3)),
                "modular": [0.0] * 3, "epoch_below_linear_floor": [int(4000 / K)] * 3,
                "epoch_below_half_linear_floor": [None, int(5000 / K), int(5100 / K)],
                "within_context_coverage": list(rng.uniform(0.6, 1, 3)),
                "at_half_loss": {"epoch": [800, None, 810], "common": [0.9, None, 0.95],
                                 "within_context_coverage": [0.8, None, 0.82]}} for K in range(2, 9)]
    fig = sweep_figure(entries, title="sweep")
    assert len(fig.axes) == 3
    assert overlapping_texts(fig) == [] and empty_axes(fig) == []
    for ax in fig.axes:  # legends sit below their axes
        legend = ax.get_legend()
        fig.canvas.draw()
        assert legend.get_window_extent().y1 <= ax.get_window_extent().y0


def test_pathways_have_one_order_in_every_figure():
    from reln.viz.plots import pathway_order, phase_structure_figure, structure_figure

    names = ["{2,3}", "{1}", "{1,2,3}", "{1,2}"]
    assert [names[i] for i in pathway_order(names)] == ["{1,2,3}", "{1,2}", "{2,3}", "{1}"]
    fig = structure_figure([{"name": n, "contexts": [int(c) - 1 for c in n[1:-1].split(",")], "weight_share": 0.25,
                             "weight_share_seeds": [0.25]} for n in names], 3, title="s")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["{1,2,3}", "{1,2}", "{2,3}", "{1}"]
    phases = [{"start": 0, "read": False, "units_per_seed": [{n: 5 for n in names}]}]
    legend = [t.get_text() for t in phase_structure_figure(phases, title="p").axes[0].get_legend().get_texts()]
    assert legend == ["{1,2,3}", "{1,2}", "{2,3}", "{1}"]
