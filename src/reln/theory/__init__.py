"""Learning-dynamics theory of GDLNs (docs/theory.md §2): pathway correlations, end-to-end flows, predictions.

Names load from their modules on first use (:mod:`reln.lazy`): the NumPy parts (correlations,
flows, the explicit and task-only predictions) never import JAX; the compact ReLN's theory and the
switching units do.
"""

from reln.lazy import lazy_exports

_EXPORTS = {
    "FlowResult": "reln.theory.balanced", "integrate_flow": "reln.theory.balanced",
    "PathwayCorrelations": "reln.theory.correlations", "alignment_report": "reln.theory.correlations",
    "pathway_correlations": "reln.theory.correlations",
    "balanced_factors": "reln.theory.deep", "deep_end_to_end_flow": "reln.theory.deep",
    "effective_initial_maps": "reln.theory.flow", "end_to_end_flow": "reln.theory.flow", "flow_loss": "reln.theory.flow",
    "ClosedForm": "reln.theory.modes", "Modes": "reln.theory.modes", "closed_form_loss": "reln.theory.modes",
    "linear_phase_loss": "reln.theory.modes", "mode_strengths": "reln.theory.modes", "pathway_modes": "reln.theory.modes",
    "Prediction": "reln.theory.explicit", "expected_initial_maps": "reln.theory.explicit",
    "predict_explicit": "reln.theory.explicit", "predict_from_maps": "reln.theory.explicit",
    "predict_compact": "reln.theory.predict",
    "FieldFeedback": "reln.theory.field", "field_error": "reln.theory.field", "field_units": "reln.theory.field",
    "effective_unit_weights": "reln.theory.effective", "expected_mode_strength": "reln.theory.effective",
    "integrate_switching": "reln.theory.switching", "perron_sign": "reln.theory.effective",
    "relu_effective_unit_weights": "reln.theory.effective",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
