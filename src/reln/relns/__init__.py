"""The ReLNs built from a ReLU run: networks of the ReLU's own units that follow a gate schedule."""
