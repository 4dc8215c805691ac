"""The identified ReLN on task configurations nobody tuned anything for (issue 3).

Measured (seeds 0, 1, 2; `reln run` on these configs, per-sample gates with pinned kinks), the
identified ReLN: see each test. The structure is found everywhere; where a bound is not met
(the mean gap at K = 2, seed 2, and at 16 items, seeds 1 and 2), the test says so rather than loosen the bound.
"""

from __future__ import annotations

import pytest

from reln.config import config_from_dict
from reln.experiments import run_experiment


def _config(items: int, contexts: int, structures, seeds=(0,), models=("relu", "reln", "theory"), epochs=8001) -> dict:
    return {
        "task": {"items": items, "contexts": contexts, "structures": structures},
        "relu": {"hidden": [700], "init_std": 0.005 / 700},
        "train": {"seeds": list(seeds), "epochs": epochs},
        "models": list(models),
    }


@pytest.fixture(scope="module")
def sixteen_items():
    config = _config(16, 3, ["hierarchy", "ring", "cross"], seeds=(0, 1, 2))
    return run_experiment(config_from_dict(config, name="sixteen-items")).metrics


@pytest.fixture(scope="module")
def six_contexts():
    return run_experiment(config_from_dict(_config(8, 6, "hierarchy"), name="six-contexts")).metrics


def test_sixteen_items_structure_is_common_plus_pairs(sixteen_items):
    big = {tuple(p["contexts"]): p["weight_share"] for p in sixteen_items["reln"]["pathways"] if p["weight_share"] >= 0.02}
    assert set(big) == {(0, 1, 2), (0, 1), (1, 2), (0, 2)}, big
    assert sum(big.values()) >= 0.95


def test_sixteen_items_max_gap_within_issue_bound(sixteen_items):
    """Max gap .023-.025 over seeds 0-2."""
    assert max(sixteen_items["reln"]["gap_to_relu"]["max"]) <= 0.03


@pytest.mark.xfail(strict=True, reason="known: mean gap .0050 and .0054 on seeds 1, 2 at 16 items (.0042 on seed 0; bound .005)")
def test_sixteen_items_mean_gap_within_issue_bound(sixteen_items):
    assert max(sixteen_items["reln"]["gap_to_relu"]["mean"]) <= 0.005


def test_six_contexts_structure_is_common_plus_all_but_one(six_contexts):
    """The seven largest pathways are the common one and the six all-but-one (together .76-.78 of
    the weight over seeds 0-2; the rest sits in all-but-two pathways of .01-.03 each)."""
    shares = {tuple(p["contexts"]): p["weight_share"] for p in six_contexts["reln"]["pathways"]}
    expected = {tuple(c for c in range(6) if c != m) for m in range(6)} | {tuple(range(6))}
    largest = sorted(shares, key=shares.get, reverse=True)[:7]
    assert set(largest) == expected, largest
    assert sum(shares[p] for p in expected) >= 0.7


def test_six_contexts_gap_within_issue_bound(six_contexts):
    gap = six_contexts["reln"]["gap_to_relu"]
    assert gap["max"][0] <= 0.05 and gap["mean"][0] <= 0.01


def test_theory_on_untuned_configurations(sixteen_items, six_contexts):
    """The theory (issue 4), with nothing set per configuration: 16 items max .036-.038, 6 contexts
    .028-.030 over seeds 0-2; no false floor."""
    for metrics, bound in ((sixteen_items, 0.04), (six_contexts, 0.05)):
        theory = metrics["theory"]
        assert max(theory["gap_to_relu"]["max"]) <= bound
        assert max(theory["loss_final"]) <= 1e-3 * metrics["task"]["loss_initial"]


@pytest.fixture(scope="module")
def two_contexts():
    """Seeds 0, 1, 2: the mean gap misses its bound on one of them only."""
    config = _config(8, 2, "hierarchy", seeds=(0, 1, 2), models=("relu", "reln"))
    return run_experiment(config_from_dict(config, name="two-contexts")).metrics


def test_two_contexts_max_gap_within_issue_bound(two_contexts):
    """Two contexts, whose all-but-one pathways are single contexts: max gap .011-.017 over
    seeds 0-2 with pinned kinks (.054-.056 with whole-context gates and nothing pinned)."""
    assert max(two_contexts["reln"]["gap_to_relu"]["max"]) <= 0.03


@pytest.mark.xfail(strict=True, reason="known: mean gap .0056 on seed 2 at K = 2 (.0029-.0037 on seeds 0, 1; bound .005)")
def test_two_contexts_mean_gap_within_issue_bound(two_contexts):
    assert max(two_contexts["reln"]["gap_to_relu"]["mean"]) <= 0.005


def test_theory_at_two_contexts_has_no_floor():
    """At K = 2 neither the ReLU nor the theory has finished by epoch 8001 (ReLU .019-.020 of
    L(0), theory .005-.007, seeds 0-2): slow, not stuck. Trained twice as long both are gone
    (16001 epochs: ReLU 1-2e-8, theory 0.6-8e-9 of L(0)), and the gap stays within issue 4's
    bound."""
    config = _config(8, 2, "hierarchy", models=("relu", "theory"), epochs=16001)
    metrics = run_experiment(config_from_dict(config, name="two-contexts-long")).metrics
    initial = metrics["task"]["loss_initial"]
    assert metrics["relu"]["loss_final"][0] <= 1e-6 * initial
    assert metrics["theory"]["loss_final"][0] <= 1e-6 * initial
    assert metrics["theory"]["gap_to_relu"]["max"][0] <= 0.04
