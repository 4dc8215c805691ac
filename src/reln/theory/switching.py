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

**Initial condition**: each unit's effective balanced weights at ``t = 0`` (:mod:`reln.theory.effective`,
docs/theory.md §2.8).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import ModelFailed
from reln.theory.balanced import FlowResult, output_basis
from reln.theory.stepping import check_method, step_schedule, stepper


def _gated_gradient(W1, W2, X, Y, g):
    """``tau`` times the flow of gated linear units, ``(dW1, dW2)``, and their error ``E = Y - W2 (g * W1 X)``."""
    P = X.shape[1]
    hidden = g * (W1 @ X)
    E = Y - W2 @ hidden
    return ((W2.T @ E) * g) @ X.T / P, E @ hidden.T / P, E


@functools.partial(jax.jit, static_argnames=("stride", "tail", "method", "pin", "keep_error"))
def _integrate(W1, W2, X, Y, unit_gates, projectors, projector_index, membership, step_phase, tau, row_space, *, stride,
               tail, method, pin, keep_error=False):
    """The units' weights stepped by :func:`reln.theory.stepping.stepper`; ``step_phase``
    ``(blocks, steps)``, ``-1`` leaves the state; pathway maps, and the loss split by the inputs'
    ``row_space`` projector (:func:`reln.identification.analysis.loss_split`), once per block. Unit
    ``j`` moves its input weights within ``projectors[projector_index[phase, j]]`` (pinned kinks).
    With ``keep_error`` (gradient descent) each recorded loss is ``(loss, error)``."""
    P = X.shape[1]

    def velocity(state, phase_data):
        W1, W2 = state
        g, index = phase_data
        dW1, dW2, E = _gated_gradient(W1, W2, X, Y, g)
        if pin:  # a static choice: without pins, no per-unit projection to pay for
            dW1 = jnp.einsum("hij,hj->hi", projectors[index], dW1)
        loss = 0.5 * jnp.sum(E**2)
        return (dW1, dW2), (loss, E) if keep_error else loss, -P * (jnp.sum(dW1**2) + jnp.sum(dW2**2))

    def pathway_maps(state, phase):
        # singular values are taken afterwards in NumPy: LAPACK inside a compiled program hangs
        # when two threads run it at once, and seeds run on threads (predict_compact)
        W1, W2 = state
        return jnp.einsum("ph,oh,hi->poi", membership[phase], W2, W1)

    def split(state, phase):
        W1, W2 = state
        E = Y - W2 @ (unit_gates[phase] * (W1 @ X))
        inside = E @ row_space
        return jnp.stack([0.5 * jnp.sum(inside**2), 0.5 * jnp.sum((E - inside) ** 2)])

    first_carry, step, run_tail = stepper(velocity, (unit_gates, projector_index), tau, stride=stride, method=method)

    def block(carry, phases):
        phase = jnp.maximum(phases[0], 0)
        maps, parts = pathway_maps(carry[0], phase), split(carry[0], phase)
        carry, losses = jax.lax.scan(step, carry, phases)  # leaves (steps, stride, ...)
        return carry, (jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), losses), maps, parts)

    carry, (losses, maps, parts) = jax.lax.scan(block, first_carry((W1, W2), step_phase[0, 0]), step_phase)
    state, tail_losses = run_tail(carry[0], tail)
    losses = jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), losses)  # (blocks * steps * stride, ...)
    last = (pathway_maps(state, tail[-1]), split(state, tail[-1]))
    return state, losses, tail_losses, maps, last[0], jnp.concatenate([parts, last[1][None]])


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
    keep_error: bool = False,
    substeps: int = 1,
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
        keep_error: also return the error ``Y - Yhat`` at every epoch, ``(epochs + 1, n_out, P)``
            (``method="gd"``, where each step is one epoch; the field of docs/theory.md §5.8 fed back).
        substeps: with ``method="gd"``, Euler steps per epoch, each of ``1 / substeps`` epoch
            (gradient descent at ``lr / substeps``). While the dynamics are linear in the weights
            (``w <- (I + lr A) w`` per full step, the growth from small weights), an epoch of ``n``
            mini-batches multiplies ``w`` by ``prod_b (I + lr A_b)`` with ``sum_b A_b = A``; for
            batches alike (``A_b ~ A / n``) that is, to second order in ``lr``, the ``n`` steps of
            ``A / n`` that ``substeps = n`` takes (docs/theory.md §2.2). Loss and error are kept once
            per epoch.

    With ``substeps = 2`` the run is gradient descent at half the step, twice as long, seen every
    other step:

    >>> X, Y = np.eye(2), np.diag([1.0, 0.5])
    >>> W1, W2 = np.full((1, 2), 0.1), np.full((2, 1), 0.1)
    >>> gates, member = np.ones((1, 1, 2)), np.ones((1, 1, 1))
    >>> run = lambda **k: integrate_switching(X, Y, np.array([0]), gates, member, W1, W2, method="gd", stride=1, **k)
    >>> bool(np.allclose(run(lr=0.1, epochs=40, substeps=2).loss, run(lr=0.05, epochs=80).loss[::2]))
    True
    """
    start = time.perf_counter()
    epochs, stride, substeps = int(epochs), int(stride), int(substeps)
    check_method(method, stride, substeps)
    if keep_error and method != "gd":
        raise ValueError("keep_error needs method='gd' (an RK4 step spans several epochs)")
    if substeps > 1:  # gradient descent at lr / n for n times the epochs, kept once per epoch
        result = integrate_switching(
            X, Y, np.asarray(phase_starts, int) * substeps, unit_gates, membership, W1, W2, lr=lr / substeps,
            epochs=epochs * substeps, method=method, stride=1, snapshot_every=snapshot_every * substeps, x64=x64,
            pinned=pinned, keep_error=keep_error)
        return result.per_epoch(substeps, time.perf_counter() - start)
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
        (W1f, W2f), losses, tail_losses, maps, last_maps, split = jax.device_get(_integrate(
            W1d, W2d, Xd, Yd, gates_d, projectors, jnp.asarray(pinned[1], jnp.int32), jnp.asarray(membership, dtype),
            jnp.asarray(step_phase), dtype(1.0 / (P * lr)), jnp.asarray(np.linalg.pinv(X) @ X, dtype),
            stride=stride, tail=tail, method=method, pin=pin, keep_error=keep_error,
        ))
    error = None
    if keep_error:  # the error in the output basis, back in the outputs' coordinates
        (losses, E), (tail_losses, tail_E) = losses, tail_losses
        E = np.concatenate([np.asarray(E)[:main], np.asarray(tail_E)])
        error = Q.astype(E.dtype) @ E  # batched over epochs
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
        error=error,
        split=np.asarray(split, np.float64),
    )
