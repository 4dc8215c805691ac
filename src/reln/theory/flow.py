"""Exact end-to-end dynamics of balanced two-layer pathways (docs/theory.md §2, project inference).

A pathway ``W = W_2 W_1`` whose factors are balanced, ``W_2^T W_2 = W_1 W_1^T`` (gradient flow
keeps this), evolves under gradient flow on its factors exactly as (Arora et al. 2018)

    tau dW_p/dt = (W_p W_p^T)^{1/2} G_p + G_p (W_p^T W_p)^{1/2},
    G_p = Sigma_yx(p) - sum_q M_out^p W_q Sigma_x(q, p),      tau = 1 / (P lr)  epochs,

with ``W_p`` the pathway's (masked) end-to-end map. No modes are paired with eigenvalues and no
overlap is fitted: the coupling between pathways is ``Sigma_x(q, p)`` itself, and the only input is
``W_p(0)``. With ``W = U S V^T`` the square roots are ``U S U^T`` and ``V S V^T``.

The result is a gradient *flow*; gradient descent with learning rate ``lr`` follows it up to
``O(lr)`` (discretisation), which tests bound explicitly.
"""

from __future__ import annotations

import numpy as np

from reln.models.pathways import GDLN
from reln.tasks import Task
from reln.theory.correlations import PathwayCorrelations


def error_correlation(correlations: PathwayCorrelations, output_masks: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``G_p = Sigma_yx(p) - sum_q M_out^p W_q Sigma_x(q, p)`` for maps ``W`` ``(p, n_out, n_in)``:
    the input-output correlation of the error on pathway ``p``'s samples, which drives it."""
    return correlations.yx - np.einsum("po,qoj,qpji->poi", output_masks, W, correlations.xx)


def _velocity(W: np.ndarray, correlations: PathwayCorrelations, output_masks: np.ndarray) -> np.ndarray:
    """``tau dW/dt`` for every pathway, ``W`` of shape ``(p, n_out, n_in)``."""
    G = error_correlation(correlations, output_masks, W)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    left = np.einsum("pok,pk,pjk->poj", U, s, U) @ G
    right = G @ np.einsum("pki,pk,pkj->pij", Vt, s, Vt)
    return left + right


def end_to_end_flow(
    correlations: PathwayCorrelations,
    output_masks: np.ndarray,
    W0: np.ndarray,
    *,
    lr: float,
    epochs: np.ndarray,
    rtol: float = 1e-9,
) -> np.ndarray:
    """Integrate the balanced end-to-end flow and return ``W_p(t)`` at the given epochs.

    Args:
        correlations: from :func:`reln.theory.pathway_correlations`.
        output_masks: ``(p, n_out)`` 0/1, the GDLN's output masks.
        W0: ``(p, n_out, n_in)`` the end-to-end maps at ``t = 0``.
        lr: the learning rate of the gradient descent being described (``tau = 1/(P lr)``).
        epochs: increasing times (in epochs) to report, starting at 0.

    Returns:
        ``(len(epochs), p, n_out, n_in)``.
    """
    tau = 1.0 / (correlations.P * lr)
    shape = W0.shape
    scale = max(float(np.abs(W0).max()), 1e-300)

    def rhs(_t, flat):
        return _velocity(flat.reshape(shape), correlations, output_masks).ravel() / tau

    from scipy.integrate import solve_ivp  # here: scipy.integrate takes ~1 s to import

    # W starts tiny and grows by orders of magnitude: the absolute tolerance follows W(0)'s scale.
    solution = solve_ivp(
        rhs, (float(epochs[0]), float(epochs[-1])), W0.ravel(), t_eval=np.asarray(epochs, float),
        method="RK45", rtol=rtol, atol=1e-6 * scale,
    )
    if not solution.success:
        raise RuntimeError(f"the end-to-end flow did not integrate: {solution.message}")
    return solution.y.T.reshape(len(epochs), *shape)


def flow_loss(task: Task, gdln: GDLN, W: np.ndarray) -> np.ndarray:
    """The loss ``1/2 sum_i ||y_i - sum_p g_p(i) W_p x_i||^2`` for maps ``W`` ``(T, p, n_out, n_in)``."""
    X = task.X[None] * gdln.input_masks[:, :, None]
    Yhat = np.einsum("tpoi,pin,pn->ton", W, X, gdln.gates)
    return 0.5 * np.sum((task.Y[None] - Yhat) ** 2, axis=(1, 2))


def effective_initial_maps(correlations: PathwayCorrelations, W_in: np.ndarray, W_out: np.ndarray) -> np.ndarray:
    """Balanced end-to-end maps equivalent to a small random initialisation (docs/theory.md §2.8).

    The balanced flow needs balanced factors; a random initialisation is not balanced. While the
    weights are small the dynamics are linear: for a mode ``(u_k, s_k, v_k)`` of ``Sigma_yx(p)`` and
    hidden unit ``h`` with ``a_h = v_k . w_in_h`` and ``b_h = u_k . w_out_h``,

        tau d(a_h + b_h)/dt = s_k (a_h + b_h),   tau d(a_h - b_h)/dt = -s_k (a_h - b_h),

    (``Sigma_x`` does not enter while ``W ~ 0``). The difference dies out and the mode strength
    ``pi_k = sum_h a_h b_h`` becomes that of a balanced pathway started at

        pi_k(0) = 1/4 sum_h (a_h + b_h)^2,

    whose expectation for ``N(0, sigma^2)`` entries is ``H sigma^2 / 2``. This is computed from the
    actual initial weights, so nothing is fitted.

    Args:
        correlations: from :func:`reln.theory.pathway_correlations`.
        W_in: ``(p, H, n_in)`` first-layer weights (masked), ``W_out`` ``(p, n_out, H)``.

    Returns:
        ``(p, n_out, n_in)``: ``sum_k pi_k(0) u_k v_k^T`` per pathway.
    """
    maps = np.zeros_like(correlations.yx)
    for p, yx in enumerate(correlations.yx):
        U, s, Vt = np.linalg.svd(yx, full_matrices=False)
        keep = s > 1e-12 * max(s.max(), 1e-300)
        a = Vt[keep] @ W_in[p].T
        b = U[:, keep].T @ W_out[p]
        maps[p] = (U[:, keep] * (0.25 * np.sum((a + b) ** 2, axis=1))) @ Vt[keep]
    return maps
