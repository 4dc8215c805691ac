"""Learning-dynamics theory of GDLNs (docs/theory.md §2): pathway correlations, end-to-end flows, predictions."""

from reln.theory.balanced import FlowResult, integrate_flow
from reln.theory.correlations import PathwayCorrelations, alignment_report, pathway_correlations
from reln.theory.deep import balanced_factors, deep_end_to_end_flow
from reln.theory.flow import effective_initial_maps, end_to_end_flow, flow_loss
from reln.theory.modes import ClosedForm, Modes, closed_form_loss, linear_phase_loss, mode_strengths, pathway_modes
from reln.theory.predict import (
    Prediction, expected_initial_maps, predict_compact, predict_explicit,
)
from reln.theory.switching import (
    effective_unit_weights, expected_mode_strength, integrate_switching, perron_sign,
    relu_effective_unit_weights,
)

__all__ = [
    "ClosedForm", "FlowResult", "Modes", "PathwayCorrelations", "Prediction", "alignment_report", "balanced_factors",
    "closed_form_loss", "deep_end_to_end_flow", "linear_phase_loss", "mode_strengths", "pathway_modes",
    "effective_initial_maps", "effective_unit_weights", "end_to_end_flow", "expected_initial_maps",
    "expected_mode_strength", "flow_loss", "integrate_flow", "integrate_switching", "pathway_correlations",
    "perron_sign", "predict_compact", "predict_explicit", "relu_effective_unit_weights",
]
