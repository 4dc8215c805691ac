"""Pinned kinks (reln.gates.kinks): a unit-sample pair at a ReLU unit's kink is off and its
pre-activation is held (first hidden layer, kink_projectors) or pulled to the kink (deeper layers,
kink_penalty), as gradient descent holds it when it slides along the kink."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reln.gates.replay import ReplayOptions, switching_schedule
from reln.tasks import contextual_task
from reln.gates.kinks import kink_gates, kink_penalty, kink_projectors, pinned_weights
from reln.relns.unit_gated import fit_switching_network


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 0.9))
def test_kink_gates_split_units_into_on_pinned_and_off(seed, threshold):
    rng = np.random.default_rng(seed)
    pre = rng.standard_normal((12, 10)) * rng.uniform(0, 1, (12, 1)) ** 4
    pre[0] = 0.0  # a unit that never grew: neither on nor pinned
    on, pinned = kink_gates(pre, threshold)
    scale = np.maximum(pre, 0).max(1, keepdims=True)  # the unit's peak activity
    assert not np.any(on & pinned)
    assert not on[0].any() and not pinned[0].any()
    awake = scale[:, 0] > 1e-3 * scale.max()
    assert not on[~awake].any() and not pinned[~awake].any()
    np.testing.assert_array_equal(on[awake], (pre > threshold * scale)[awake])
    np.testing.assert_array_equal(pinned[awake], (np.abs(pre) < threshold * scale)[awake])
    if threshold == 0:
        assert not pinned.any()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_projected_gradient_steps_hold_every_pinned_preactivation(seed):
    """``pinned_weights`` passes gradients ``Q_S g``: a step moves no pinned ``w_j . x_s``, and
    leaves the gradient unchanged where nothing is pinned."""
    rng = np.random.default_rng(seed)
    task = contextual_task(4, 3, "hierarchy")
    X = task.X
    pinned = rng.uniform(size=(2, 9, task.P)) < 0.3
    pinned[:, 0] = False
    projectors, index = kink_projectors(X, pinned)
    W = rng.standard_normal((9, task.n_in))
    target = rng.standard_normal((9, task.P))
    with jax.enable_x64(True):
        for phase in range(2):
            Q = jnp.asarray(projectors[index[phase]])
            grad = np.asarray(jax.grad(lambda w: jnp.sum((pinned_weights(w, Q) @ X - target) ** 2))(W))
            plain = 2 * (W @ X - target) @ X.T
            moved = (W - 0.1 * grad) @ X - W @ X
            assert np.abs(moved[pinned[phase]]).max(initial=0) < 1e-10
            np.testing.assert_allclose(grad[0], plain[0], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(np.asarray(pinned_weights(W, Q)), W)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.005, 0.2))
@example(seed=20664, stiffness=0.125)  # sample 3 reaches no first-layer unit: kappa = 0, z = 0
def test_a_penalty_step_removes_its_stiffness_of_a_pinned_preactivation(seed, stiffness):
    """One gradient step on the penalty alone moves a pinned ``z`` of a second hidden layer by
    ``-stiffness * z * |grad z|^2 / kappa`` to first order, through both weight layers below it;
    pairs not pinned add nothing, and a pinned pair at the kink (``z = 0``) pulls on nothing."""
    rng = np.random.default_rng(seed)
    lr = 1e-3
    X = rng.standard_normal((5, 7))
    W1, W2 = rng.standard_normal((6, 5)) * 0.3, rng.standard_normal((4, 6)) * 0.3
    pinned = np.zeros((4, 7))
    pinned[2, 3] = 1.0

    def penalty(weights, pinned):
        W1, W2 = weights
        h = jnp.maximum(W1 @ X, 0)
        return kink_penalty(W2 @ h, h, pinned, layers_below=2, stiffness=stiffness, lr=lr)

    def z(weights):
        return (weights[1] @ jnp.maximum(weights[0] @ X, 0))[2, 3]

    with jax.enable_x64(True):
        weights = [jnp.asarray(W1), jnp.asarray(W2)]
        grad = jax.grad(penalty)(weights, pinned)
        step = [-lr * g for g in grad]
        _, first_order = jax.jvp(z, (weights,), (step,))  # the change of z along the step, to first order
        h = np.maximum(W1 @ X, 0)
        kappa = 2 * np.sum(h[:, 3] ** 2)
        dz = jax.grad(z)(weights)
        # no first-layer unit active on the sample: z is exactly 0, at its kink, and nothing may pull
        expected = 0.0 if kappa == 0 else -stiffness * float(z(weights)) * sum(float(jnp.sum(d * d)) for d in dz) / kappa
        np.testing.assert_allclose(float(first_order), expected, rtol=1e-9)
        assert float(penalty(weights, np.zeros((4, 7)))) == 0.0
        inputs = np.sum(h[:, 3] ** 2)
        at_kink = [weights[0], weights[1].at[2].add(-z(weights) * h[:, 3] / inputs)] if inputs > 0 else weights
        assert abs(float(z(at_kink))) < 1e-12
        assert all(float(jnp.abs(g).max()) < 1e-9 for g in jax.grad(penalty)(at_kink, pinned))


@pytest.fixture(scope="module")
def one_layer_run(train_small_relu):
    task = contextual_task(4, 3, ["hierarchy", "ring", "cross"])
    return task, *train_small_relu(task, (20,), 0.02, (3,), epochs=600, snapshot_every=10)


def test_schedule_pins_only_after_the_per_sample_phase(one_layer_run):
    task, relu, _ = one_layer_run
    starts, gates, pinned = switching_schedule(task, relu.layers[0].pre[0], relu.snapshot_epochs, fine_until=100)
    assert not pinned[starts < 100].any() and pinned[starts >= 100].any()
    assert not np.any((gates > 0) & pinned)
    _, _, none = switching_schedule(task, relu.layers[0].pre[0], relu.snapshot_epochs, fine_until=100, pin_kinks=False)
    assert not none.any()


def test_pinning_changes_the_switching_reln_and_is_reported(one_layer_run):
    task, relu, initial = one_layer_run
    with jax.enable_x64(True):
        pinned, described = fit_switching_network(task, relu, initial, lr=0.02, x64=True)
        free, _ = fit_switching_network(task, relu, initial, ReplayOptions(pin_kinks=False), lr=0.02, x64=True)
    assert described["pin_kinks"] and max(described["pinned_pairs"]["mean_over_seeds"]) > 0
    assert np.abs(pinned.loss - free.loss).max() > 1e-6
