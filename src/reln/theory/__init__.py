"""Learning-dynamics theory of GDLNs (THEORY.md §2): pathway correlations and end-to-end flows."""

from reln.theory.correlations import PathwayCorrelations, alignment_report, pathway_correlations
from reln.theory.flow import effective_initial_maps, end_to_end_flow, flow_loss

__all__ = ["PathwayCorrelations", "alignment_report", "effective_initial_maps", "end_to_end_flow", "flow_loss", "pathway_correlations"]
