"""Gate schedules: the early phase from the task and the init, the compact rule, the schedule type."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.errors import RelnError
from reln.models.init import relu_initial_weights
from reln.training.fit import fit_relu
from reln.gates import CompactRule, GateSchedule, Reads, decoupled_gates, first_rise_epoch
from reln.tasks import contextual_task


def test_decoupled_gates_are_the_relu_gates_before_the_first_rise():
    """While the output is negligible every unit follows its own flow against E = Y: the gates of
    the decoupled flow are the ReLU's own (700 units, contexts-diff: 1.000 of unit-sample pairs
    agree at epochs 50-250 and .998 at 350, just before the rise at ~355)."""
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    width, std, lr = 200, 0.005 / 700, 1e-3
    t_1 = first_rise_epoch(task, width, std, lr=lr)
    epochs = [0, t_1 // 3, 2 * t_1 // 3]
    relu = fit_relu(task, (width,), std, seeds=(0,), lr=lr, epochs=epochs[-1], snapshot_every=1)
    (w_in, w_out), = relu_initial_weights(task, (width,), std, (0,))
    derived = decoupled_gates(task, w_in, w_out, lr=lr, epochs=epochs)
    for k, t in enumerate(epochs):
        agree = np.mean(derived[k] == (relu.layers[0].pre[0, t] > 0))
        assert agree >= 0.995, (t, agree)


def test_first_rise_epoch_is_where_the_relu_loss_falls():
    """t_1 is the top mode's half-rise: the ReLU has barely moved a third of the way there and has
    dropped by more than its top mode's share soon after."""
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    std = 0.005 / 700
    t_1 = first_rise_epoch(task, 700, std, lr=1e-3)
    relu = fit_relu(task, (700,), std, seeds=(0,), lr=1e-3, epochs=int(1.3 * t_1), snapshot_every=10)
    loss = relu.loss[0] / relu.loss[0, 0]
    assert loss[t_1 // 3] > 0.999
    assert loss[int(1.3 * t_1)] < 0.85


@settings(max_examples=60, deadline=None)
@given(early=st.integers(1, 6), late=st.integers(1, 14), t_1=st.integers(50, 800),
       last=st.integers(4000, 30000), spacing=st.sampled_from([1, 10, 50]))
def test_compact_epochs_are_ordered_phases_read_inside_themselves(early, late, t_1, last, spacing):
    rule = CompactRule(early, late)
    early_starts, starts, reads = rule.epochs(t_1, last, spacing)
    assert len(early_starts) == early and len(starts) == len(reads) <= late
    assert early_starts[0] == 0 and np.all(np.diff(np.concatenate([early_starts, starts])) > 0)
    assert np.all(starts % spacing == 0) and np.all(reads % spacing == 0)
    ends = np.append(starts[1:], last)
    assert np.all(reads >= starts - spacing) and np.all(reads <= ends + spacing)


def test_compact_epochs_of_the_presets_use_the_whole_budget():
    early, late, reads = CompactRule().epochs(355, 8001, 10)
    assert len(early) + len(late) == 16 and late[0] == 360 and reads[-1] <= 8000


RUN = dict(lr=1e-3, init_std=0.005 / 700, epochs=2000)


def _random_run(task, width: int, seed: int):
    """``(pre, snapshot_epochs, w_in, w_out)`` of a stand-in ReLU run: random pre-activations every
    10 epochs to 2000 and small random initial weights."""
    rng = np.random.default_rng(seed)
    snapshots = np.arange(0, 2001, 10)
    pre = rng.standard_normal((len(snapshots), width, task.P))
    return pre, snapshots, 1e-5 * rng.standard_normal((width, task.n_in)), 1e-5 * rng.standard_normal((task.n_out, width))


def test_compact_schedule_gates_whole_contexts_after_the_first_rise():
    task, width = contextual_task(8, 3), 30
    schedule = CompactRule(2, 5, field_phases=False).schedule(task, *_random_run(task, width, seed=0), **RUN)
    assert schedule.n_phases == 7 and schedule.reads.read_phases == 5
    assert schedule.reads.numbers == 5 * width * task.n_contexts
    late = schedule.gates[0][2:].reshape(5, width, task.n_contexts, task.n_items)
    assert np.all(late == late[..., :1])  # one value per unit and context: whole contexts


def test_item_phases_come_from_the_field_while_its_units_serve_every_context():
    """Six contexts: the late phases starting inside the item-rise window (docs/theory.md §5.3) are
    gated per sample by the field's units while those serve every context, and are not read; a
    field whose units have left contexts makes none of them an item phase."""
    task, width = contextual_task(8, 6), 40
    rule = CompactRule()
    run = dict(lr=1e-3, init_std=0.005 / 700, epochs=8001)
    reads, candidates = rule.field_candidates(task, width, run["init_std"], lr=1e-3, epochs=8001, spacing=10)
    assert candidates.size  # this task has item phases (the window holds late phase starts)
    rng = np.random.default_rng(0)
    snapshots = np.arange(0, 8001, 10)
    pre = rng.standard_normal((len(snapshots), width, task.P))
    w_in, w_out = 1e-5 * rng.standard_normal((width, task.n_in)), 1e-5 * rng.standard_normal((task.n_out, width))
    serving = np.abs(rng.standard_normal(pre.shape)) * (rng.random(pre.shape) < 0.8)  # on for most items, every context
    serving[:, :, ::task.n_items] = 1.0  # each unit on for item 1 of every context
    sizes = np.ones((len(snapshots), width))
    with pytest.raises(RelnError, match="field"):
        rule.schedule(task, pre, snapshots, w_in, w_out, **run)
    schedule = rule.schedule(task, pre, snapshots, w_in, w_out, **run, field=(snapshots, serving, sizes))
    n_early = rule.early_phases
    derived = n_early + candidates
    assert schedule.reads.read_phases == schedule.n_phases - n_early - candidates.size
    assert schedule.reads.numbers == schedule.reads.read_phases * width * task.n_contexts
    assert not schedule.read_mask[derived].any() and schedule.read_mask[n_early:].sum() == schedule.reads.read_phases
    for k, t in zip(derived, reads[candidates]):  # the field's own per-sample gates at the read epoch
        np.testing.assert_array_equal(schedule.gates[0][k], serving[t // 10] > 0)
    left = serving * (task.context == 0)[None, None, :]  # every unit only in context 1: no longer serving
    schedule = rule.schedule(task, pre, snapshots, w_in, w_out, **run, field=(snapshots, left, sizes))
    assert schedule.reads.read_phases == schedule.n_phases - n_early


def test_schedule_and_rule_refuse_bad_input():
    reads = Reads(1, 0, "none", 0, False)
    with pytest.raises(RelnError, match="0 or 1"):
        GateSchedule(np.array([0]), (np.full((1, 2, 3), 0.5),), (np.zeros((1, 2, 3), bool),), reads)
    with pytest.raises(RelnError, match="begin at 0"):
        GateSchedule(np.array([5]), (np.ones((1, 2, 3)),), (np.zeros((1, 2, 3), bool),), reads)
    with pytest.raises(RelnError, match="gate_level"):
        Reads(1, 0, "unit", 0, False)
    with pytest.raises(RelnError, match="positive integer"):
        CompactRule(early_phases=0)
    with pytest.raises(RelnError, match="serving_share"):
        CompactRule(serving_share=1.5)
    with pytest.raises(RelnError, match="read must mark"):
        GateSchedule(np.array([0]), (np.ones((1, 2, 3)),), (np.zeros((1, 2, 3), bool),), reads, read=np.array([True]))
    with pytest.raises(RelnError, match="positive spacing"):
        CompactRule().epochs(300, 8000, 0)


def test_phase_pathways_count_units_by_context_set_per_phase():
    from reln.relns.imitate import phase_pathways
    from reln.viz.plots import phase_structure_figure

    task = contextual_task(8, 3)
    on = np.zeros((2, 3, task.P))
    on[0] = 1  # phase 0: three units open everywhere
    on[1, 0] = 1  # phase 1: unit 0 everywhere, unit 1 in contexts 1-2, unit 2 closed
    on[1, 1, task.context != 2] = 1
    schedule = GateSchedule(np.array([0, 100]), (on,), (np.zeros(on.shape, bool),), Reads(2, 1, "context", 6, True))
    phases = phase_pathways(task, [schedule])
    assert phases[0] == {"start": 0, "read": False, "units_per_seed": [{"{1,2,3}": 3}]}
    assert phases[1] == {"start": 100, "read": True, "units_per_seed": [{"{1,2,3}": 1, "{1,2}": 1}]}
    figure = phase_structure_figure(phases, title="phases")
    assert len(figure.axes[0].patches) == 2 * 2  # a bar per phase and context set


def test_sliding_hold_keeps_closed_units_at_their_kink():
    """Half the units leave context 2 at epoch 50. With closed pairs free, their pre-activations
    there drift up with the item weights context 1 trains (to .57-1.0 of their peak, one unit
    -.14); with the sliding hold (reln.gates.kinks.sliding_pairs) they stay at their kink (at most
    .001 of the peak above it at stiffness .1), and the network still fits the task."""
    from reln.relns.imitate import fit_compact_reln

    task, n = contextual_task(4, 2, ["hierarchy", "ring"]), 16
    gates = np.ones((2, n, task.P))
    gates[1, : n // 2, task.context == 1] = 0
    schedule = GateSchedule(np.array([0, 50]), (gates,), (np.zeros(gates.shape, bool),), Reads(2, 1, "context", 2 * n, True))
    initial = relu_initial_weights(task, (n,), 0.1, (0,))
    closed = gates[1] == 0
    above = {}
    for slide in (None, 0.1):
        run, built = fit_compact_reln(task, [schedule], initial, lr=0.05, epochs=600, slide=slide)
        w_in = np.asarray(run.final_params[0][0])
        z = w_in @ task.X
        above[slide] = (np.where(closed, z, -np.inf).max(axis=1) / np.abs(z).max(axis=1))[: n // 2]
        assert run.loss[0, -1] <= 1e-6 * run.loss[0, 0] and built["slide"] == slide
    assert np.median(above[None]) >= 0.5, above[None]
    assert above[0.1].max() <= 0.01, above[0.1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_sliding_pairs_are_closed_pairs_above_the_kink_whose_output_would_raise_the_loss(seed):
    """The output gradient the training passes (W_out^T (Yhat - Y)) is dL/dh of the half squared
    error, so a held pair is one where opening the unit would raise the loss."""
    import jax
    import jax.numpy as jnp

    from reln.gates.kinks import sliding_pairs
    from reln.models.losses import half_sse

    rng = np.random.default_rng(seed)
    w_out, Y = rng.normal(size=(3, 5)), rng.normal(size=(3, 7))
    pre, gates = rng.normal(size=(5, 7)), (rng.random((5, 7)) < 0.5).astype(float)
    h = gates * pre
    dLdh = np.asarray(jax.grad(lambda h: half_sse(jnp.asarray(w_out) @ h, jnp.asarray(Y)))(jnp.asarray(h)))
    held = sliding_pairs(pre, gates, w_out.T @ (w_out @ h - Y))
    np.testing.assert_array_equal(held > 0, (gates == 0) & (pre > 0) & (dLdh > 0))


def test_compact_rule_checks_its_slide():
    with pytest.raises(RelnError, match="slide"):
        CompactRule(slide=1.5)
    with pytest.raises(RelnError, match="slide"):
        CompactRule(slide=True)
    assert CompactRule(slide=None).slide is None


def test_phase_figure_with_many_context_sets_lumps_the_small_ones():
    """Five contexts have 31 context sets: the figure keeps the 11 largest by name and draws the
    rest as one bar, so every phase's total is unchanged and the legend fits beside the axes."""
    from itertools import combinations

    from reln.viz.plots import phase_structure_figure

    sets = ["{" + ",".join(map(str, c)) + "}" for r in range(1, 6) for c in combinations(range(1, 6), r)]
    rng = np.random.default_rng(0)
    phases = [{"start": 100 * k, "read": k > 0, "units_per_seed": [dict(zip(sets, rng.integers(1, 20, len(sets)).tolist()))]}
              for k in range(3)]
    figure = phase_structure_figure(phases, title="many", max_sets=12)
    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 12 and labels[-1] == "20 other sets"
    heights = np.zeros(3)
    for patch in ax.patches:
        heights[round(patch.get_x() + patch.get_width() / 2)] += patch.get_height()
    np.testing.assert_allclose(heights, [sum(p["units_per_seed"][0].values()) for p in phases])
