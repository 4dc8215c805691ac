"""The balanced flow's Runge-Kutta integration, compiled with JAX (docs/theory.md §2.7).

:func:`reln.theory.balanced.integrate_flow` with ``method="rk4"`` lands here: classical RK4 steps
of ``stride`` epochs on the balanced factors ``(A_p, B_p)``, the loss between step ends by cubic
Hermite interpolation (:mod:`reln.theory.stepping`), compiled as one ``lax.scan`` in float64. One
compilation per shape and static setting, shared by every call with those.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from reln.theory.stepping import stepper


@functools.partial(jax.jit, static_argnames=("method", "stride", "tail_phases", "masked"))
def integrate_rk4(A0, B0, Xp, Yj, out, gate_table, step_phase, tau, *, method, stride, tail_phases, masked):
    """Integrate balanced factors ``A0 (p, k, r)``, ``B0 (p, r, n_in)`` over the strided steps
    ``step_phase`` and the one-epoch ``tail_phases``; ``Xp`` are the masked inputs ``(p, n_in, P)``,
    ``out`` the output masks in the reduced basis ``(p, k, k)`` (used when ``masked``).

    Returns:
        ``(A, B), (losses, tail_losses), snapshot singular values, final singular values``.
    """
    P = Xp.shape[-1]

    def mask(M):  # M_out^p M, in the reduced output basis
        return jnp.einsum("pkl,pl...->pk...", out, M) if masked else M

    def velocity(state, g):
        """``tau d(A, B)/dt``, the loss and ``tau dL/dt = -P (||dA||^2 + ||dB||^2)``."""
        A, B = state
        maps = mask(jnp.einsum("por,prn->pon", A, jnp.einsum("pri,pin->prn", B, Xp)))
        E = Yj - jnp.einsum("pn,pon->on", g, maps)
        G = mask(jnp.einsum("on,pn,pin->poi", E, g, Xp)) / P
        dA, dB = jnp.einsum("poi,pri->por", G, B), jnp.einsum("por,poi->pri", A, G)
        return (dA, dB), 0.5 * jnp.sum(E**2), -P * (jnp.sum(dA**2) + jnp.sum(dB**2))

    def singular_values(state):
        A, B = state
        return jnp.linalg.svd(jnp.einsum("por,pri->poi", A, B), compute_uv=False)

    first_carry, step, tail = stepper(velocity, gate_table, tau, stride=stride, method=method)

    def block(carry, phases):
        sv = singular_values(carry[0])
        carry, losses = jax.lax.scan(step, carry, phases)
        return carry, (losses.ravel(), sv)

    carry, (losses, sv) = jax.lax.scan(block, first_carry((A0, B0), step_phase[0, 0]), step_phase)
    state, tail_losses = tail(carry[0], tail_phases)
    return state, (losses.ravel(), tail_losses), sv, singular_values(state)
