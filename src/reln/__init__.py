"""reln: ReLU networks, the gated deep linear networks (ReLNs) that imitate them, and their dynamics.

Implements the theory of Jarvis, Klein, Rosman & Saxe, "Make Haste Slowly: A Theory of Emergent
Structured Mixed Selectivity in Feature Learning ReLU Networks" (ICLR 2025).
"""

# Names are imported on first use (PEP 562), so that ``import reln.cli`` does not load JAX before
# the command line can catch Ctrl-C, and ``import reln`` stays cheap.
from reln.lazy import lazy_exports

_EXPORTS = {  # the curated API by stage of the data flow; everything else lives in its module
    "Task": "reln.tasks",
    "contextual_task": "reln.tasks",
    "xor_task": "reln.tasks",
    "RunConfig": "reln.experiment.config",
    "load_config": "reln.experiment.config",
    "preset_names": "reln.experiment.config",
    "with_overrides": "reln.experiment.config",
    "Run": "reln.experiment.experiments",
    "run_experiment": "reln.experiment.experiments",
    "RelnError": "reln.errors",
    "Trajectory": "reln.training.trajectory",
    "train": "reln.training.train",
    "fit_relu": "reln.training.fit",
    "fit_gdln": "reln.training.fit",
    "GDLN": "reln.models.pathways",
    "Pathway": "reln.models.pathways",
    "build_gdln": "reln.models.pathways",
    "gdln_forward": "reln.models.gdln",
    "relu_forward": "reln.models.relu",
    "Identification": "reln.identification.identify",
    "identify": "reln.identification.identify",
    "identify_seeds": "reln.identification.identify",
    "crossing_epochs": "reln.identification.analysis",
    "gap_to_reference": "reln.identification.analysis",
    "compact_schedules": "reln.relns.imitate",
    "fit_compact_reln": "reln.relns.imitate",
    "predict_from_task": "reln.theory.prediction",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
