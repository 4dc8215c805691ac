"""The identified ReLN on task configurations nobody tuned anything for (issue 3).

Measured (seeds 0, 1, 2; `reln run` on these configs, switching at the ReLU's first drop), the identified ReLN:
16 items, 3 contexts: max gap .016-.027, mean .0025-.0027; 6 contexts (same structure, width 700,
context scale 1): max .031-.037, mean .0061-.0064; 2 contexts: max .054-.056, mean .019-.020. The
structure is found everywhere; the gap bounds are not met at K = 2, and the test says so rather
than loosen the bound.
"""

from __future__ import annotations

import pytest

from reln.config import config_from_dict
from reln.experiments import run_experiment


def _config(items: int, contexts: int, structures) -> dict:
    return {
        "task": {"items": items, "contexts": contexts, "structures": structures},
        "relu": {"hidden": [700], "init_std": 0.005 / 700},
        "train": {"seeds": [0]},
        "models": ["relu", "reln", "theory"],
    }


@pytest.fixture(scope="module")
def sixteen_items():
    return run_experiment(config_from_dict(_config(16, 3, ["hierarchy", "ring", "cross"]), name="sixteen-items")).metrics


@pytest.fixture(scope="module")
def six_contexts():
    return run_experiment(config_from_dict(_config(8, 6, "hierarchy"), name="six-contexts")).metrics


def test_sixteen_items_structure_is_common_plus_pairs(sixteen_items):
    big = {tuple(p["contexts"]): p["weight_share"] for p in sixteen_items["reln"]["pathways"] if p["weight_share"] >= 0.02}
    assert set(big) == {(0, 1, 2), (0, 1), (1, 2), (0, 2)}, big
    assert sum(big.values()) >= 0.95


def test_sixteen_items_gap_within_issue_bound(sixteen_items):
    gap = sixteen_items["reln"]["gap_to_relu"]
    assert gap["max"][0] <= 0.03 and gap["mean"][0] <= 0.005


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
    """The theory (issue 4), with nothing set per configuration: 16 items max .022-.038, 6 contexts
    .030-.033 over seeds 0-2; no false floor."""
    for metrics, bound in ((sixteen_items, 0.04), (six_contexts, 0.05)):
        theory = metrics["theory"]
        assert theory["gap_to_relu"]["max"][0] <= bound
        assert theory["loss_final"][0] <= 1e-3 * metrics["task"]["loss_initial"]


@pytest.mark.xfail(strict=True, reason="known: max gap .054-.056, mean .019-.020 at K = 2 (bounds .03 / .005)")
def test_two_contexts_gap_within_issue_bound():
    gap = run_experiment(config_from_dict(_config(8, 2, "hierarchy"), name="two-contexts")).metrics["reln"]["gap_to_relu"]
    assert gap["max"][0] <= 0.03 and gap["mean"][0] <= 0.005
