"""Bias-free ReLU networks of any depth, seen as gated linear networks (docs/theory.md §3).

A network with layer sizes ``(n_in, h_1, ..., h_L, n_out)`` has weights ``W_0 .. W_L`` of shape
``(fan_out, fan_in)`` and computes, on features x samples inputs ``X``,

    H_0 = X,   H_l = relu(W_{l-1} H_{l-1}) = G_l * (W_{l-1} H_{l-1}),   Yhat = W_L H_L,

with the *gate pattern* ``G_l = 1[W_{l-1} H_{l-1} > 0]`` of every unit on every sample. Holding the
gates fixed makes the network a gated deep linear network (GDLN); the ReLN is the GDLN whose fixed
gates reproduce a ReLU network's learning.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError

Weights = list  # list of (fan_out, fan_in) arrays, input layer first


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


def relu_hidden(weights: Weights, X: jax.Array) -> list[jax.Array]:
    """Post-ReLU activity ``H_1 .. H_L`` of every hidden layer, each ``(h_l, P)``."""
    hidden, h = [], X
    for W in weights[:-1]:
        h = jax.nn.relu(W @ h)
        hidden.append(h)
    return hidden


def relu_forward(weights: Weights, X: jax.Array) -> jax.Array:
    """Network output ``Yhat = W_L H_L``, ``(n_out, P)``.

    >>> import numpy as np
    >>> weights = [np.array([[1.0, -1.0]]), np.array([[2.0]])]
    >>> relu_forward(weights, np.array([[1.0, 2.0], [3.0, 1.0]]))
    Array([[0., 2.]], dtype=float32)
    """
    hidden = relu_hidden(weights, X)
    return weights[-1] @ hidden[-1]


def relu_preactivations(weights: Weights, X: jax.Array) -> list[jax.Array]:
    """Pre-activations ``Z_l = W_{l-1} H_{l-1}`` of every hidden layer, each ``(h_l, P)``: the gate
    pattern is ``Z_l > 0``, and ``|Z_l|`` says how near each unit sits to its kink."""
    pres, h = [], X
    for W in weights[:-1]:
        pre = W @ h
        pres.append(pre)
        h = jax.nn.relu(pre)
    return pres


def relu_gates(weights: Weights, X: jax.Array) -> list[jax.Array]:
    """On/off pattern ``G_l = 1[pre-activation > 0]`` of every hidden unit and sample (bool)."""
    return [pre > 0 for pre in relu_preactivations(weights, X)]


def unit_weights(weights: Weights) -> list[jax.Array]:
    """Size of every hidden unit, ``||w_in_j|| * ||w_out_j||``, per hidden layer.

    This is the weighting DESIGN.md uses for weight shares: a unit that never grew from its tiny
    initialisation carries (almost) no weight, whatever its gate pattern.
    """
    return [
        jnp.linalg.norm(w_in, axis=1) * jnp.linalg.norm(w_out, axis=0)
        for w_in, w_out in zip(weights[:-1], weights[1:])
    ]
