"""Exact dynamics of balanced deep pathways: the end-to-end flow for pathways of ``N >= 2`` layers.

A pathway ``W = A_N ... A_2 A_1`` whose factors are balanced, ``A_{k+1}^T A_{k+1} = A_k A_k^T``
(gradient flow keeps this), evolves under gradient flow on its factors exactly as (Arora, Cohen &
Hazan 2018, Theorem 1)

    tau dW/dt = sum_{j=1..N} (W W^T)^{(N-j)/N} G (W^T W)^{(j-1)/N},
    G_p = Sigma_yx(p) - sum_q M_out^p W_q Sigma_x(q, p),          tau = 1 / (P lr),

the two-layer case being :mod:`reln.theory.flow`. In a decoupled mode of strength ``s`` this is
``tau ds/dt = N s^{2 - 2/N} (sigma - lambda s)``: the deeper the pathway, the longer a small mode
waits before it grows (the paper's depth argument, docs/theory.md §2). Fractional matrix powers are
avoided by integrating the factors themselves, started balanced from ``W(0) = U S V^T``:
``A_1 = S^{1/N} V^T``, ``A_k = S^{1/N}`` for ``1 < k < N``, ``A_N = U S^{1/N}``; gradient flow on
them is the flow above, and the loss and maps are read from their product. Nothing is fitted:
the only inputs are the gated correlations, the output masks, ``W(0)``, the depth and ``lr``.

A mode with ``s = 0`` at ``t = 0`` stays at zero when ``N >= 3`` (a saddle of higher order than for
two layers): effective initial maps must carry every mode that should learn.
"""

from __future__ import annotations

import numpy as np

from reln.theory.correlations import PathwayCorrelations
from reln.theory.flow import error_correlation


def balanced_factors(W0: np.ndarray, depth: int) -> list[np.ndarray]:
    """Balanced factors ``[A_1 (p, r, n_in), A_2..A_{N-1} (p, r, r), A_N (p, n_out, r)]`` of maps
    ``W0`` ``(p, n_out, n_in)``, with ``r = min(n_out, n_in)`` and ``A_N ... A_1 = W0``."""
    if depth < 2:
        raise ValueError(f"a pathway has at least 2 layers, got depth={depth}")
    U, s, Vt = np.linalg.svd(W0, full_matrices=False)
    root = s ** (1.0 / depth)
    first = root[:, :, None] * Vt
    middle = [np.einsum("pk,kl->pkl", root, np.eye(root.shape[1])) for _ in range(depth - 2)]
    last = U * root[:, None, :]
    return [first, *middle, last]


def _product(factors: list[np.ndarray]) -> np.ndarray:
    W = factors[0]
    for A in factors[1:]:
        W = A @ W
    return W


def deep_end_to_end_flow(
    correlations: PathwayCorrelations,
    output_masks: np.ndarray,
    W0: np.ndarray,
    *,
    depth: int,
    lr: float,
    epochs: np.ndarray,
    rtol: float = 1e-8,
) -> np.ndarray:
    """Integrate the balanced flow of ``depth``-layer pathways and return ``W_p(t)`` at ``epochs``.

    Args:
        correlations: from :func:`reln.theory.pathway_correlations`.
        output_masks: ``(p, n_out)`` 0/1.
        W0: ``(p, n_out, n_in)`` end-to-end maps at ``t = 0`` (e.g. effective initial maps).
        depth: number of weight layers ``N`` of every pathway (2 is :mod:`reln.theory.flow`).
        lr: learning rate of the gradient descent described (``tau = 1 / (P lr)``).
        epochs: increasing times in epochs, starting at 0.

    Returns:
        ``(len(epochs), p, n_out, n_in)``.
    """
    tau = 1.0 / (correlations.P * lr)
    factors = balanced_factors(W0, depth)
    shapes = [f.shape for f in factors]
    sizes = [int(np.prod(s)) for s in shapes]
    scale = max(float(max(np.abs(f).max() for f in factors)), 1e-300)

    def unpack(flat):
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(flat[start: start + size].reshape(shape))
            start += size
        return parts

    def rhs(_t, flat):
        A = unpack(flat)
        W = _product(A)
        G = error_correlation(correlations, output_masks, W)
        grads = []
        for k in range(depth):
            left = _product(A[k + 1:]) if k + 1 < depth else None  # (p, n_out, rows of A_k)
            right = _product(A[:k]) if k > 0 else None  # (p, cols of A_k, n_in)
            g = G if left is None else np.swapaxes(left, 1, 2) @ G
            g = g if right is None else g @ np.swapaxes(right, 1, 2)
            grads.append(g.ravel())
        return np.concatenate(grads) / tau

    from scipy.integrate import solve_ivp  # here: scipy.integrate takes ~1 s to import

    solution = solve_ivp(
        rhs, (float(epochs[0]), float(epochs[-1])), np.concatenate([f.ravel() for f in factors]),
        t_eval=np.asarray(epochs, float), method="RK45", rtol=rtol, atol=1e-6 * scale,
    )
    if not solution.success:
        raise RuntimeError(f"the deep end-to-end flow did not integrate: {solution.message}")
    return np.stack([_product(unpack(y)) for y in solution.y.T])
