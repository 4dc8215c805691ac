"""The gradient of bias-free ReLU units that do not interact: the early flow (docs/theory.md §2.8, §5.2).

While a network's output is negligible its error is the target, ``E = Y``, so each unit ``(w, u)``
descends on its own:

    dw = ((u^T Y) ⊙ g) X^T,    du = Y (g ⊙ w X)^T,    g = 1[w X > 0]   (per unit, rows of W).

Both the early gates of the compact ReLN (:func:`reln.gates.decoupled_gates`) and the effective
initial weights of the theory (:func:`reln.theory.relu_effective_unit_weights`) follow this flow.
"""

from __future__ import annotations

import numpy as np


def decoupled_velocity(W_in: np.ndarray, W_out_t: np.ndarray, X: np.ndarray, Y: np.ndarray):
    """``(dW_in (H, n_in), dW_out^T (H, n_out), gates (H, P))``: minus the loss gradient of every
    unit against the error ``Y``, sums over samples (not divided by ``P``).

    Args:
        W_in: ``(H, n_in)`` input weights; W_out_t: ``(H, n_out)`` output weights, one row a unit.

    >>> X, Y = np.eye(2), np.ones((1, 2))
    >>> [a.tolist() for a in decoupled_velocity(np.array([[1.0, -1.0]]), np.array([[1.0]]), X, Y)]
    [[[1.0, 0.0]], [[1.0]], [[1.0, 0.0]]]
    """
    pre = W_in @ X
    gates = (pre > 0).astype(pre.dtype)
    return ((W_out_t @ Y) * gates) @ X.T, (gates * pre) @ Y.T, gates
