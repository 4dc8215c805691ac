"""The early phase from the task and the initial weights alone (docs/theory.md §5.2).

From small initialisation the network's output is negligible until its first drop, so the error
every unit sees is the target itself, ``E = Y - Yhat ≈ Y``, and the units do not interact. Each
bias-free ReLU unit ``(w, u)`` then follows its own gradient descent

    w <- w + lr ((u^T Y) ⊙ g) X^T,     u <- u + lr Y (g ⊙ w X)^T,     g = 1[w X > 0],

whose gates :func:`decoupled_gates` returns at the epochs asked. The phase ends when the network's
largest mode rises: :func:`first_rise_epoch` is its half-rise in the closed form of the linear phase.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.gates.unit_flow import decoupled_velocity
from reln.tasks import Task


def decoupled_gates(task: Task, w_in: np.ndarray, w_out: np.ndarray, *, lr: float, epochs: Sequence[int]) -> np.ndarray:
    """Per-sample gates of units that each follow their own ReLU flow against the error ``Y``.

    Args:
        task: the task (``X (n_in, P)``, ``Y (n_out, P)``).
        w_in: ``(units, n_in)``, w_out: ``(n_out, units)`` initial weights.
        lr: the learning rate of the network the gates are for.
        epochs: non-negative epochs ``t`` (the state after ``t`` updates) at which to read the gates.

    Returns:
        ``(len(epochs), units, P)`` float 0/1: ``1[w_j(t) x_s > 0]``.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(8, 3)
    >>> rng = np.random.default_rng(0)
    >>> g = decoupled_gates(task, 1e-5 * rng.standard_normal((4, task.n_in)),
    ...                     1e-5 * rng.standard_normal((task.n_out, 4)), lr=1e-3, epochs=[0, 200])
    >>> g.shape
    (2, 4, 24)
    """
    epochs = [int(t) for t in epochs]
    if not epochs or min(epochs) < 0:
        raise RelnError(f"epochs must be non-negative, got {epochs}")
    X, Y = np.asarray(task.X, float), np.asarray(task.Y, float)
    W_in, W_out_t = np.array(w_in, float), np.array(w_out, float).T
    out = np.zeros((len(epochs), W_in.shape[0], X.shape[1]))
    order = np.argsort(epochs, kind="stable")
    t, k = 0, 0
    while k < len(order):  # one gradient step per epoch, as the network trains
        d_in, d_out, gates = decoupled_velocity(W_in, W_out_t, X, Y)
        while k < len(order) and epochs[order[k]] == t:
            out[order[k]] = gates
            k += 1
        W_in, W_out_t, t = W_in + lr * d_in, W_out_t + lr * d_out, t + 1
    return out


def first_rise_epoch(task: Task, width: int, init_std, *, lr: float) -> int:
    """When the early phase ends: the half-rise of the largest mode of the linear phase.

    The always-on network's top mode (singular value ``s``, input variance ``d`` along it,
    expected initial strength ``pi_0`` of bias-free ReLU units, docs/theory.md §2.8) rises at

        t_1 = (tau / 2 s) ln(s / (d pi_0) - 1),    tau = 1 / (P lr).

    >>> from reln.tasks import contextual_task
    >>> 300 < first_rise_epoch(contextual_task(8, 3), 700, 0.005 / 700, lr=1e-3) < 450
    True
    """
    from reln.theory.modes import linear_phase_loss

    closed = linear_phase_loss(task, int(width), init_std, lr=lr, require_decoupled=False)
    s, d, pi0 = (float(a[0, 0]) for a in (closed.modes.s, closed.modes.d, closed.initial_strengths))
    if not (s > 0 and d > 0 and s / (d * pi0) > 2):
        raise RelnError("the task's top mode does not rise from this initialisation (s / (d pi_0) <= 2)")
    return int(round(closed.tau / (2 * s) * np.log(s / (d * pi0) - 1)))


def item_rise_window(task: Task, width: int, init_std, *, lr: float) -> tuple[float, float]:
    """``(t_a, t_half)``: when the linear phase's modes after the largest rise, in the closed form.

    Every mode ``k`` of the always-on network (docs/theory.md §2.6) that rises from the init law's
    strength ``pi_0`` (``s_k / (d_k pi_0) > 2``) reaches half its asymptote at
    ``t_k = (tau / 2 s_k) ln(s_k / (d_k pi_0) - 1)`` and removes ``(P/2) s_k^2 / d_k`` of the loss.
    Leaving out the earliest rise (the top mode, :func:`first_rise_epoch`), ``t_a`` is the next one
    and ``t_half`` the rise by which half of the loss the remaining modes remove has risen
    (docs/theory.md §5.3: the window in which the compact ReLN's units, still serving every context,
    may be gated per sample by their own flow). A task with fewer than two rising modes has an
    empty window, ``(inf, inf)``.

    >>> from reln.tasks import contextual_task
    >>> t_a, t_half = item_rise_window(contextual_task(8, 6), 700, 0.005 / 700, lr=1e-3)
    >>> 500 < t_a < t_half < 1000
    True
    """
    from reln.theory.modes import linear_phase_loss

    closed = linear_phase_loss(task, int(width), init_std, lr=lr, require_decoupled=False)
    s, d, pi0 = (np.asarray(a, float).ravel() for a in (closed.modes.s, closed.modes.d, closed.initial_strengths))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((d > 0) & (pi0 > 0), s / (d * pi0), 0.0)
    rising = ratio > 2
    if rising.sum() < 2:
        return float("inf"), float("inf")
    rises = closed.tau / (2 * s[rising]) * np.log(ratio[rising] - 1)
    gain = s[rising] ** 2 / d[rising]
    order = np.argsort(rises, kind="stable")[1:]  # after the top mode's rise
    share = np.cumsum(gain[order]) / gain[order].sum()
    return float(rises[order[0]]), float(rises[order[np.searchsorted(share, 0.5)]])
