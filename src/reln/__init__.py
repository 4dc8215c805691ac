"""reln: ReLU networks, the gated deep linear networks (ReLNs) that imitate them, and their dynamics.

Implements the theory of Jarvis, Klein, Rosman & Saxe, "Make Haste Slowly: A Theory of Emergent
Structured Mixed Selectivity in Feature Learning ReLU Networks" (ICLR 2025).
"""

import sys
import types

# Names are imported on first use (PEP 562), so that ``import reln.cli`` does not load JAX before
# the command line can catch Ctrl-C, and ``import reln`` stays cheap.
_EXPORTS = {
    "crossing_epochs": "reln.analysis",
    "epoch_below": "reln.analysis",
    "gap_to_reference": "reln.analysis",
    "unit_weight_shares": "reln.analysis",
    "RunConfig": "reln.config",
    "load_config": "reln.config",
    "preset_names": "reln.config",
    "with_overrides": "reln.config",
    "RelnError": "reln.errors",
    "Run": "reln.experiments",
    "run_experiment": "reln.experiments",
    "fit_gdln": "reln.fit",
    "fit_relu": "reln.fit",
    "Identification": "reln.identify",
    "identify": "reln.identify",
    "fit_imitating_reln": "reln.imitate",
    "imitating_reln": "reln.imitate",
    "switching_reln": "reln.imitate",
    "switching_schedule": "reln.imitate",
    "GDLN": "reln.gdln",
    "Pathway": "reln.gdln",
    "build_gdln": "reln.gdln",
    "gdln_forward": "reln.gdln",
    "pathway_maps": "reln.gdln",
    "pathway_outputs": "reln.gdln",
    "init_relu": "reln.relu",
    "relu_forward": "reln.relu",
    "relu_gates": "reln.relu",
    "relu_hidden": "reln.relu",
    "Task": "reln.tasks",
    "contextual_task": "reln.tasks",
    "cross": "reln.tasks",
    "hierarchy": "reln.tasks",
    "ring": "reln.tasks",
    "xor_task": "reln.tasks",
    "Trajectory": "reln.train",
    "train": "reln.train",
}


def __getattr__(name: str):
    """The public name ``name``, imported from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reln' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """``reln.identify`` and ``reln.train`` are functions of the same name as their modules: when
    the import system binds such a submodule on the package, bind the function instead, as the
    eager ``from reln.identify import identify`` used to."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__ and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "GDLN", "Identification", "Pathway", "RelnError", "Run", "RunConfig", "Task", "Trajectory",
    "build_gdln", "contextual_task", "cross", "crossing_epochs", "epoch_below", "fit_gdln",
    "fit_imitating_reln", "fit_relu", "gap_to_reference", "identify", "imitating_reln", "gdln_forward", "hierarchy", "init_relu", "load_config",
    "pathway_maps", "pathway_outputs", "preset_names", "relu_forward", "relu_gates",
    "relu_hidden", "ring", "run_experiment", "switching_reln", "switching_schedule", "train",
    "unit_weight_shares", "with_overrides", "xor_task",
]
