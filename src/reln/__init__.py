"""reln: ReLU networks, the gated deep linear networks (ReLNs) that imitate them, and their dynamics.

Implements the theory of Jarvis, Klein, Rosman & Saxe, "Make Haste Slowly: A Theory of Emergent
Structured Mixed Selectivity in Feature Learning ReLU Networks" (ICLR 2025).
"""

from reln.analysis import crossing_epochs, epoch_below, gap_to_reference, unit_weight_shares
from reln.config import RunConfig, load_config, preset_names, with_overrides
from reln.errors import RelnError
from reln.experiments import Run, run_experiment
from reln.fit import fit_gdln, fit_relu
from reln.identify import Identification, identify
from reln.imitate import fit_imitating_reln, imitating_reln, switching_reln, switching_schedule
from reln.gdln import GDLN, Pathway, build_gdln, gdln_forward, pathway_maps, pathway_outputs
from reln.relu import init_relu, relu_forward, relu_gates, relu_hidden
from reln.tasks import Task, contextual_task, cross, hierarchy, ring, xor_task
from reln.train import Trajectory, train

__all__ = [
    "GDLN", "Identification", "Pathway", "RelnError", "Run", "RunConfig", "Task", "Trajectory",
    "build_gdln", "contextual_task", "cross", "crossing_epochs", "epoch_below", "fit_gdln",
    "fit_imitating_reln", "fit_relu", "gap_to_reference", "identify", "imitating_reln", "gdln_forward", "hierarchy", "init_relu", "load_config",
    "pathway_maps", "pathway_outputs", "preset_names", "relu_forward", "relu_gates",
    "relu_hidden", "ring", "run_experiment", "switching_reln", "switching_schedule", "train",
    "unit_weight_shares", "with_overrides", "xor_task",
]
