"""The networks: the bias-free ReLU network, gated deep linear networks (stacked and flat layouts), the loss."""
