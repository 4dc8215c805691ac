"""A ReLU network's architecture with given gates: the unit-gated linear network (docs/theory.md §3.1).

A bias-free ReLU network computes ``h_l = g_l * (W_l h_{l-1})`` with ``g_l = 1[W_l h_{l-1} > 0]``;
with the gates ``g_l`` given instead (0/1 per unit and sample), the same weights make a linear
network in every pathway. Array operators only, so NumPy and JAX arrays both work (the figures
call it in NumPy, the training programs trace it).
"""

from __future__ import annotations

from collections.abc import Sequence


def gated_hidden(weights: Sequence, X, gates: Sequence) -> list:
    """Every hidden layer ``h_l = g_l * (W_l h_{l-1})``, ``h_0 = X``, each ``(units_l, P)``.

    Args:
        weights: ``[W_1 (h_1, n_in), ..., W_L (n_out, h_{L-1})]`` (the readout is not used).
        X: ``(n_in, P)``.
        gates: one ``(h_l, P)`` 0/1 array per hidden layer.

    >>> import numpy as np
    >>> W = [np.array([[1.0, -1.0], [2.0, 0.0]]), np.ones((1, 2))]
    >>> [h.tolist() for h in gated_hidden(W, np.eye(2), [np.array([[1, 0], [1, 1]])])]
    [[[1.0, -0.0], [2.0, 0.0]]]
    """
    hidden, h = [], X
    for W, g in zip(weights[:-1], gates):
        h = g * (W @ h)
        hidden.append(h)
    return hidden


def gated_forward(weights: Sequence, X, gates: Sequence):
    """``W_L (g_{L-1} * (W_{L-1} ... (g_1 * (W_1 X))))``: the output of a ReLU network with given gates.

    >>> import numpy as np
    >>> W = [np.array([[1.0, -1.0], [2.0, 0.0]]), np.ones((1, 2))]
    >>> gated_forward(W, np.eye(2), [np.array([[1, 0], [1, 1]])]).tolist()
    [[3.0, 0.0]]
    """
    hidden = gated_hidden(weights, X, gates)
    return weights[-1] @ (hidden[-1] if hidden else X)
