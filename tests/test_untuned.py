"""The identified ReLN on task configurations nobody tuned anything for (issue 3).

Measured (seeds 0, 1, 2; `reln run` on these configs): 16 items, 3 contexts: max gap .028-.038,
mean .0058-.0062; 2 contexts: max .020-.032, mean .0071-.0095; 6 contexts: max .059-.065, mean
.0068-.0073. The structure is found; the issue's gap bounds are not met everywhere yet, and the
tests below say so rather than loosen the bounds.
"""

from __future__ import annotations

import pytest

from reln.config import config_from_dict
from reln.experiments import run_experiment

SIXTEEN_ITEMS = {
    "task": {"items": 16, "contexts": 3, "structures": ["hierarchy", "ring", "cross"]},
    "relu": {"hidden": [700], "init_std": 0.005 / 700},
    "train": {"seeds": [0]},
    "models": ["relu", "reln"],
}


@pytest.fixture(scope="module")
def sixteen_items():
    return run_experiment(config_from_dict(SIXTEEN_ITEMS, name="sixteen-items")).metrics


def test_sixteen_items_structure_is_common_plus_pairs(sixteen_items):
    big = {tuple(p["contexts"]): p["weight_share"] for p in sixteen_items["reln"]["pathways"] if p["weight_share"] >= 0.02}
    assert set(big) == {(0, 1, 2), (0, 1), (1, 2), (0, 2)}, big
    assert sum(big.values()) >= 0.95


@pytest.mark.xfail(strict=True, reason="known: max gap 0.035 for seed 0 (bound 0.03) on 16 items")
def test_sixteen_items_gap_within_issue_bound(sixteen_items):
    gap = sixteen_items["reln"]["gap_to_relu"]
    assert gap["max"][0] <= 0.03 and gap["mean"][0] <= 0.005
