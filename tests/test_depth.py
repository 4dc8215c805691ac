"""Deep ReLU networks and their ReLNs: per-layer structure, the depth figures, the gating rules.

Small deep networks here; the full ``depth`` preset (30001 epochs, ~25 s a seed) is ``slow``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.experiment.config import config_from_dict, load_config, with_overrides
from reln.experiment.experiments import run_experiment, run_outputs
from reln.experiment.io import write_all
from reln.viz.plots import layer_structure_figure, loss_figure, nearest_to_mean
from reln.models.losses import half_sse
from reln.models.init import init_relu
from reln.models.relu import relu_forward, relu_gates
from reln.tasks import contextual_task
from reln.gates.replay import ReplayOptions
from reln.models.gated import gated_forward
from reln.relns.unit_gated import fit_switching_network, per_hidden_layer
from reln.errors import RelnError


def test_nearest_to_mean_picks_the_middle_run():
    t = np.linspace(0, 1, 50)
    curves = np.stack([np.exp(-3 * t), np.exp(-3.6 * t), np.exp(-5 * t), np.exp(-2 * t)])
    assert nearest_to_mean(curves) == int(np.argmin([np.sum((c - curves.mean(0)) ** 2) for c in curves]))
    assert nearest_to_mean(curves) in (0, 1)


def test_loss_figure_draws_a_real_seed_bold():
    rng = np.random.default_rng(0)
    losses = {"relu": 10 * np.exp(-np.linspace(0, 3, 40))[None] + rng.uniform(0, 0.5, (5, 1))}
    figure = loss_figure(losses, title="depth", seeds=[10, 11, 12, 13, 14], bold="nearest")
    bold = [line for line in figure.axes[0].lines if line.get_linewidth() > 1.5]
    assert len(bold) == 1
    nearest = nearest_to_mean(losses["relu"])
    np.testing.assert_array_equal(bold[0].get_ydata(), losses["relu"][nearest])
    assert f"seed {10 + nearest})" in bold[0].get_label()
    with pytest.raises(ValueError, match="bold"):
        loss_figure(losses, title="x", bold="median")


def test_per_hidden_layer_broadcasts_and_checks_the_length():
    assert per_hidden_layer("sample", 3, "gate_level") == ["sample"] * 3
    assert per_hidden_layer([0.0, 0.1], 2, "gate_threshold") == [0.0, 0.1]
    with pytest.raises(RelnError, match="one per hidden layer"):
        per_hidden_layer(["sample"], 2, "gate_level")


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(2, 10), min_size=2, max_size=3))
def test_a_deep_relu_networks_gradient_is_the_gated_linear_networks_with_its_own_gates(seed, hidden):
    """The GDLN identity at the level of learning: with the gates held at the ReLU's own signs,
    the gated linear network's gradient is the ReLU network's, layer by layer (so gradient descent
    on either moves the weights alike while no gate flips)."""
    task = contextual_task(4, 3, "hierarchy")
    weights = [jnp.asarray(w) for w in init_relu(np.random.default_rng(seed), (task.n_in, *hidden, task.n_out), 0.5)]
    with jax.enable_x64(True):
        X, Y = jnp.asarray(task.X, jnp.float64), jnp.asarray(task.Y, jnp.float64)
        weights = [w.astype(jnp.float64) for w in weights]
        gates = [jnp.asarray(g, jnp.float64) for g in relu_gates(weights, X)]
        relu = jax.grad(lambda w: half_sse(relu_forward(w, X), Y))(weights)
        gated = jax.grad(lambda w: half_sse(gated_forward(w, X, gates), Y))(weights)
        for g_relu, g_gated in zip(relu, gated):
            np.testing.assert_allclose(g_gated, g_relu, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def deep_relu(train_small_relu):
    task = contextual_task(4, 3, "hierarchy")
    return task, *train_small_relu(task, (16, 12), 0.1, (0, 1), epochs=300, snapshot_every=10)


def test_per_layer_gate_levels_in_the_switching_network(deep_relu):
    """A list of gate levels applies per hidden layer: sample gates in layer 1 and context gates
    in layer 2 give a network between the all-sample and the all-context ones."""
    task, relu, initial = deep_relu
    runs = {}
    with jax.enable_x64(True):
        for name, level in {"sample": "sample", "mixed": ["sample", "context"], "context": "context"}.items():
            options = ReplayOptions(gate_level=level, gate_threshold=0.0, regroup_every=10, fine_until=50)
            runs[name], description = fit_switching_network(task, relu, initial, options, lr=0.02, x64=True)
            assert description["gate_level"] == level
    assert not np.allclose(runs["mixed"].loss, runs["sample"].loss)
    assert not np.allclose(runs["mixed"].loss, runs["context"].loss)
    with pytest.raises(RelnError, match="gate_level"):
        fit_switching_network(task, relu, initial, ReplayOptions(gate_level=["sample"] * 3), lr=0.02)


def _small_deep_config(hidden):
    return config_from_dict({
        "models": ["relu", "replay"],
        "task": {"kind": "contexts", "items": 4, "contexts": 3, "structures": "hierarchy", "common": "hierarchy"},
        "relu": {"hidden": hidden, "init_std": 0.1, "snapshot_every": 10},
        "train": {"lr": 0.02, "epochs": 300, "seeds": [0, 1]},
    }, name="small-deep")


def test_deep_run_reports_every_layer_and_draws_the_layer_figure(tmp_path):
    run = run_experiment(_small_deep_config([16, 12, 8]))
    layers = run.metrics["relu"]["layers"]
    assert [entry["layer"] for entry in layers] == [1, 2, 3]
    for entry in layers:
        total = np.sum([p["weight_share"] for p in entry["pathways"]], axis=0) + np.asarray(entry["selectivity"]["silent"])
        np.testing.assert_allclose(total, 1.0, atol=1e-6)  # pathways and unassigned weight cover the layer
        kind = {3: "common", 2: "mixed", 1: "modular"}
        for name in ("common", "mixed", "modular"):
            want = np.sum([p["weight_share"] for p in entry["pathways"] if kind[len(p["contexts"])] == name] or [[0.0, 0.0]], axis=0)
            np.testing.assert_allclose(entry["selectivity"][name], want, atol=1e-6)
    written = {p.name: p for p in write_all(tmp_path, run_outputs(run))}  # writing closes the figures
    assert written["layers.png"].stat().st_size > 5_000 and "loss.png" in written


def test_one_hidden_layer_run_has_no_layer_figure(tmp_path):
    run = run_experiment(_small_deep_config([16]))
    assert "layers" not in run.metrics["relu"]
    assert "layers.png" not in {p.name for p in write_all(tmp_path, run_outputs(run))}


def test_layer_structure_figure_shows_every_layer():
    layers = [
        {"layer": 1, "pathways": [{"contexts": [0, 1, 2], "weight_share": [0.99, 1.0]}],
         "selectivity": {"common": [0.99, 1.0], "mixed": [0.0, 0.0], "modular": [0.0, 0.0], "silent": [0.01, 0.0]}},
        {"layer": 2, "pathways": [{"contexts": [0, 1, 2], "weight_share": [0.8, 0.7]}, {"contexts": [0, 1], "weight_share": [0.2, 0.3]}],
         "selectivity": {"common": [0.8, 0.7], "mixed": [0.2, 0.3], "modular": [0.0, 0.0], "silent": [0.0, 0.0]}},
    ]
    figure = layer_structure_figure(layers, 3, title="t")
    titles = [ax.get_title() for ax in figure.axes]
    assert "hidden layer 1" in titles and "hidden layer 2" in titles and "selectivity" in titles


def test_pinned_kinks_in_the_second_layer_let_the_replay_track_a_deep_relu():
    """On a small deep network (8 items, 3 contexts, 11-100-100-60, init std 3e-3, 8001 epochs,
    seeds 0, 1: ~3 s): with pinned pairs of the second hidden layer pulled to their kink
    (reln.gates.kinks.kink_penalty) the replay stays within the depth preset's bounds (measured
    max .078-.092, mean .0055-.0066); with that penalty made too soft to act (stiffness 1e-4) it
    leaves the ReLU's plateau ~500-1000 epochs early (max .18-.26, mean .053-.065)."""
    gaps = {}
    for stiffness in (0.02, 1e-4):
        run = run_experiment(config_from_dict({
            "models": ["relu", "replay"],
            "task": {"kind": "contexts", "items": 8, "contexts": 3, "structures": "hierarchy", "common": "hierarchy"},
            "relu": {"hidden": [100, 100], "init_std": 3e-3, "snapshot_every": 10},
            "replay": {"kink_stiffness": stiffness},
            "train": {"lr": 1e-3, "epochs": 8001, "seeds": [0, 1]},
        }, name="small-deep-kinks"))
        gaps[stiffness] = run.metrics["replay"]["gap_to_relu"]
        assert run.metrics["replay"]["kink_stiffness"] == stiffness
    assert max(gaps[0.02]["max"]) <= 0.15 and max(gaps[0.02]["mean"]) <= 0.01
    assert min(gaps[1e-4]["mean"]) > 3 * max(gaps[0.02]["mean"])


@pytest.mark.slow
def test_depth_preset_relu_matches_the_reference_and_its_plateaus():
    """docs/theory.md §7: ReLU ep(0.5) 11946-12213 (within 5%), plateaus 96 -> 66 -> 30 -> ~12."""
    config = with_overrides(load_config("depth"), seeds=(0,), models=("relu",))
    run = run_experiment(config)
    loss = run.trajectories["relu"].loss[0]
    assert 0.95 * 11946 <= run.metrics["relu"]["epoch_below"]["0.5"][0] <= 1.05 * 12213
    assert abs(loss[3000] - 96) < 0.5 and abs(loss[7000] - 66) < 1.5 and abs(loss[15000] - 30) < 2
    assert loss[-1] < 13
