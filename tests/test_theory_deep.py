"""The deep end-to-end flow against simulated deep gated linear pathways (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reln.models.pathways import Pathway, build_gdln
from reln.models.losses import half_sse
from reln.tasks import contextual_task
from reln.theory import pathway_correlations
from reln.theory.deep import balanced_factors, deep_end_to_end_flow
from reln.theory.flow import end_to_end_flow, flow_loss
from reln.training.train import train


def _setup(pathways, seed=0, scale=0.3):
    task = contextual_task(4, 2, ["hierarchy", "ring"])
    gdln = build_gdln(pathways, task)
    rng = np.random.default_rng(seed)
    W0 = scale * rng.standard_normal((len(pathways), task.n_out, task.n_in)) * gdln.input_masks[:, None, :]
    return task, gdln, W0


def _simulate(task, gdln, W0, depth, lr, epochs):
    """Gradient descent on the balanced factors of every pathway (the network the flow describes)."""
    X = task.X[None] * gdln.input_masks[:, :, None]  # (p, n_in, P)

    def objective(factors):
        W = factors[0]
        for A in factors[1:]:
            W = A @ W
        Yhat = jnp.einsum("poi,pin,pn->on", W * gdln.output_masks[:, :, None], X, gdln.gates)
        loss = half_sse(Yhat, task.Y)
        return loss, loss

    with jax.enable_x64(True):
        factors = [f[None] for f in balanced_factors(W0, depth)]
        return train(objective, factors, lr=lr, epochs=epochs, snapshot_every=epochs).loss[0]


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_flow_equals_simulated_pathways_when_decoupled(depth):
    """Pathways on disjoint contexts share no samples (Sigma_x(q, p) = 0): the flow is exact and
    only gradient descent's O(lr) discretisation separates them (lr P s_max ~ 1e-3 here): the loss
    must agree within 1e-3 of L(0) at every epoch."""
    pathways = [Pathway(contexts=(0,)), Pathway(contexts=(1,), inputs="items")]
    task, gdln, W0 = _setup(pathways)
    lr, epochs = 1e-4, 6000
    simulated = _simulate(task, gdln, W0, depth, lr, epochs)
    W = deep_end_to_end_flow(pathway_correlations(task, gdln), gdln.output_masks, W0, depth=depth, lr=lr,
                             epochs=np.arange(epochs + 1))
    predicted = flow_loss(task, gdln, W)
    assert predicted[0] == pytest.approx(simulated[0], rel=1e-12)  # t = 0: the same maps
    assert simulated[-1] < 0.3 * simulated[0]  # it learned: the comparison is not vacuous
    assert np.max(np.abs(predicted - simulated)) / simulated[0] <= 1e-3


def test_depth_two_is_the_two_layer_flow():
    pathways = [Pathway(contexts=None), Pathway(contexts=(0,), inputs="items")]  # coupled: shared samples
    task, gdln, W0 = _setup(pathways, scale=0.05)
    correlations, epochs = pathway_correlations(task, gdln), np.linspace(0, 3000, 31)
    deep = deep_end_to_end_flow(correlations, gdln.output_masks, W0, depth=2, lr=1e-3, epochs=epochs, rtol=1e-10)
    shallow = end_to_end_flow(correlations, gdln.output_masks, W0, lr=1e-3, epochs=epochs, rtol=1e-10)
    # both integrate with an absolute tolerance of 1e-6 of the initial scale: agreement to 2e-5 of
    # the largest entry is the solvers' accuracy; a wrong formulation would differ at O(1)
    np.testing.assert_allclose(deep, shallow, atol=2e-5 * np.abs(shallow).max())


def test_deeper_pathways_wait_longer_and_reach_the_same_optimum():
    """From the same small maps, a 4-layer pathway leaves its plateau later than a 2-layer one
    (tau ds/dt = N s^(2-2/N) (sigma - s)), and both converge to the least-squares map of the
    pathway's samples (t = infinity)."""
    pathways = [Pathway(contexts=(0,))]
    task, gdln, W0 = _setup(pathways, scale=1e-3)
    correlations, epochs = pathway_correlations(task, gdln), np.linspace(0, 20000, 2001)
    losses = {
        depth: flow_loss(task, gdln, deep_end_to_end_flow(correlations, gdln.output_masks, W0, depth=depth, lr=1e-3, epochs=epochs))
        for depth in (2, 4)
    }
    X = task.X[:, gdln.gates[0] == 1]
    Y = task.Y[:, gdln.gates[0] == 1]
    unreachable = 0.5 * np.sum(task.Y[:, gdln.gates[0] == 0] ** 2)  # the samples the pathway is off on
    optimum = unreachable + 0.5 * np.sum((Y - Y @ np.linalg.pinv(X) @ X) ** 2)
    # first epoch at which half of the learnable loss is gone
    half = {depth: epochs[np.argmax(loss - optimum < 0.5 * (loss[0] - optimum))] for depth, loss in losses.items()}
    assert half[2] > 0 and half[4] > 1.5 * half[2], half
    for loss in losses.values():
        assert loss[-1] == pytest.approx(optimum, abs=1e-4 * loss[0])
