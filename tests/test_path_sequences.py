"""Path weight by sequences of per-layer unit groups (reln.identification.analysis.path_sequence_shares)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.identification.analysis import path_sequence_shares, unit_weight_shares
from reln.models.init import init_relu
from reln.models.relu import relu_gates
from reln.tasks import contextual_task

TASK = contextual_task(4, 3, "hierarchy")


def _network(seed: int, hidden):
    weights = init_relu(np.random.default_rng(seed), (TASK.n_in, *hidden, TASK.n_out), 0.5)
    return weights, [np.asarray(g) for g in relu_gates(weights, TASK.X)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 9))
def test_one_hidden_layer_is_the_unit_weight_share(seed, width):
    weights, gates = _network(seed, (width,))
    shares = path_sequence_shares(weights, gates, TASK)
    sizes = np.linalg.norm(weights[0], axis=1) * np.linalg.norm(weights[1], axis=0)
    expected = unit_weight_shares(gates[0], sizes, TASK)
    assert {k[0]: v for k, v in shares.items()}.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(shares[(key,)] - value) < 1e-12


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 5), min_size=2, max_size=3))
def test_deep_shares_equal_a_sum_over_every_path(seed, hidden):
    """Brute force: enumerate every path j_1 -> ... -> j_L and add its weight to its label sequence."""
    weights, gates = _network(seed, tuple(hidden))
    labels = [
        [frozenset(int(c) for c in range(3) if g[j, TASK.context == c].any()) for j in range(g.shape[0])]
        for g in gates
    ]
    brute: dict = {}
    for path in itertools.product(*[range(h) for h in hidden]):
        w = np.linalg.norm(weights[0][path[0]]) * np.linalg.norm(weights[-1][:, path[-1]])
        for l in range(1, len(hidden)):
            w *= abs(weights[l][path[l], path[l - 1]])
        key = tuple(labels[l][j] for l, j in enumerate(path))
        brute[key] = brute.get(key, 0.0) + w
    total = sum(brute.values())
    shares = path_sequence_shares(weights, gates, TASK)
    assert shares.keys() == {k for k, v in brute.items() if v > 0}
    for key, value in brute.items():
        if value > 0:
            assert abs(shares[key] - value / total) < 1e-10
