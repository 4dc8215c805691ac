"""Bias-free ReLU networks of any depth, seen as gated linear networks (docs/theory.md §3).

A network with layer sizes ``(n_in, h_1, ..., h_L, n_out)`` has weights ``W_0 .. W_L`` of shape
``(fan_out, fan_in)`` and computes, on features x samples inputs ``X``,

    H_0 = X,   H_l = relu(W_{l-1} H_{l-1}) = G_l * (W_{l-1} H_{l-1}),   Yhat = W_L H_L,

with the *gate pattern* ``G_l = 1[W_{l-1} H_{l-1} > 0]`` of every unit on every sample. Holding the
gates fixed makes the network a gated deep linear network (GDLN); the ReLN is the GDLN whose fixed
gates reproduce a ReLU network's learning.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Weights = list  # list of (fan_out, fan_in) arrays, input layer first


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
