"""Figures and the report page, drawn from what a run holds."""
