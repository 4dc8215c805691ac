"""reln.identification.analysis.layer_imbalance: zero exactly for balanced layers, scale-free, bounded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.identification.analysis import layer_imbalance


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))
def test_balanced_factors_have_zero_imbalance(seed, n, h, m):
    """W_l = S V^T (h x n) and W_u = Q S (m x h) with Q orthonormal columns: W_u^T W_u = S^2 = W_l W_l^T."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.1, 2.0, min(n, h, m))
    k = len(s)
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    Q = np.linalg.qr(rng.standard_normal((m, k)))[0]
    R = np.linalg.qr(rng.standard_normal((h, k)))[0]  # the hidden basis
    lower, upper = R @ np.diag(s) @ V.T, Q @ np.diag(s) @ R.T
    assert layer_imbalance(lower, upper) < 1e-12


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1e-3, 1e3))
def test_imbalance_is_scale_free_and_bounded(seed, scale):
    rng = np.random.default_rng(seed)
    lower, upper = rng.standard_normal((5, 4)), rng.standard_normal((3, 5))
    value = layer_imbalance(lower, upper)
    assert 0 <= value <= 1
    assert abs(layer_imbalance(scale * lower, scale * upper) - value) < 1e-9
    assert layer_imbalance(lower, 1e3 * upper) > 0.99  # one side dominating: far from balanced
