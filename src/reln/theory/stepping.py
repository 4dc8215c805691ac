"""Fixed-step integration of gated gradient flows with gates that change at given epochs.

Shared by :mod:`reln.theory.balanced_rk4` (balanced factors of pathways) and
:mod:`reln.theory.switching` (units that switch pathways): both describe a state whose velocity
``tau d(state)/dt`` depends on the gates in force, and record the loss at every epoch.

* ``method="rk4"``: classical Runge-Kutta steps of ``stride`` epochs. The loss at the epochs inside
  a step is the cubic Hermite interpolant of the loss and its slope ``tau dL/dt`` at the step's
  ends, so a step costs four velocity evaluations however many epochs it spans.
* ``method="gd"`` (``stride = 1``): explicit Euler with one step per epoch, which *is* full-batch
  gradient descent with learning rate ``lr`` (``tau = 1 / (P lr)``). Its "loss" is recorded as the
  velocity returns it, so it may be a pytree (the loss and the error ``Y - Yhat``, kept every epoch).

The epochs are split as :func:`step_schedule` says: strided steps grouped in blocks of one
snapshot each over ``[0, main)``, then one-epoch steps for the last ``epochs - main < stride``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Velocity = Callable  # (state, gates) -> (tau d(state)/dt, loss, tau dL/dt)


def check_method(method: str, stride: int, substeps: int = 1) -> None:
    if method not in ("rk4", "gd") or stride < 1 or (method == "gd" and stride != 1):
        raise ValueError(f"method must be 'rk4' (any stride >= 1) or 'gd' (stride 1), got {method!r}, {stride}")
    if substeps < 1 or (substeps > 1 and method != "gd"):
        raise ValueError(f"substeps must be a positive integer, and more than 1 only with method='gd', got {substeps}")


def step_schedule(phase_starts: np.ndarray, epochs: int, stride: int, snapshot_every: int):
    """Which gate phase every strided step uses, blocked by snapshot.

    Returns:
        ``(main, every, step_phase (n_blocks, steps_per_block), tail_phases)``: the strided steps
        cover ``[0, main)`` with a snapshot every ``every`` epochs; a step with phase ``-1``
        (filling the last block) leaves the state as it is; ``tail_phases`` are the phases of the
        epochs ``main .. epochs``, stepped one epoch at a time.
    """
    main = epochs - epochs % stride
    every = stride * max(1, -(-min(int(snapshot_every), max(main, 1)) // stride))
    steps_per_block = every // stride
    n_blocks = max(1, -(-main // every))
    step_starts = np.arange(n_blocks * steps_per_block) * stride
    step_phase = np.searchsorted(phase_starts, step_starts, side="right") - 1
    step_phase[step_starts >= main] = -1
    tail_phases = np.searchsorted(phase_starts, np.arange(main, epochs + 1), side="right") - 1
    return main, every, step_phase.reshape(n_blocks, steps_per_block), tuple(int(k) for k in tail_phases)


def stepper(velocity: Velocity, gate_table, tau, *, stride: int, method: str):
    """The scan body over strided steps, and the one-epoch tail, for a traced ``velocity``.

    ``gate_table`` is an array, or a pytree of arrays, with the phases on axis 0; ``velocity``
    receives its entries of the phase in force.

    Returns:
        ``(first_carry, step, tail)``: ``first_carry(state, phase)`` starts a scan; ``step(carry,
        phase) -> (carry, losses (stride,))`` advances one strided step (the velocity at a step's
        start is the previous step's end velocity unless the gates changed);
        ``tail(state, tail_phases) -> (state, losses)`` takes the last epochs one at a time.
    """
    import jax  # here, not at the top: check_method and step_schedule serve NumPy integrators too
    import jax.numpy as jnp

    def axpy(a, x, y):
        return jax.tree.map(lambda u, v: u + a * v, y, x)

    def advance(state, f0, g, h):  # one step of h epochs from state with velocity f0
        if method == "gd":
            return axpy(h / tau, f0, state)
        k2 = velocity(axpy(0.5 * h / tau, f0, state), g)[0]
        k3 = velocity(axpy(0.5 * h / tau, k2, state), g)[0]
        k4 = velocity(axpy(h / tau, k3, state), g)[0]
        increment = jax.tree.map(lambda a, b, c, d: (a + 2 * b + 2 * c + d) / 6, f0, k2, k3, k4)
        return axpy(h / tau, increment, state)

    # cubic Hermite basis on theta = (epochs into the step) / stride
    theta = jnp.arange(stride) / stride
    h00, h10 = 2 * theta**3 - 3 * theta**2 + 1, theta**3 - 2 * theta**2 + theta
    h01, h11 = -2 * theta**3 + 3 * theta**2, theta**3 - theta**2

    def gates_of(phase):
        return jax.tree.map(lambda table: table[phase], gate_table)

    def first_carry(state, phase):
        return state, velocity(state, gates_of(jnp.maximum(phase, 0))), phase

    def step(carry, phase):
        state, (f0, L0, dL0), f_phase = carry
        g = gates_of(jnp.maximum(phase, 0))
        f0, L0, dL0 = jax.lax.cond(phase == f_phase, lambda: (f0, L0, dL0), lambda: velocity(state, g))
        new = advance(state, f0, g, stride)
        f1, L1, dL1 = velocity(new, g)
        scale = stride / tau
        if method == "gd":  # one epoch per step: the loss at its start, as the velocity gave it
            losses = jax.tree.map(lambda value: value[None], L0)
        else:
            losses = h00 * L0 + h10 * scale * dL0 + h01 * L1 + h11 * scale * dL1
        carry = jax.tree.map(
            lambda a, b: jnp.where(phase >= 0, a, b), (new, (f1, L1, dL1), phase), (state, (f0, L0, dL0), f_phase)
        )
        return carry, losses

    def tail(state, tail_phases):
        losses = []
        for phase in tail_phases[:-1]:  # traced once: fewer than ``stride`` epochs
            f, L, _ = velocity(state, gates_of(phase))
            losses.append(L)
            state = advance(state, f, gates_of(phase), 1)
        losses.append(velocity(state, gates_of(tail_phases[-1]))[1])
        return state, jax.tree.map(lambda *values: jnp.stack(values), *losses)

    return first_carry, step, tail
