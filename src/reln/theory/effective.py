"""Each hidden unit's effective balanced weights at ``t = 0``, from a small random initialisation (docs/theory.md §2.8).

While the weights are small, a unit's projections ``a = v_k . w_in``, ``b = u_k . w_out`` on a mode of
``Sigma_yx`` obey ``tau d(a+b)/dt = s_k (a+b)``, ``tau d(a-b)/dt = -s_k (a-b)``: the unit becomes
the balanced unit ``w_in = sum_k c_k v_k``, ``w_out = sum_k c_k u_k`` with ``c_k = (a_k + b_k)/2``.
For a bias-free ReLU unit one more fact enters: a non-negative ``Sigma_yx`` (non-negative targets
and inputs) has a Perron mode with ``v_1 . x_i > 0`` on every sample, so a unit with ``c_1 < 0``
grows along ``-v_1``, turns off on every sample and carries no growth: it starts at zero. Such
units hold only a small share of the ReLU's unit weight after the early growth. The expected mode
strength is then ``E[pi_k(0)] = H E[c_k^2 1(c_1 > 0)] = H (sigma_1^2 + sigma_2^2) / 8`` (half the
linear network's; :func:`expected_mode_strength`).

That rule is the leading order. Exactly, a ReLU unit's gates are random at first (on ~half the
samples), which slows or speeds its growth before they settle; :func:`relu_effective_unit_weights`
integrates each unit's own early dynamics (units do not interact while ``E = Y``) and reads the
effective ``c_k`` off after the gates settle. Against simulated ReLU networks it holds closely
per draw (``tests/test_theory_init.py``), and it shows the leading-order law off by the gating
transient: a few per cent low with equal stds, either way and by much more for stds far apart.
Used as the initial condition of the switching theory it predicts the presets' first drops
*earlier* than the leading-order rule (on ``contexts-diff`` the ReLU's lies between the two), and
the max gap to the ReLU is smaller on ``contexts-diff`` but larger with more contexts (the report
of ``reln reproduce`` shows them). The later dynamics, with units fully on across their contexts,
grow faster than the ReLU's units, which are on for only some items; the leading-order rule,
which starts the units smaller, offsets this; :func:`reln.theory.predict_compact` uses the
leading-order rule.
"""

from __future__ import annotations

import numpy as np

from reln.gates.unit_flow import decoupled_velocity


def perron_sign(yx: np.ndarray, X: np.ndarray) -> float:
    """``+1`` or ``-1`` orienting the top mode of ``Sigma_yx`` so that ``v_1 . x_i > 0`` on every
    sample, or ``0`` when no orientation does (then no unit is switched off by the rule below)."""
    _, _, Vt = np.linalg.svd(yx, full_matrices=False)
    projections = Vt[0] @ X
    scale = np.abs(projections).max(initial=0.0)
    if scale == 0:
        return 0.0
    for sign in (1.0, -1.0):
        if np.all(sign * projections > 1e-12 * scale):
            return sign
    return 0.0


def effective_unit_weights(
    yx: np.ndarray, X: np.ndarray, w_in: np.ndarray, w_out: np.ndarray, *, relu: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's balanced weights after the early linear phase (module docstring).

    Args:
        yx: ``(n_out, n_in)`` the input-output correlation the units first learn from.
        X: ``(n_in, P)`` the inputs (to orient the Perron mode).
        w_in: ``(H, n_in)``, ``w_out``: ``(n_out, H)`` the initial weights.
        relu: whether the units are bias-free ReLU units (those growing against the Perron mode
            start at zero).

    Returns:
        ``(W_1 (H, n_in), W_2 (n_out, H))``, balanced unit by unit (``||w_in|| = ||w_out||``) and
        as a layer (``W_2^T W_2 = W_1 W_1^T``).
    """
    U, s, Vt = np.linalg.svd(yx, full_matrices=False)
    keep = s > 1e-12 * max(s.max(initial=0.0), 1e-300)
    U, Vt = U[:, keep], Vt[keep]
    c = 0.5 * (np.asarray(w_in, np.float64) @ Vt.T + np.asarray(w_out, np.float64).T @ U)
    sign = perron_sign(yx, X) if relu and keep.any() else 0.0
    if sign:
        c[sign * c[:, 0] < 0] = 0.0
    return c @ Vt, U @ c.T


def relu_effective_unit_weights(
    X: np.ndarray, Y: np.ndarray, w_in: np.ndarray, w_out: np.ndarray, *, growth: float = 1e4, steps_per_unit: int = 40,
    lr: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each ReLU unit's balanced weights after its own early flow, extrapolated back to ``t = 0``.

    While the weights are small the error is ``E = Y`` and the units do not interact: each follows

        tau dw_in/dt = (1/P) sum_i g_i (w_out . y_i) x_i,   tau dw_out/dt = (1/P) sum_i g_i (w_in . x_i) y_i,

    with its own gate ``g_i = 1[w_in . x_i > 0]``. The flow is homogeneous (degree 1), so it is
    integrated from the unit's initial weights scaled to norm 1 and scaled back. Once a unit's gate
    has settled on every sample its mode projections obey the linear law, ``(a_k + b_k)(t) =
    (a_k + b_k)(t_0) e^{s_k (t - t_0)/tau}``; so ``c_k = (a_k + b_k)(T)/2 e^{-s_k T/tau}`` is the
    strength of the balanced unit that, started at ``t = 0``, is where the ReLU unit is at ``T``.
    A unit that switched off everywhere stays at its (small) init and gets ``c ~ 0``; one whose
    random initial gate slowed it gets a smaller ``c`` than ``(a_k + b_k)(0)/2``.

    Args:
        X: ``(n_in, P)``, ``Y``: ``(n_out, P)`` the task.
        w_in: ``(H, n_in)``, ``w_out``: ``(n_out, H)`` the initial weights.
        growth: how far the top mode grows during the early flow, ``T = tau ln(growth)/s_1``
            (1e4: other modes' share then shrinks by ``growth^{1 - s_k/s_1}``, and gates settle).
        steps_per_unit: RK4 steps per unit of ``s_1 t/tau`` (the top mode's e-folding time).
        lr: ``None`` for the gradient flow; a learning rate for gradient descent (one step per
            epoch, the modes then grow by ``1 + P lr s_k`` per epoch).

    Returns:
        ``(W_1 (H, n_in), W_2 (n_out, H))`` balanced unit by unit: ``w_in = sum_k c_k v_k``,
        ``w_out = sum_k c_k u_k``.
    """
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    P = X.shape[1]
    U, s, Vt = np.linalg.svd(Y @ X.T / P, full_matrices=False)
    keep = s > 1e-12 * max(s.max(initial=0.0), 1e-300)
    U, s, Vt = U[:, keep], s[keep], Vt[keep]
    w_in, w_out = np.asarray(w_in, np.float64), np.asarray(w_out, np.float64).T  # (H, n_in), (H, n_out)
    norm = np.sqrt(np.sum(w_in**2, axis=1) + np.sum(w_out**2, axis=1))
    scale = np.where(norm > 0, norm, 1.0)[:, None]
    a, b = w_in / scale, w_out / scale

    def velocity(a, b):  # the decoupled units' flow, in units of tau (hence the 1/P)
        d_in, d_out, _ = decoupled_velocity(a, b, X, Y)
        return d_in / P, d_out / P

    if lr is None:  # gradient flow, time in units of tau
        T = np.log(growth) / s[0]
        n = int(np.ceil(steps_per_unit * np.log(growth)))
        h = T / n
        for _ in range(n):
            k1 = velocity(a, b)
            k2 = velocity(a + 0.5 * h * k1[0], b + 0.5 * h * k1[1])
            k3 = velocity(a + 0.5 * h * k2[0], b + 0.5 * h * k2[1])
            k4 = velocity(a + h * k3[0], b + h * k3[1])
            a = a + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            b = b + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        decay = np.exp(-s * T)
    else:  # gradient descent, one step per epoch: tau = 1/(P lr), modes grow by (1 + P lr s) per epoch
        rho = P * lr
        n = int(np.ceil(np.log(growth) / np.log1p(rho * s[0])))
        for _ in range(n):
            da, db = velocity(a, b)
            a, b = a + rho * da, b + rho * db
        decay = (1 + rho * s) ** -float(n)
    c = 0.5 * (a @ Vt.T + b @ U) * decay * scale
    return c @ Vt, U @ c.T


def expected_mode_strength(width: int, init_std: tuple[float, float], *, relu: bool) -> float:
    """``E[pi_k(0)]`` of a pathway of ``width`` units with ``N(0, sigma_1^2)``, ``N(0, sigma_2^2)``
    input and output weights: ``c_k = (a + b)/2 ~ N(0, (sigma_1^2 + sigma_2^2)/4)``, so
    ``E[sum_h c_k^2] = H (sigma_1^2 + sigma_2^2)/4`` for linear units, and half of it for ReLU
    units (only the ``c_1 > 0`` half grow; ``c_k`` and ``c_1`` are independent for ``k > 1``)."""
    strength = width * (init_std[0] ** 2 + init_std[1] ** 2) / 4
    return strength / 2 if relu else strength
