"""Initial weights from seeded NumPy generators (docs/theory.md §2.8).

The init law is the one knob of the small-initialisation regime: every weight ``N(0, std_l^2)``,
one standard deviation per layer. NumPy draws them rather than ``jax.random``, so the theory and
the prediction, which need a seed's initial weights but train nothing, never import JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError


def per_layer(values: float | Sequence[float], n_layers: int, what: str) -> list[float]:
    """Broadcast a scalar to ``n_layers`` values, or check a per-layer list has that length."""
    values = [float(values)] * n_layers if np.isscalar(values) else [float(v) for v in values]
    if len(values) != n_layers:
        raise RelnError(f"{what} needs one value or {n_layers} (one per layer), got {len(values)}")
    if not all(np.isfinite(v) and v >= 0 for v in values):
        raise RelnError(f"{what} must be finite and >= 0, got {values}")
    return values


def init_relu(
    rng: np.random.Generator, sizes: Sequence[int], init_std: float | Sequence[float]
) -> list[np.ndarray]:
    """Draw ``W_l ~ N(0, std_l^2)`` for layer sizes ``(n_in, h_1, ..., n_out)``, input layer first.

    Initial weights come from a seeded NumPy generator rather than ``jax.random``: on a CPU the
    XLA compilation of ``jax.random.normal`` takes longer (about 1.5 s) than training a seed.

    Args:
        rng: a seeded ``numpy.random.Generator``.
        sizes: widths from input to output; at least one hidden layer.
        init_std: one standard deviation for every layer, or one per weight matrix. Small values
            (the paper: ``0.005 / width``) put the network in the rich, feature-learning regime.
    """
    if len(sizes) < 3 or any(int(s) != s or s < 1 for s in sizes):
        raise RelnError(
            f"a ReLU network needs sizes (n_in, hidden..., n_out) of positive integers with at "
            f"least one hidden layer, got {tuple(sizes)}"
        )
    stds = per_layer(init_std, len(sizes) - 1, "init_std")
    return [
        std * rng.standard_normal((int(fan_out), int(fan_in)))
        for std, fan_in, fan_out in zip(stds, sizes[:-1], sizes[1:])
    ]
