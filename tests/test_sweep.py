"""The contexts sweep: one entry per K, shares that sum to one, the K = 2 convention."""

from __future__ import annotations

import numpy as np
import pytest

from reln.experiment.config import config_from_dict, load_config, with_overrides
from reln.errors import RelnError
from reln.viz.plots import sweep_figure
from reln.experiment.sweep import contexts_sweep


def test_sweep_entries_are_consistent():
    config = with_overrides(load_config("contexts-3"), seeds=(0, 1), epochs=400, models=("relu",))
    entries = contexts_sweep(config, [2, 3])
    assert [e["contexts"] for e in entries] == [2, 3]
    for e in entries:
        total = np.add.reduce([np.array(e[k]) for k in ("common", "mixed", "modular", "silent")])
        np.testing.assert_allclose(total, 1.0, atol=1e-6)  # unit sizes are float32
        assert len(e["loss_final"]) == 2
        assert all(0 < c <= 1 for c in e["within_context_coverage"])
        assert set(e["at_half_loss"]) == {"epoch", "common", "within_context_coverage", "pathways_context",
                                          "pathways_sample"}
        for half in zip(e["at_half_loss"]["pathways_context"], e["at_half_loss"]["pathways_sample"]):
            assert None in half or 1 <= half[0] <= half[1]  # context sets merge per-sample patterns
        assert len(e["gating_course"]["within_context_coverage"]) == 2
        assert len(e["predicted_mixed_seeded"]) == 2 and all(0 <= m <= 1 for m in e["predicted_mixed_seeded"])
        # by epoch 400 only the linear phase has run: the loss only gating removes is still at its plateau
        # (the ReLU's leaves it near 3,600 at K = 2 and 2,000 at K = 3, docs/theory.md §5.7)
        assert e["epoch_gated_below"] == {"0.95": [None, None], "0.5": [None, None]}
        assert e["predicted_epoch_gated_below"] == {"0.95": None, "0.5": None}
    assert entries[0]["predicted_mixed_seeded"] == [0.0, 0.0]  # K = 2: no set is several-but-not-all
    # With two contexts "several but not all" is empty: all-but-one units are single-context ones.
    assert entries[0]["mixed"] == [0.0, 0.0]
    assert entries[1]["loss_linear_floor"] == pytest.approx(17.0)
    assert sweep_figure(entries, title="t") is not None


def test_sweep_measures_the_compact_reln_and_theory_as_a_run_does():
    """With reln and theory among the models, each K's entry holds their gaps to the ReLU and the
    gaps' split: the same numbers a run of that K gives (same ReLU, schedule and training)."""
    from reln.experiment.experiments import run_experiment

    config = with_overrides(load_config("contexts-3"), seeds=(0,), epochs=600, models=("relu", "reln", "theory"))
    [entry] = contexts_sweep(config, [3])
    metrics = run_experiment(config).metrics
    for model, key in (("reln", "compact_reln"), ("theory", "theory")):
        np.testing.assert_allclose(entry[key]["max"], metrics[model]["gap_to_relu"]["max"], rtol=1e-5)
        np.testing.assert_allclose(entry[key]["mean"], metrics[model]["gap_to_relu"]["mean"], rtol=1e-5)
        for part in ("linear", "gated"):  # and where they miss, part by part
            np.testing.assert_allclose(entry[key]["gap_split"][part], metrics[model]["gap_split"][part], rtol=1e-5, atol=1e-9)
    assert entry["compact_reln"]["read_phases"] == metrics["reln"]["reads_from_relu"]["read_phases"]


def test_sweep_needs_one_structure_for_all_contexts():
    config = with_overrides(load_config("contexts-diff"), models=("relu",))
    with pytest.raises(RelnError, match="one name used for every context"):
        contexts_sweep(config, [2, 3])
    with pytest.raises(RelnError, match="integers >= 1"):
        contexts_sweep(config_from_dict({"models": ["relu"]}), [0])
    with pytest.raises(RelnError, match="one hidden layer"):
        contexts_sweep(with_overrides(load_config("depth"), models=("relu", "reln")), [2])
