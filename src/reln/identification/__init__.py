"""From a trained ReLU network to its pathways: identification, and the measures of a trajectory (crossings, gaps, selectivity)."""
