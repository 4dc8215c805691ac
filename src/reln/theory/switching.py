"""Pathways whose units switch gates: the balanced flow with weight carried across switches (docs/theory.md §2.7, §5.5).

A one-hidden-layer ReLU network does not keep its pathways fixed. Early on all its weight sits
in units active in every context; units serving the common structure then turn off in one context
(``contexts-diff``: through the context-specific phase) and *carry their grown weight* into an
all-but-one pathway. A fixed-gate ReLN whose context pathways start from the initialisation
learns the context-specific phase too slowly and ends on a higher loss than the ReLU.

**Units carry their share of a balanced pathway.** Take a pathway of ``H`` units with balanced
factors, ``W_1 = R B`` (``H x n_in``), ``W_2 = A R^T`` with ``A^T A = B B^T`` and ``R`` ``(H x r)``
with orthonormal columns. Under gradient flow ``tau dW_1/dt = W_2^T G = R A^T G`` and
``tau dB/dt = A^T G``: ``R`` is constant, and the pathway's map ``W = A B`` follows the balanced
end-to-end flow of :mod:`reln.theory.flow`. The part of the map carried by a subset ``S`` of units
is ``A R_S^T R_S B`` at every time, and the units left behind, ``A R_K^T``, ``R_K B``, are balanced
again (``R_K A^T A R_K^T = R_K B B^T R_K^T``). So when units switch pathway, each pathway hands
over exactly the map its switching units carry, and the pathways stay balanced flows. Holding
``R`` for every pathway is holding each unit's balanced weights; that is how it is computed here
(``W_1``, ``W_2`` of the units, cheaper than per-pathway factors when switches are many).

**Gates.** The units follow a given gate schedule, piecewise constant in time (the compact
ReLN's, :class:`reln.gates.CompactRule`): per unit and sample in each phase, and a unit's
pathway is the set of contexts it is open in. The weights evolve by the flow alone.

**Initial condition** (:func:`effective_unit_weights`, docs/theory.md §2.8). While the
weights are small, a unit's projections ``a = v_k . w_in``, ``b = u_k . w_out`` on a mode of
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

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import ModelFailed
from reln.gates.unit_flow import decoupled_velocity
from reln.theory.balanced import FlowResult, output_basis
from reln.theory.stepping import check_method, step_schedule, stepper


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


@functools.partial(jax.jit, static_argnames=("stride", "tail", "method", "pin"))
def _integrate(W1, W2, X, Y, unit_gates, projectors, projector_index, membership, step_phase, tau, *, stride, tail, method, pin):
    """The units' weights stepped by :func:`reln.theory.stepping.stepper`; ``step_phase``
    ``(blocks, steps)``, ``-1`` leaves the state; pathway maps once per block. Unit ``j`` moves its
    input weights within ``projectors[projector_index[phase, j]]`` (pinned kinks)."""
    P = X.shape[1]

    def velocity(state, phase_data):
        W1, W2 = state
        g, index = phase_data
        hidden = g * (W1 @ X)
        E = Y - W2 @ hidden
        dW1 = ((W2.T @ E) * g) @ X.T / P
        if pin:  # a static choice: without pins, no per-unit projection to pay for
            dW1 = jnp.einsum("hij,hj->hi", projectors[index], dW1)
        dW2 = E @ hidden.T / P
        return (dW1, dW2), 0.5 * jnp.sum(E**2), -P * (jnp.sum(dW1**2) + jnp.sum(dW2**2))

    def pathway_maps(state, phase):
        # singular values are taken afterwards in NumPy: LAPACK inside a compiled program hangs
        # when two threads run it at once, and seeds run on threads (predict_compact)
        W1, W2 = state
        return jnp.einsum("ph,oh,hi->poi", membership[phase], W2, W1)

    first_carry, step, run_tail = stepper(velocity, (unit_gates, projector_index), tau, stride=stride, method=method)

    def block(carry, phases):
        maps = pathway_maps(carry[0], jnp.maximum(phases[0], 0))
        carry, losses = jax.lax.scan(step, carry, phases)
        return carry, (losses.ravel(), maps)

    carry, (losses, maps) = jax.lax.scan(block, first_carry((W1, W2), step_phase[0, 0]), step_phase)
    state, tail_losses = run_tail(carry[0], tail)
    return state, losses.ravel(), tail_losses, maps, pathway_maps(state, tail[-1])


def integrate_switching(
    X: np.ndarray,
    Y: np.ndarray,
    phase_starts: np.ndarray,
    unit_gates: np.ndarray,
    membership: np.ndarray,
    W1: np.ndarray,
    W2: np.ndarray,
    *,
    lr: float,
    epochs: int,
    method: str = "rk4",
    stride: int = 5,
    snapshot_every: int = 10,
    x64: bool = False,
    pinned: tuple[np.ndarray, np.ndarray] | None = None,
) -> FlowResult:
    """Gradient flow of units whose gates change at given epochs, from balanced weights.

    Args:
        X: ``(n_in, P)``, ``Y``: ``(n_out, P)``.
        phase_starts: ``(n_phases,)`` epochs (``0`` first, multiples of ``stride``).
        unit_gates: ``(n_phases, H, P)`` each unit's gate per phase.
        membership: ``(n_phases, p, H)`` 0/1, which units form pathway ``p`` in each phase (for
            the singular values and final maps only; the loss counts every unit).
        W1: ``(H, n_in)``, ``W2``: ``(n_out, H)`` initial weights (e.g. :func:`effective_unit_weights`).
        lr: the learning rate described, ``tau = 1 / (P lr)``; ``epochs``: the length.
        stride: epochs per RK4 step (5: on the presets the loss is that of a 1-epoch stride to
            well within the reported precision; the fastest rate is small per epoch, see
            :mod:`reln.theory.balanced`).
        snapshot_every: epochs between singular-value snapshots (rounded to the stride).
        pinned: ``(projectors, index)`` of :func:`reln.relns.unit_gated.kink_projectors`: unit ``j``'s
            input weights move within ``projectors[index[phase, j]]``, holding its pinned
            pre-activations (the ReLU's kinks, :func:`reln.relns.imitate.kink_gates`); none by default.
        x64: integrate in float64. The default float32 is the precision the ReLU trains in;
            on the presets it changes no reported gap noticeably and is faster than float64.
    """
    start = time.perf_counter()
    epochs, stride = int(epochs), int(stride)
    check_method(method, stride)
    phase_starts = np.asarray(phase_starts, int)
    if phase_starts[0] != 0 or np.any(np.diff(phase_starts) <= 0) or np.any(phase_starts % stride):
        raise ValueError(f"phase starts must begin at 0, increase and be multiples of {stride}: {phase_starts[:5]}...")
    P = X.shape[1]
    W1, W2 = np.asarray(W1, np.float64), np.asarray(W2, np.float64)
    Q = output_basis(Y, W2[None], np.ones((1, Y.shape[0])))  # W2's columns stay in span(Y, W2(0))
    main, every, step_phase, tail = step_schedule(phase_starts, epochs, stride, snapshot_every)
    dtype = jnp.float64 if x64 else jnp.float32
    with jax.enable_x64(x64):
        pin = pinned is not None
        if not pin:
            pinned = (np.eye(X.shape[0])[None], np.zeros(unit_gates.shape[:2], np.int32))
        W1d, W2d, Xd, Yd, gates_d, projectors = (
            jnp.asarray(a, dtype) for a in (W1, Q.T @ W2, X, Q.T @ Y, unit_gates, pinned[0])
        )
        (W1f, W2f), losses, tail_losses, maps, last_maps = jax.device_get(_integrate(
            W1d, W2d, Xd, Yd, gates_d, projectors, jnp.asarray(pinned[1], jnp.int32), jnp.asarray(membership, dtype),
            jnp.asarray(step_phase), dtype(1.0 / (P * lr)), stride=stride, tail=tail, method=method, pin=pin,
        ))
    loss = np.concatenate([np.asarray(losses)[:main], np.asarray(tail_losses)])
    if not np.isfinite(loss).all():
        first = int(np.flatnonzero(~np.isfinite(loss))[0])
        raise ModelFailed("theory", f"model 'theory': the balanced flow diverged (loss {loss[first]} at step {first}); "
                                    f"its steps of 1 / (P lr) = {1.0 / (P * lr):.3g} time constants are too long at lr={lr}")
    final_maps = np.einsum("ph,oh,hi->poi", membership[tail[-1]], Q @ W2f, W1f)
    return FlowResult(
        loss=loss,
        snapshot_epochs=np.append(np.arange(len(step_phase)) * every, epochs),
        singular_values=np.linalg.svd(
            np.concatenate([np.asarray(maps), np.asarray(last_maps)[None]]).astype(np.float64), compute_uv=False
        ),
        final_maps=final_maps,
        seconds=time.perf_counter() - start,
    )
