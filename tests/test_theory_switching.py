"""Pathways whose units switch gates (reln.theory.switching), float64, small sizes."""

from __future__ import annotations

import numpy as np
import pytest

from reln.tasks import contextual_task
from reln.theory import (
    effective_initial_maps, effective_unit_weights, integrate_flow, integrate_switching, pathway_correlations,
)


def _task():
    return contextual_task(4, 3, ["hierarchy", "ring", "cross"])


def _schedule(task, H, rng):
    """Three phases: every unit on everywhere; then some units off in one context; then others
    off in another (units switching pathway, as the ReLU's do)."""
    on = np.ones((3, H, task.n_contexts), bool)
    on[1:, : H // 3, 0] = False
    on[2, H // 3: 2 * H // 3, 2] = False
    on[2, -1] = False  # a unit that falls silent
    return np.array([0, 40, 90]), on


def _switching_units(task, seed):
    """Nine units of random weights (std .3) and the three-phase schedule of :func:`_schedule`."""
    rng = np.random.default_rng(seed)
    H = 9
    W1, W2 = 0.3 * rng.standard_normal((H, task.n_in)), 0.3 * rng.standard_normal((task.n_out, H))
    starts, on = _schedule(task, H, rng)
    return W1, W2, starts, on, on[:, :, task.context].astype(float)


def _direct_gradient_descent(task, starts, gates, W1, W2, lr, steps):
    """Gradient descent on ``W_2 (g * (W_1 X))`` written out: the error before each of ``steps``
    updates, and the weights after them."""
    a, b, errors = W1.copy(), W2.copy(), []
    for t in range(steps):
        g = gates[np.searchsorted(starts, t, side="right") - 1]
        hidden = g * (a @ task.X)
        errors.append(task.Y - b @ hidden)
        a, b = a + lr * ((b.T @ errors[-1]) * g) @ task.X.T, b + lr * errors[-1] @ hidden.T
    return np.array(errors), a, b


def test_gd_method_is_gradient_descent_on_the_switching_units():
    """``method="gd"``: one Euler step per epoch is gradient descent on ``W_2 (g * (W_1 X))`` with
    the gates of the current phase; the loss agrees with a direct simulation to rounding, the
    reported pathway maps add up to the network's map on each pathway's units."""
    task = _task()
    lr, epochs = 2e-2, 150
    W1, W2, starts, on, gates = _switching_units(task, 0)
    codes = on.astype(int) @ (2 ** np.arange(task.n_contexts))
    sets = np.unique(codes)
    membership = (codes[:, None, :] == sets[None, :, None]).astype(float)
    result = integrate_switching(task.X, task.Y, starts, gates, membership, W1, W2, lr=lr, epochs=epochs,
                                 method="gd", stride=1, snapshot_every=50, x64=True)
    errors, _, _ = _direct_gradient_descent(task, starts, gates, W1, W2, lr, epochs + 1)
    losses = 0.5 * np.sum(errors**2, axis=(1, 2))
    assert losses[-1] < 0.5 * losses[0]  # it learned: the comparison is not vacuous
    np.testing.assert_allclose(result.loss, losses, rtol=1e-10)
    # the maps of the last state: after epochs updates
    _, a, b = _direct_gradient_descent(task, starts, gates, W1, W2, lr, epochs)
    expected = np.einsum("ph,oh,hi->poi", membership[-1], b, a)
    np.testing.assert_allclose(result.final_maps, expected, rtol=1e-9, atol=1e-12)
    assert result.singular_values.shape == (len(result.snapshot_epochs), len(sets), min(task.n_out, task.n_in))


def test_kept_error_is_the_error_of_the_same_gradient_descent():
    """``keep_error``: the error at every epoch is the direct simulation's ``Y - W_2 (g * W_1 X)``,
    and half its squared norm is the loss the integration reports (its own scan, in the output
    basis); the fed-back field of docs/theory.md §5.8 rests on this."""
    task = _task()
    lr, epochs = 2e-2, 150
    W1, W2, starts, _, gates = _switching_units(task, 1)
    H = W1.shape[0]
    result = integrate_switching(task.X, task.Y, starts, gates, np.ones((3, 1, H)), W1, W2, lr=lr, epochs=epochs,
                                 method="gd", stride=1, snapshot_every=50, x64=True, keep_error=True)
    errors, _, _ = _direct_gradient_descent(task, starts, gates, W1, W2, lr, epochs + 1)
    np.testing.assert_allclose(result.error, errors, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(0.5 * np.sum(result.error**2, axis=(1, 2)), result.loss, rtol=1e-10)
    assert result.loss[-1] < 0.5 * result.loss[0]
    with pytest.raises(ValueError, match="keep_error"):
        integrate_switching(task.X, task.Y, starts, gates, np.ones((3, 1, H)), W1, W2, lr=lr, epochs=epochs,
                            method="rk4", stride=5, keep_error=True)


def test_balanced_units_of_one_pathway_follow_its_balanced_flow():
    """With no switch, units with balanced weights (``W_2^T W_2 = W_1 W_1^T``) are one pathway
    whose map follows the balanced end-to-end flow: the two integrators (units here, balanced
    factors of the map in :func:`integrate_flow`) agree."""
    task = _task()
    rng = np.random.default_rng(1)
    H = 20
    yx = task.Y @ task.X.T / task.P
    W1, W2 = effective_unit_weights(yx, task.X, 1e-3 * rng.standard_normal((H, task.n_in)),
                                    1e-3 * rng.standard_normal((task.n_out, H)), relu=False)
    np.testing.assert_allclose(W2.T @ W2, W1 @ W1.T, atol=1e-15)
    gates = np.ones((1, H, task.P))
    units = integrate_switching(task.X, task.Y, np.array([0]), gates, np.ones((1, 1, H)), W1, W2, lr=1e-3,
                                epochs=2000, snapshot_every=500)
    pathway = integrate_flow(task.X, task.Y, np.ones((1, task.P)), np.ones((1, task.n_in)),
                             np.ones((1, task.n_out)), (W2 @ W1)[None], lr=1e-3, epochs=2000, snapshot_every=500)
    assert units.loss[-1] < 0.5 * units.loss[0]
    assert np.max(np.abs(units.loss - pathway.loss)) / units.loss[0] <= 1e-6
    np.testing.assert_allclose(units.final_maps, pathway.final_maps, atol=1e-6)


def test_effective_unit_weights_carry_the_effective_mode_strengths():
    """Linear units: the pathway's map in the mode basis has ``pi_k = 1/4 sum_h (a_h + b_h)^2`` on
    its diagonal (as :func:`effective_initial_maps`). ReLU units: those with ``c_1 < 0`` start at
    zero, and the Perron mode is the one with ``v_1 . x > 0`` on every sample."""
    task = _task()
    rng = np.random.default_rng(2)
    w_in, w_out = rng.standard_normal((50, task.n_in)), rng.standard_normal((task.n_out, 50))
    yx = task.Y @ task.X.T / task.P
    U, s, Vt = np.linalg.svd(yx, full_matrices=False)
    keep = s > 1e-12 * s[0]
    W1, W2 = effective_unit_weights(yx, task.X, w_in, w_out, relu=False)
    from reln.models.pathways import Pathway, build_gdln
    gdln = build_gdln([Pathway(hidden=(50,))], task)
    maps = effective_initial_maps(pathway_correlations(task, gdln), w_in[None], w_out[None])[0]
    diagonal = lambda W: np.diag(U[:, keep].T @ W @ Vt[keep].T)  # noqa: E731
    np.testing.assert_allclose(diagonal(W2 @ W1), diagonal(maps), rtol=1e-12)
    R1, R2 = effective_unit_weights(yx, task.X, w_in, w_out, relu=True)
    c1 = np.sign((Vt[0] @ task.X).sum()) * 0.5 * (w_in @ Vt[0] + U[:, 0] @ w_out)
    assert np.all((Vt[0] @ task.X) * np.sign((Vt[0] @ task.X).sum()) > 0)
    zero = np.linalg.norm(R1, axis=1) == 0
    np.testing.assert_array_equal(zero, c1 < 0)
    np.testing.assert_allclose(R1[~zero], W1[~zero])
    assert 0.2 < zero.mean() < 0.8
    with pytest.raises(ValueError):
        integrate_switching(task.X, task.Y, np.array([0, 7]), np.ones((2, 50, task.P)), np.ones((2, 1, 50)),
                            W1, W2, lr=1e-3, epochs=20)
