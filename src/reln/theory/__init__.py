"""Learning-dynamics theory of GDLNs (THEORY.md §2): pathway correlations, end-to-end flows, predictions."""

from reln.theory.balanced import FlowResult, integrate_flow
from reln.theory.correlations import PathwayCorrelations, alignment_report, pathway_correlations
from reln.theory.flow import effective_initial_maps, end_to_end_flow, flow_loss
from reln.theory.predict import Prediction, expected_initial_maps, predict_explicit, predict_identified

__all__ = [
    "FlowResult", "PathwayCorrelations", "Prediction", "alignment_report", "effective_initial_maps",
    "end_to_end_flow", "expected_initial_maps", "flow_loss", "integrate_flow", "pathway_correlations",
    "predict_explicit", "predict_identified",
]
