"""Training: gradient descent as compiled scans over many seeds (full batch or mini-batch), and the fits of each network."""
