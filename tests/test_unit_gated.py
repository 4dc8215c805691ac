"""The unit-gated linear network: a ReLU network whose gates are given, piecewise in time."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.training.fit import fit_gdln
from oracles import switching_reln
from reln.gates.replay import ReplayOptions, sliding_schedule, switching_schedule
from reln.models.init import init_relu
from reln.models.relu import relu_forward, relu_gates
from reln.tasks import contextual_task
from reln.models.gated import gated_forward
from reln.relns.unit_gated import fit_switching_network


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 12), min_size=1, max_size=3))
def test_a_relu_network_is_the_linear_network_with_its_own_gates(seed, hidden):
    task = contextual_task(4, 2, "hierarchy")
    weights = init_relu(np.random.default_rng(seed), (task.n_in, *hidden, task.n_out), 0.5)
    with jax.enable_x64(True):
        gates = [np.asarray(g, dtype=float) for g in relu_gates(weights, task.X)]
        np.testing.assert_allclose(
            gated_forward(weights, task.X, gates), relu_forward(weights, task.X), rtol=1e-12, atol=1e-14
        )


@pytest.fixture(scope="module")
def small_relu(train_small_relu):
    task = contextual_task(4, 3, ["hierarchy", "ring", "cross"])
    return task, *train_small_relu(task, (24, 16), 0.05, (0, 1), epochs=400, snapshot_every=1)


def test_with_the_relus_gates_at_every_epoch_it_retraces_the_relu(small_relu):
    """Gates read every epoch (fine_every = 1 throughout) are the ReLU's own: same trajectory up to
    the last update. (The schedule reads no gate at the final epoch, whose loss uses the last phase.)"""
    task, relu, initial = small_relu
    with jax.enable_x64(True):
        gated, description = fit_switching_network(
            task, relu, initial, ReplayOptions(fine_until=10**9), lr=0.02, fine_every=1, x64=True,
        )
    assert description["layers"] == 2 and description["gate_phases"] == 400
    np.testing.assert_allclose(gated.loss[:, :-1], relu.loss[:, :-1], rtol=1e-9, atol=1e-12 * task.loss_initial)


@pytest.mark.parametrize("rule", ["band", "sliding"])
def test_one_hidden_layer_equals_the_switching_reln_gdln(train_small_relu, rule):
    """switching_reln (tests/oracles.py) (a width-1 pathway per unit) and the unit-gated network train
    the same function with the same schedule (nothing pinned): the losses agree to rounding."""
    task = contextual_task(4, 3, ["hierarchy", "ring", "cross"])
    relu, initial = train_small_relu(task, (20,), 0.02, (3,), epochs=600, snapshot_every=10)
    with jax.enable_x64(True):
        gated, description = fit_switching_network(
            task, relu, initial, ReplayOptions(pin_kinks=False, kink_rule=rule, fine_until=100), lr=0.02, x64=True)
        assert description["kink_rule"] == rule
        if rule == "band":
            starts, gates, _ = switching_schedule(task, relu.layers[0].pre[0], relu.snapshot_epochs)
        else:
            starts, gates, _ = sliding_schedule(relu.layers[0].pre[0], relu.snapshot_epochs)
        gdln, params = switching_reln(task, starts, gates, initial[0])
        reference = fit_gdln(task, gdln, init_params=params, singular_values=False, lr=0.02, epochs=600, seeds=(0,), x64=True)
    np.testing.assert_allclose(gated.loss, reference.loss, rtol=1e-9)


def test_pathway_maps_partition_the_output_once_gates_are_whole_contexts(train_small_relu):
    """After the per-sample phase every unit is on in whole contexts, so the recorded output is
    the sum of the maps of the pathways on in each sample's context."""
    task = contextual_task(4, 3, ["hierarchy", "ring", "cross"])
    relu, initial = train_small_relu(task, (20,), 0.02, (3, 4), epochs=600, snapshot_every=10)
    with jax.enable_x64(True):
        gated, description = fit_switching_network(task, relu, initial, ReplayOptions(gate_level="context"), lr=0.02, x64=True)
    sets = description["pathway_sets"]
    assert sets and all(0 < len(c) <= 3 for c in sets)
    for s in range(2):
        maps, output = gated.pathway_maps[s, -1], gated.output[s, -1]
        on = np.array([[task.context[i] in c for i in range(task.P)] for c in sets], dtype=float)  # (p, P)
        rebuilt = sum((maps[p] @ task.X) * on[p] for p in range(len(sets)))
        np.testing.assert_allclose(rebuilt, output, atol=1e-10)
