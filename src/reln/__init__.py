"""reln: ReLU networks, the gated deep linear networks (ReLNs) that imitate them, and their dynamics.

Implements the theory of Jarvis, Klein, Rosman & Saxe, "Make Haste Slowly: A Theory of Emergent
Structured Mixed Selectivity in Feature Learning ReLU Networks" (ICLR 2025).
"""

# Names are imported on first use (PEP 562), so that ``import reln.cli`` does not load JAX before
# the command line can catch Ctrl-C, and ``import reln`` stays cheap.
_EXPORTS = {
    "crossing_epochs": "reln.identification.analysis",
    "epoch_below": "reln.identification.analysis",
    "gap_to_reference": "reln.identification.analysis",
    "unit_weight_shares": "reln.identification.analysis",
    "RunConfig": "reln.experiment.config",
    "load_config": "reln.experiment.config",
    "preset_names": "reln.experiment.config",
    "with_overrides": "reln.experiment.config",
    "RelnError": "reln.errors",
    "Run": "reln.experiment.experiments",
    "run_experiment": "reln.experiment.experiments",
    "fit_gdln": "reln.training.fit",
    "fit_relu": "reln.training.fit",
    "Identification": "reln.identification.identify",
    "identify": "reln.identification.identify",
    "fit_imitating_reln": "reln.relns.imitate",
    "imitating_reln": "reln.relns.imitate",
    "switching_reln": "reln.relns.imitate",
    "switching_schedule": "reln.relns.imitate",
    "GDLN": "reln.models.gdln",
    "Pathway": "reln.models.gdln",
    "build_gdln": "reln.models.gdln",
    "gdln_forward": "reln.models.gdln",
    "pathway_maps": "reln.models.gdln",
    "pathway_outputs": "reln.models.gdln",
    "init_relu": "reln.models.relu",
    "relu_forward": "reln.models.relu",
    "relu_gates": "reln.models.relu",
    "relu_hidden": "reln.models.relu",
    "Task": "reln.tasks",
    "contextual_task": "reln.tasks",
    "cross": "reln.tasks",
    "hierarchy": "reln.tasks",
    "ring": "reln.tasks",
    "xor_task": "reln.tasks",
    "Trajectory": "reln.training.train",
    "train": "reln.training.train",
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



__all__ = [
    "GDLN", "Identification", "Pathway", "RelnError", "Run", "RunConfig", "Task", "Trajectory",
    "build_gdln", "contextual_task", "cross", "crossing_epochs", "epoch_below", "fit_gdln",
    "fit_imitating_reln", "fit_relu", "gap_to_reference", "identify", "imitating_reln", "gdln_forward", "hierarchy", "init_relu", "load_config",
    "pathway_maps", "pathway_outputs", "preset_names", "relu_forward", "relu_gates",
    "relu_hidden", "ring", "run_experiment", "switching_reln", "switching_schedule", "train",
    "unit_weight_shares", "with_overrides", "xor_task",
]
