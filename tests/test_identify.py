"""ReLN identification: synthetic cases with a known answer, then the paper's task and its thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.experiment.config import load_config, with_overrides
from reln.errors import RelnError
from reln.experiment.experiments import build_task
from reln.training.fit import fit_relu
from reln.identification.identify import active_patterns, identify
from reln.tasks import contextual_task


def _synthetic(task, patterns, sizes, epochs=(0, 100)):
    """Hidden activity whose final checkpoint has the given per-unit patterns (activity 1 where on)."""
    final = np.asarray(patterns, dtype=float)
    hidden = np.stack([np.ones_like(final), final])  # everything on at init, then the patterns
    unit_weight = np.stack([np.full(len(sizes), 1e-6), np.asarray(sizes, dtype=float)])
    return hidden, unit_weight, np.asarray(epochs)


def test_units_group_by_context_set_with_weight_shares():
    task = contextual_task(4, 3, "hierarchy")
    c = task.context
    all_on = np.ones(task.P)
    pair_01 = np.isin(c, [0, 1]).astype(float)
    pair_01_partial = pair_01 * (task.item != 3)  # on for only some items of its contexts
    ctx_2 = (c == 2).astype(float)
    silent = np.zeros(task.P)
    tiny = all_on
    hidden, weight, epochs = _synthetic(
        task, [all_on, all_on, pair_01, pair_01_partial, ctx_2, silent, tiny], [3, 3, 1, 1, 2, 1, 1e-4]
    )
    result = identify(task, hidden, weight, epochs)
    total = 3 + 3 + 1 + 1 + 2 + 1 + 1e-4
    # Sorted by weight share, ties by context set.
    assert [p.contexts for p in result.pathways] == [(0, 1, 2), (0, 1), (2,)]
    np.testing.assert_allclose([p.weight_share for p in result.pathways], np.array([6, 2, 2]) / total)
    assert sorted(result.unassigned_units.tolist()) == [5, 6]  # silent and never grown
    assert result.unassigned_share == pytest.approx((1 + 1e-4) / total)
    pair = result.pathways[1]
    np.testing.assert_array_equal(pair.gate, pair_01)
    # Coverage: both units on except the partial one on item 3 -> 1/2 there.
    expected = pair_01 * np.where(task.item == 3, 0.5, 1.0)
    np.testing.assert_allclose(pair.coverage, expected)
    # The all-context units were on everywhere from the start; the others settled at epoch 100.
    assert [p.settle_epoch for p in result.pathways] == [0, 100, 100]


def test_activity_threshold_is_relative_to_each_unit():
    hidden = np.array([[1.0, 1e-4, 0.0], [1e-5, 2e-5, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(
        active_patterns(hidden, 1e-3), [[True, False, False], [True, True, False], [False, False, False]]
    )
    np.testing.assert_array_equal(active_patterns(hidden, 0.0)[0], [True, True, False])


def test_identify_rejects_bad_shapes_and_thresholds():
    task = contextual_task(4, 2, "hierarchy")
    hidden = np.ones((2, 5, task.P))
    with pytest.raises(RelnError, match="identify needs hidden"):
        identify(task, hidden[:, :, :-1], np.ones((2, 5)), np.array([0, 1]))
    with pytest.raises(RelnError, match="fractions in"):
        identify(task, hidden, np.ones((2, 5)), np.array([0, 1]), activity_threshold=2.0)


@pytest.fixture(scope="module")
def contexts_diff_relu():
    config = with_overrides(load_config("contexts-diff"), models=("relu",))
    task = build_task(config)
    relu = fit_relu(task, config.relu.hidden, config.relu.init_std, seeds=(0, 1, 2), epochs=8001)
    return task, relu


COMMON_AND_PAIRS = {(0, 1, 2), (0, 1), (1, 2), (0, 2)}


def _shares(task, relu, seed, threshold):
    result = identify(
        task, relu.layers[0].hidden[seed], relu.layers[0].unit_weight[seed],
        relu.snapshot_epochs, activity_threshold=threshold,
    )
    return {p.contexts: p.weight_share for p in result.pathways}


@pytest.mark.parametrize("threshold", [0.0, 1e-3])
def test_paper_task_gives_common_plus_three_pairs(contexts_diff_relu, threshold):
    """Issue 3: the four largest pathways are {1,2,3}, {1,2}, {2,3}, {1,3}, together >= 0.95.

    No share is compared with a fixed cut: a pair's share at threshold 0 is a few hundredths and
    moves by about that much with the last bits of float32 (seed 2's {1,3}: .0185 on another CPU,
    .0207-.0354 here over float32, float64 and inits perturbed by 1e-6). Measured over seeds 0-9
    in those four settings: the expected four are always the four largest, the smallest of them
    at least 1.5x the largest other pathway, and they carry .973-.994 (threshold 0) and
    .963-.992 (1e-3). The split of weight between the common pathway and the pairs depends on
    the threshold (docs/theory.md §7): units barely on in one context count as common at 0 and as
    pair units above it.
    """
    task, relu = contexts_diff_relu
    for seed in range(3):
        shares = _shares(task, relu, seed, threshold)
        largest = sorted(shares, key=shares.get, reverse=True)[:4]
        assert set(largest) == COMMON_AND_PAIRS, shares
        assert sum(shares[p] for p in COMMON_AND_PAIRS) >= 0.95, shares


def test_paper_task_at_a_high_threshold_splits_single_contexts_off_the_pairs(contexts_diff_relu):
    """At threshold 1e-2 pair units whose activity in one of their contexts is below 1% of their
    peak count as single-context units: seed 2's {3} reaches .016-.048 against {1,3}'s .051
    (same four settings as above), so neither the ranking of the pairs against the singles nor
    a .95 total holds there. What holds: the common pathway is by far the largest (.48-.50
    against at most .25), every pair keeps at least .05 (cut .02), and the single contexts carry
    at most .053 together (cut .10)."""
    task, relu = contexts_diff_relu
    for seed in range(3):
        shares = _shares(task, relu, seed, 1e-2)
        assert max(shares, key=shares.get) == (0, 1, 2)
        assert shares[(0, 1, 2)] > 1.5 * max(shares[p] for p in shares if p != (0, 1, 2)), shares
        assert min(shares.get(p, 0.0) for p in COMMON_AND_PAIRS) >= 0.02, shares
        assert sum(v for p, v in shares.items() if len(p) == 1) <= 0.10, shares


def test_common_share_depends_on_threshold_as_reported(contexts_diff_relu):
    """docs/theory.md §7: common 72-76% at threshold 0; the pairs' share jumps above it.

    At threshold 0 one seed's common share moves by up to .05 with the last bits of float32
    (seed 0: .699 in float64, .707-.751 in float32 with inits perturbed by 1e-6), so the mean of
    seeds 0-2 is compared (.721-.743 in those settings) with the reference band widened by that
    spread; the drop to threshold 1e-3 is .197-.265 on every seed and setting (cut .15)."""
    task, relu = contexts_diff_relu
    common = {}
    for threshold in (0.0, 1e-3):
        common[threshold] = np.array([_shares(task, relu, seed, threshold)[(0, 1, 2)] for seed in range(3)])
    assert 0.69 <= common[0.0].mean() <= 0.79, common[0.0]
    assert np.all(common[1e-3] < common[0.0] - 0.15), common


def test_early_checkpoint_is_all_common(contexts_diff_relu):
    """At epoch 500 all weight sits in all-context units (docs/theory.md §7): .977-.988 of it on seeds
    0-2 in float32, float64 and with inits perturbed by 1e-6 (cut .95)."""
    task, relu = contexts_diff_relu
    index = int(np.flatnonzero(relu.snapshot_epochs == 500)[0])
    result = identify(
        task, relu.layers[0].hidden[0], relu.layers[0].unit_weight[0],
        relu.snapshot_epochs, checkpoint=index,
    )
    assert result.epoch == 500
    assert result.pathways[0].contexts == (0, 1, 2) and result.pathways[0].weight_share > 0.95


def test_selectivity_classes_sum_to_one():
    from reln.identification.analysis import selectivity

    task = contextual_task(4, 3, "hierarchy")
    on = {c: task.context_mask(c) for c in [(0, 1, 2), (0, 1), (2,)]}
    hidden, weight, epochs = _synthetic(task, [on[(0, 1, 2)], on[(0, 1)], on[(2,)], np.zeros(task.P)], [4, 3, 2, 1])
    shares = selectivity(identify(task, hidden, weight, epochs), task.n_contexts)
    assert shares == pytest.approx({"common": 0.4, "mixed": 0.3, "modular": 0.2, "silent": 0.1})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=12, max_size=12), min_size=1, max_size=6),
       st.lists(st.floats(0.5, 4.0), min_size=6, max_size=6))
def test_within_context_coverage_is_the_weighted_fraction_of_own_samples_on(patterns, sizes):
    """c = sum_j s_j a_j / (|C_j| n) / sum_j s_j over the identified units (docs/theory.md §3.2),
    computed here unit by unit from the patterns; 1 exactly when every unit is on for every item
    of the contexts it serves."""
    from reln.identification.analysis import within_context_coverage

    task = contextual_task(4, 3, "hierarchy")
    on = np.array(patterns, dtype=float)
    sizes = np.array(sizes[: len(on)])
    found = identify(task, *_synthetic(task, on, sizes), min_unit_weight=0.0)
    live = on.any(axis=1)
    if not live.any():
        assert np.isnan(within_context_coverage(found))
        return
    fractions = []
    for row in on[live].astype(bool):
        contexts = [c for c in range(3) if row[task.context == c].any()]
        fractions.append(row.sum() / (len(contexts) * task.n_items))
    expected = np.sum(sizes[live] * fractions) / sizes[live].sum()
    assert within_context_coverage(found) == pytest.approx(expected)
    whole = all(np.array_equal(row, np.isin(task.context, [c for c in range(3) if row[task.context == c].any()]))
                for row in on[live].astype(bool))
    assert (within_context_coverage(found) == pytest.approx(1.0)) == whole


@settings(max_examples=60, deadline=None)
@given(data=st.data(), units=st.integers(1, 30), width=st.integers(1, 6))
def test_gating_size_counts_the_heaviest_patterns(data, units, width):
    """gating_size (docs/theory.md §3.2) against a brute-force count: the fewest distinct patterns
    whose summed weight reaches the fraction, found by trying every number of heaviest groups; it
    does not depend on the units' order, grows with the fraction, and at fraction 1 is the number of
    patterns that carry weight."""
    from reln.identification.analysis import gating_size

    patterns = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=width, max_size=width),
                                           min_size=units, max_size=units)))
    weights = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 10.0)), min_size=units, max_size=units)))
    fraction = data.draw(st.floats(0.05, 1.0))
    total = weights.sum()
    groups = {}
    for pattern, weight in zip(map(tuple, patterns), weights):
        groups[pattern] = groups.get(pattern, 0.0) + weight
    heaviest = sorted(groups.values(), reverse=True)
    expected = 0 if total <= 0 else next(m for m in range(1, len(heaviest) + 1)
                                         if sum(heaviest[:m]) >= fraction * total * (1 - 1e-12))
    assert gating_size(patterns, weights, fraction) == expected
    order = np.random.default_rng(units).permutation(units)
    assert gating_size(patterns[order], weights[order], fraction) == expected
    assert gating_size(patterns, weights, min(1.0, fraction + 0.1)) >= expected
    if total > 0:
        assert gating_size(patterns, weights, 1.0) == sum(w > 0 for w in groups.values())
