"""Building the ReLN from an identification: input masks from the data, weights from the ReLU's units."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from reln.models.init import RELU_STREAM, seed_rng
from reln.models.gdln import gdln_forward, pathway_outputs
from reln.identification.identify import identify
from reln.errors import RelnError
from reln.gates.replay import sliding_schedule
from reln.relns.imitate import context_correlation, imitating_reln, reln_structure
from reln.models.init import init_relu
from reln.tasks import contextual_task


@pytest.mark.parametrize(
    ("items", "structures"),
    [(8, ["hierarchy", "ring", "cross"]), (8, "hierarchy"), (16, ["ring", "cross", "hierarchy", "ring"])],
)
def test_context_inputs_carry_nothing_for_pathways_on_whole_contexts(items, structures):
    """Claim 8 checked: the linear residual is uncorrelated with the context one-hot on any union
    of whole contexts; the targets of the always-on pathway are not."""
    K = 3 if isinstance(structures, str) else len(structures)
    task = contextual_task(items, K, structures, context_scale=1.3)
    assert context_correlation(task, np.ones(task.P)) > 0.1
    for contexts in [(0,), (0, 1), (1, 2), tuple(range(K - 1))]:
        assert context_correlation(task, task.context_mask(contexts)) < 1e-10


def test_a_gate_within_a_context_does_see_the_context():
    """Not every gate is context-free: on some items of a context the residual is not centred."""
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    gate = task.context_mask((0,)) * (task.item < 4)
    assert context_correlation(task, gate) > 1e-3


def _identifications(task, patterns_per_seed, sizes):
    out = []
    for patterns in patterns_per_seed:
        hidden = np.stack([np.ones_like(patterns), patterns])
        weight = np.stack([np.full(len(sizes), 1e-6), np.asarray(sizes, float)])
        out.append(identify(task, hidden, weight, np.array([0, 10])))
    return out


def test_imitating_reln_copies_the_relu_units_into_their_pathways():
    task = contextual_task(4, 3, "hierarchy")
    on = {c: task.context_mask(c) for c in [(0, 1, 2), (0, 1), (1, 2)]}
    seed0 = np.array([on[(0, 1, 2)], on[(0, 1)], on[(0, 1, 2)], on[(1, 2)]])
    seed1 = np.array([on[(0, 1)], on[(0, 1, 2)], on[(0, 1)], on[(0, 1)]])
    ids = _identifications(task, [seed0, seed1], [1.0, 1.0, 1.0, 1.0])
    inits = [init_relu(seed_rng(s, RELU_STREAM), (task.n_in, 4, task.n_out), 0.1) for s in (0, 1)]
    gdln, (W0, W1) = imitating_reln(task, ids, inits)

    # The union of context sets, by summed weight share, with inputs from the data check.
    assert gdln.contexts == ((0, 1), (0, 1, 2), (1, 2))
    assert gdln.inputs == ("items", "all", "items")
    # Widths: the most units any seed has in the pathway.
    np.testing.assert_array_equal(gdln.widths[:, 0], [3, 2, 1])
    # Seed 0, pathway {0,1,2} holds units 0 and 2 with their own initial weights.
    w_in, w_out = inits[0]
    np.testing.assert_array_equal(W0[0, 1, :2], w_in[[0, 2]])
    np.testing.assert_array_equal(W1[0, 1, :, :2], w_out[:, [0, 2]])
    # Item-only pathways get no context weights; padding is zero.
    assert not W0[:, 0][..., ~task.item_inputs].any()
    assert not W0[0, 0, 1:].any() and not W1[0, 0, :, 1:].any()

    # The ReLN's initial output is the ReLU units' linear output, each gated on its contexts.
    X = task.X
    expected = sum(
        np.outer(w_out[:, j], 1.0) * ((w_in[j] * gdln.input_masks[p]) @ X) * gdln.gates[p]
        for p, units in [(1, [0, 2]), (0, [1]), (2, [3])]
        for j in units
    )
    with jax.enable_x64(True):
        got = np.asarray(gdln_forward([W0[0], W1[0]], gdln, X))
        per_pathway = np.asarray(pathway_outputs([W0[0], W1[0]], gdln, X))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(per_pathway.sum(0), got, atol=1e-14)


def test_reln_structure_orders_by_mean_share():
    task = contextual_task(4, 3, "hierarchy")
    on = {c: task.context_mask(c) for c in [(0, 1, 2), (0, 2)]}
    ids = _identifications(task, [np.array([on[(0, 1, 2)], on[(0, 2)], on[(0, 2)]])], [5.0, 1.0, 1.0])
    sets, inputs = reln_structure(task, ids)
    assert sets == [(0, 1, 2), (0, 2)] and inputs == ["all", "items"]


def test_sliding_schedule_holds_only_pairs_that_stay_on_their_kink():
    """Three units, two samples, checkpoints every 10 epochs; sample 1 sets each unit's peak (1).
    On sample 0, unit 0 sits within the band (0.1 of its peak) for three checkpoints (a slide) and
    leaves it; unit 1 passes through zero between two checkpoints; unit 2 is silent (its peak under
    1e-3 of the layer's) and is never held. With slide_epochs = 30 only unit 0 is pinned on sample
    0, at its third checkpoint in the band; every gate is otherwise the ReLU's own sign."""
    z = np.zeros((6, 3, 2))
    z[:, 0, 0] = [1.0, 0.05, -0.05, 0.02, 0.5, 1.0]
    z[:, 1, 0] = [1.0, 0.5, -0.5, -1.0, 0.5, 1.0]
    z[:, 2, 0] = [1e-6, -1e-6, 1e-6, 1e-6, -1e-6, 1e-6]
    z[:, :2, 1] = 1.0
    z[:, 2, 1] = 1e-6
    starts, gates, pinned = sliding_schedule(z, np.arange(0, 60, 10), every=10, slide_epochs=30)
    np.testing.assert_array_equal(starts, [0, 10, 20, 30, 40])
    expected = np.zeros((5, 3, 2), bool)
    expected[3, 0, 0] = True
    np.testing.assert_array_equal(pinned, expected)
    np.testing.assert_array_equal(gates, ((z[:5] > 0) & ~expected).astype(float))
    # a shorter slide pins the same pair from its second checkpoint in the band
    _, _, earlier = sliding_schedule(z, np.arange(0, 60, 10), every=10, slide_epochs=20)
    assert earlier[2:4, 0, 0].all() and earlier.sum() == 2
    # without pin_kinks the sliding pair is still off, but nothing is held
    _, unpinned_gates, unpinned = sliding_schedule(z, np.arange(0, 60, 10), every=10, slide_epochs=30, pin_kinks=False)
    assert not unpinned.any()
    np.testing.assert_array_equal(unpinned_gates, gates)


def test_sliding_schedule_errors():
    pre = np.zeros((3, 2, 4))
    with pytest.raises(RelnError, match="multiple of the gate spacing"):
        sliding_schedule(pre, np.array([0, 10, 20]), every=10, slide_epochs=15)
    with pytest.raises(RelnError, match="snapshot_every = 10"):
        sliding_schedule(pre, np.array([0, 100, 200]), every=10)


def test_the_fixed_relns_run_carries_its_gates_and_draws_from_them():
    """``[reln] gating = "fixed"``: one pathway per identified context set from t = 0; the run keeps
    those gates (the identified sets' masks), and the figures draw the ReLN from them."""
    from reln.experiment.config import config_from_dict
    from reln.experiment.experiments import run_experiment, run_figures

    config = config_from_dict({
        "models": ["relu", "reln"], "reln": {"gating": "fixed"},
        "task": {"items": 4, "contexts": 3, "structures": ["hierarchy", "ring", "cross"]},
        "relu": {"hidden": [24], "init_std": 0.05, "snapshot_every": 10},
        "train": {"lr": 0.02, "epochs": 400, "seeds": [0, 1]},
    }, name="fixed")
    run = run_experiment(config)
    sets, _ = reln_structure(run.task, run.identifications)
    np.testing.assert_array_equal(run.final_gates["reln"], np.stack([run.task.context_mask(c) for c in sets]))
    assert run.metrics["reln"]["gating"] == "fixed" and run.trajectories["reln"].loss.shape == (2, 401)
    assert run.schedules is None  # fixed gating uses no compact schedule
    assert "outputs" in run_figures(run)


def test_the_theory_beside_fixed_gating_integrates_the_default_compact_schedule():
    """Fixed gating has no ``[reln.schedule]``; the theory is still that of the compact schedule
    (read for free closed units, by the default rule), so the two models run together."""
    from reln.experiment.config import config_from_dict
    from reln.experiment.experiments import run_experiment
    from reln.gates import CompactRule

    config = config_from_dict({
        "models": ["relu", "reln", "theory"], "reln": {"gating": "fixed"},
        "task": {"items": 4, "contexts": 3, "structures": ["hierarchy", "ring", "cross"]},
        "relu": {"hidden": [24], "init_std": 0.05, "snapshot_every": 10},
        "train": {"lr": 0.02, "epochs": 400, "seeds": [0]},
    }, name="fixed-theory")
    run = run_experiment(config)
    reads = run.metrics["theory"]["reads_from_relu"]
    rule = CompactRule()
    assert reads["gate_level"] == "context" and reads["gate_phases"] <= rule.early_phases + rule.late_phases
    assert run.schedules is None and run.metrics["reln"]["gating"] == "fixed"
    assert run.trajectories["theory"].loss.shape == (1, 401)
