"""Tests of reln.models.relu: the bias-free ReLU network as a gated linear network (docs/theory.md §3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reln.errors import RelnError
from reln.models.pathways import Pathway, build_gdln
from reln.models.gdln import gdln_forward, pathway_outputs
from reln.models.init import init_relu
from reln.models.relu import relu_forward, relu_gates, relu_hidden, unit_weights
from reln.tasks import Task, contextual_task


def random_task(rng: np.random.Generator, n_in: int, n_out: int, P: int) -> Task:
    """A Task with Gaussian X and Y (no item/context structure needed by the code under test)."""
    return Task(
        X=rng.normal(size=(n_in, P)),
        Y=rng.normal(size=(n_out, P)),
        item=np.arange(P),
        context=np.zeros(P, dtype=int),
        n_items=P,
        n_contexts=1,
        item_inputs=np.ones(n_in, dtype=bool),
        output_blocks=(("all", 0, n_out),),
        sample_names=tuple(f"s{p}" for p in range(P)),
        name="random",
    )


def test_init_shapes_and_std():
    sizes = (40, 120, 90, 30)
    stds = (0.2, 0.05, 1.5)
    W = init_relu(np.random.default_rng(0), sizes, stds)
    assert [w.shape for w in W] == [(120, 40), (90, 120), (30, 90)]
    for w, std in zip(W, stds):
        w = np.asarray(w)
        n = w.size  # >= 2700 entries: the sample std has relative error ~ 1/sqrt(2n) < 1.4%
        assert np.std(w) == pytest.approx(std, rel=0.06)
        assert abs(np.mean(w)) < 5 * std / np.sqrt(n)
    # One scalar std broadcasts to every layer; same key, same draw; other key, other draw.
    W1 = init_relu(np.random.default_rng(0), sizes, 0.3)
    W2 = init_relu(np.random.default_rng(0), sizes, 0.3)
    W3 = init_relu(np.random.default_rng(1), sizes, 0.3)
    for a, b, c in zip(W1, W2, W3):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
        assert np.std(np.asarray(a)) == pytest.approx(0.3, rel=0.06)


@pytest.mark.parametrize(
    "sizes, std",
    [((5, 3), 0.1), ((5,), 0.1), ((5, 0, 3), 0.1), ((5, 2.5, 3), 0.1), ((5, 4, 3), (0.1,)),
     ((5, 4, 3), (0.1, 0.1, 0.1)), ((5, 4, 3), -0.1), ((5, 4, 3), np.nan)],
)
def test_init_errors(sizes, std):
    with pytest.raises(RelnError):
        init_relu(np.random.default_rng(0), sizes, std)


@pytest.mark.parametrize("sizes", [(6, 9, 4), (6, 9, 7, 4), (3, 5, 5, 5, 2)])
def test_forward_is_gated_linear(sizes):
    """relu(W h) = G * (W h) layer by layer; the output is the gated linear composition."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        W = [jnp.asarray(w) for w in init_relu(np.random.default_rng(3), sizes, 1.0)]
        X = jnp.asarray(rng.normal(size=(sizes[0], 17)))
        gates = relu_gates(W, X)
        hidden = relu_hidden(W, X)
        assert [g.dtype for g in gates] == [jnp.bool_] * (len(sizes) - 2)
        assert [h.shape for h in hidden] == [(s, 17) for s in sizes[1:-1]]
        h = np.asarray(X)
        for w, g, H in zip(W[:-1], gates, hidden):
            pre = np.asarray(w) @ h
            np.testing.assert_array_equal(np.asarray(g), pre > 0)
            h = np.asarray(g) * pre
            np.testing.assert_allclose(np.asarray(H), h, rtol=1e-12, atol=1e-14)
            # Gates agree with the post-ReLU activity: on exactly where the unit is positive.
            np.testing.assert_array_equal(np.asarray(g), np.asarray(H) > 0)
        expected = np.asarray(W[-1]) @ h
        np.testing.assert_allclose(np.asarray(relu_forward(W, X)), expected, rtol=1e-12, atol=1e-13)


def test_unit_weights_formula():
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        W = [jnp.asarray(rng.normal(size=s)) for s in [(4, 3), (5, 4), (2, 5)]]
        uw = unit_weights(W)
        W0 = [W[0].at[1].set(0.0), W[1].at[:, 2].set(0.0), W[2]]
        uw0 = unit_weights(W0)
    assert [u.shape for u in uw] == [(4,), (5,)]
    for l, u in enumerate(uw):
        w_in, w_out = np.asarray(W[l]), np.asarray(W[l + 1])
        for j in range(len(u)):
            expected = np.sqrt(np.sum(w_in[j] ** 2)) * np.sqrt(np.sum(w_out[:, j] ** 2))
            assert float(u[j]) == pytest.approx(expected, rel=1e-12)
    # A unit with zero incoming (or outgoing) weights carries no weight.
    assert float(uw0[0][1]) == 0 and float(uw0[0][2]) == 0


# A few fixed shapes (each new shape costs a JAX compilation); weights, data and hence gate
# patterns vary freely with the seed. (1, 1, 1, 1) and P = 1 hit the degenerate edges.
SHAPES = [(1, 1, 1, 1), (3, 4, 2, 6), (5, 7, 3, 10), (2, 3, 4, 1)]


@given(shape=st.sampled_from(SHAPES), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 100))
def test_gdln_copying_relu_gates_reproduces_relu(shape, seed, scale):
    """docs/theory.md §3: one width-1 pathway per hidden unit, gated per sample by that unit's
    on/off pattern and carrying its weights, computes exactly the ReLU network's output."""
    n_in, width, n_out, P = shape
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        task = random_task(rng, n_in, n_out, P)
        W1 = scale * rng.normal(size=(width, n_in))
        W2 = scale * rng.normal(size=(n_out, width))
        X = jnp.asarray(task.X)
        gates = np.asarray(relu_gates([jnp.asarray(W1), jnp.asarray(W2)], X)[0])
        gdln = build_gdln(
            [Pathway(gate=gates[j].astype(float), hidden=(1,), inputs="all") for j in range(width)],
            task,
        )
        weights = [jnp.asarray(W1[:, None, :]), jnp.asarray(W2.T[:, :, None])]
        assert weights[0].shape == (width, 1, n_in) and weights[1].shape == (width, n_out, 1)
        expected = W2 @ np.maximum(W1 @ task.X, 0)
        tol = 1e-12 * scale**2 * (1 + np.abs(task.X).max())
        got = np.asarray(gdln_forward(weights, gdln, X))
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=tol)
        relu_out = np.asarray(relu_forward([jnp.asarray(W1), jnp.asarray(W2)], X))
        np.testing.assert_allclose(got, relu_out, rtol=1e-12, atol=tol)
        # Each pathway is one unit's contribution w_out_j relu(w_in_j . x).
        per = np.asarray(pathway_outputs(weights, gdln, X))
        for j in range(width):
            np.testing.assert_allclose(
                per[j], np.outer(W2[:, j], np.maximum(W1[j] @ task.X, 0)), rtol=1e-12, atol=tol
            )


def test_relu_on_contextual_task_shapes():
    task = contextual_task(4, 2, "hierarchy")
    W = [jnp.asarray(w, jnp.float32) for w in init_relu(np.random.default_rng(0), (task.n_in, 7, task.n_out), 0.1)]
    assert relu_forward(W, jnp.asarray(task.X, jnp.float32)).shape == (task.n_out, task.P)
