"""Configs and presets: every preset loads and builds; bad configs fail with one clear message."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from reln.experiment.config import config_from_dict, config_to_dict, load_config, preset_names, with_overrides
from reln.errors import RelnError
from reln.experiment.experiments import build_reln, build_task
from reln.gates import CompactRule

PAPER_PRESETS = {"contexts-diff": (3, 700, 1.0), "contexts-3": (3, 700, 1.0), "contexts-4": (4, 500, 1.1), "contexts-5": (5, 600, 1.35)}


def test_paper_presets_are_shipped():
    assert set(PAPER_PRESETS) <= set(preset_names())


@pytest.mark.parametrize("name", sorted(PAPER_PRESETS))
def test_preset_matches_reference_setup(name):
    """docs/theory.md §7: K, ReLU width, sigma = 0.005 / width, context scale, lr, epochs."""
    contexts, width, scale = PAPER_PRESETS[name]
    config = load_config(name)
    assert config.task.contexts == contexts and config.task.context_scale == scale
    assert config.relu.hidden == (width,)
    assert config.relu.init_std == pytest.approx(0.005 / width)
    assert config.train.lr == 1e-3 and config.train.epochs == 8001
    assert config.reln.gating == "compact" and config.reln.schedule == CompactRule()
    gdln = build_reln(config, build_task(config), "paper_reln")
    assert config.paper_reln.rule == "staged"
    # The reference ReLN: one always-on pathway on all inputs; the rest read items only.
    assert gdln.always_on.sum() == 1 and gdln.inputs[0] == "all"
    assert all(i == "items" for i in gdln.inputs[1:])
    assert gdln.n_pathways == (7 if contexts == 3 else contexts + 1)


def test_all_but_one_pathways_for_four_and_five_contexts():
    for name, K in (("contexts-4", 4), ("contexts-5", 5)):
        gdln = build_reln(load_config(name), build_task(load_config(name)), "paper_reln")
        sets = {frozenset(c) for c in gdln.contexts[1:]}
        assert sets == {frozenset(set(range(K)) - {m}) for m in range(K)}


@pytest.mark.parametrize("name", sorted(PAPER_PRESETS))
def test_preset_keeps_its_name(name):
    """The name labels figures and the default output folder results/NAME."""
    assert load_config(name).name == name


def test_config_json_round_trip():
    config = load_config("contexts-diff")
    data = json.loads(json.dumps(config_to_dict(config)))
    rebuilt = config_from_dict({k: v for k, v in data.items() if k != "name"}, name=config.name)
    assert rebuilt == config


def test_overrides():
    config = with_overrides(load_config("contexts-3"), seeds=(4, 5), epochs=10, models=("relu",), x64=True)
    assert config.train.seeds == (4, 5) and config.train.epochs == 10
    assert config.models == ("relu",) and config.train.x64


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"task": {"itmes": 8}}, "unknown key(s) itmes in [task]"),
        ({"task": {"kind": "mnist"}}, "kind 'mnist'"),
        ({"relu": {"hidden": [0]}}, "[relu] hidden must be positive"),
        ({"relu": {"hidden": "wide"}}, "[relu] hidden must be a positive integer"),
        ({"relu": {"init_std": -1.0}}, "[relu] init_std must be finite and >= 0"),
        ({"train": {"lr": 0}}, "[train] lr must be positive"),
        ({"train": {"seeds": [1, 1]}}, "distinct"),
        ({"train": {"epochs": 2.5}}, "[train] epochs must be a positive integer"),
        ({"models": ["relu", "cnn"]}, "unknown model(s) ['cnn']"),
        ({"models": ["reln"]}, "add relu to the models"),
        ({"models": ["paper_reln"]}, "needs a [paper_reln] table"),
        ({"reln": {"gating": "sometimes"}}, "gating must be one of compact, fixed"),
        ({"reln": {"gating": "switching"}}, "the 'replay' model, configured in [replay]"),
        ({"reln": {"gate_threshold": 0.2}}, "[reln] gate_threshold: options of the replay"),
        ({"reln": {"schedule": {"threshold": 1.5}}}, "[reln.schedule] threshold must lie in [0, 1)"),
        ({"reln": {"schedule": {"threshold": "high"}}}, "[reln.schedule] threshold must lie in [0, 1)"),
        ({"reln": {"schedule": {"late_phases": 0}}}, "[reln.schedule] late_phases must be a positive integer"),
        ({"reln": {"schedule": {"phases": 3}}}, "unknown key(s) phases in [reln.schedule]"),
        ({"reln": {"gating": "fixed", "schedule": {"late_phases": 3}}}, "applies to gating = 'compact' only"),
        ({"reln": {"rule": "staged"}}, "unknown key(s) rule in [reln]"),
        ({"reln": {"pathways": "manual"}}, "pathways must be 'auto'"),
        ({"reln": {"pathways": []}}, "non-empty list"),
        ({"reln": {"pathways": [{"contexts": [0], "widht": 3}]}}, "unknown key(s) widht"),
        ({"replay": {"gate_level": "item"}}, "gate_level must be 'context' or 'sample'"),
        ({"replay": {"pin_kinks": 1}}, "[replay] pin_kinks must be true or false"),
        ({"replay": {"gate_threshold": 1.5}}, "[replay] gate_threshold must be in [0, 1)"),
        ({"replay": {"regroup_every": 55}}, "[replay] regroup_every must be a positive multiple of the ReLU's snapshot_every (10)"),
        ({"replay": {"regroup_every": "often"}}, "[replay] regroup_every must be a positive integer"),
        ({"replay": {"kink_rule": "smooth"}}, "[replay] kink_rule must be one of auto, sliding, band"),
        ({"replay": {"kink_rule": "sliding", "gate_level": "context"}}, "it needs gate_level = 'sample'"),
        ({"replay": {"slide_epochs": 205}}, "[replay] slide_epochs must be a non-negative multiple of the ReLU's snapshot_every (10)"),
        ({"replay": {"slide_epochs": 2.5}}, "[replay] slide_epochs must be a non-negative integer"),
        ({"replay": {"gating": "compact"}}, "unknown key(s) gating in [replay]"),
        ({"identify": {"activity_threshold": 2}}, "[identify] activity_threshold must be in [0, 1)"),
        ({"theory": {"gate_level": "unit"}}, "[theory] has no options"),
        ({"paper_reln": {"rule": "staged"}}, "[paper_reln] needs a non-empty list of [[paper_reln.pathways]]"),
        ({"modular": {"pathways": [{"contexts": "all"}], "gating": "fixed"}}, "unknown key(s) gating in [modular]"),
        ({"candidates": {"reln": {"pathways": [{"contexts": "all"}]}}}, "'reln' is a built-in model name"),
        ({"candidates": {"mine": {}}}, "[candidates.mine] needs a non-empty list"),
        ({"models": ["relu", "mine"]}, "unknown model(s) ['mine']"),
    ],
)
def test_bad_configs_raise_one_clear_error(document, fragment):
    with pytest.raises(RelnError) as error:
        config_from_dict(document)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_preset_names_the_presets():
    with pytest.raises(RelnError, match="unknown preset 'contexts-99'.*contexts-diff"):
        load_config("contexts-99")


def test_missing_and_invalid_toml_files(tmp_path):
    with pytest.raises(RelnError, match="does not exist"):
        load_config(str(tmp_path / "nope.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[task\nitems = 8")
    with pytest.raises(RelnError, match="not valid TOML"):
        load_config(str(broken))


def test_task_errors_surface_when_building(tmp_path):
    """Values only the task builder can judge (power-of-two items, matrix shapes, NaN)."""
    cases = [
        ({"items": 6}, "power-of-two item count"),
        ({"items": 4, "contexts": 2, "structures": [[1.0, 0.0, 1.0]]}, "must be (rows, items) = (r, 4)"),
        ({"items": 4, "contexts": 1, "structures": [[1.0, float("nan"), 0.0, 0.0]]}, "NaN"),
        ({"contexts": 0}, "contexts must be an integer >= 1"),
        ({"structures": ["hierarchy", "ring"]}, "got 2 structures for contexts=3"),
    ]
    for table, fragment in cases:
        config = config_from_dict({"task": table, "models": ["relu"]})
        with pytest.raises(RelnError) as error:
            build_task(config)
        assert fragment in str(error.value)


def test_explicit_gate_in_config_is_checked():
    document = {"reln": {"pathways": [{"gate": [0.5] * 24}]}}
    config = config_from_dict(document)
    with pytest.raises(RelnError, match="must be 0/1, found the value 0.5"):
        build_reln(config, build_task(config))
    config = config_from_dict({"reln": {"pathways": [{"gate": [1.0] * 23}]}})
    with pytest.raises(RelnError, match=r"must have shape \(24,\)"):
        build_reln(config, build_task(config))


def test_configs_are_frozen_plain_data():
    config = load_config("contexts-diff")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "other"


def test_default_modular_control_for_configs_without_one():
    """Without a [modular] table, the control is built: common on every input + one per context."""
    config = with_overrides(load_config("contexts-4"), models=("relu", "modular"))
    gdln = build_reln(config, build_task(config), "modular")
    assert gdln.contexts == ((0, 1, 2, 3), (0,), (1,), (2,), (3,))
    assert gdln.inputs == ("all", "items", "items", "items", "items")
    assert (gdln.widths == 500 // 5).all()


def test_candidate_gdlns_become_models():
    config = load_config("xor")
    assert set(config.candidates) == {"per-datapoint", "per-class", "shared-halves"}
    task = build_task(config)
    gdln = build_reln(config, task, "per-class")
    # the two parity classes partition the samples, and each gate is exactly one class
    np.testing.assert_array_equal(gdln.gates.sum(axis=0), np.ones(task.P))
    for gate in gdln.gates:
        assert len(set(task.Y[:, gate == 1].argmax(axis=0))) == 1


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8"])
def test_batch_size_must_be_a_positive_integer(value):
    with pytest.raises(RelnError, match="batch_size"):
        config_from_dict({"train": {"batch_size": value}})


def test_batch_size_defaults_to_full_batch():
    assert config_from_dict({}).train.batch_size is None
    assert config_from_dict({"train": {"batch_size": 4}}).train.batch_size == 4
