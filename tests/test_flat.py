"""The flat training layout computes exactly what the stacked GDLN does."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.errors import RelnError
from reln.models.flat import flat_maps, flat_objective, from_flat, to_flat
from reln.models.pathways import Pathway, build_gdln, init_gdln
from reln.models.gdln import gdln_objective, pathway_maps
from reln.tasks import contextual_task


def _gdln(widths, seed):
    task = contextual_task(4, 3, ["hierarchy", "ring", "cross"])
    rng = np.random.default_rng(seed)
    sets = [None, (0,), (1, 2), (0, 2), (2,)]
    pathways = [
        Pathway(contexts=sets[i % len(sets)], inputs="all" if i == 0 else "items", hidden=(w,), init_std=0.3)
        for i, w in enumerate(widths)
    ]
    gdln = build_gdln(pathways, task)
    return task, gdln, init_gdln(rng, gdln)


@settings(max_examples=10, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=1, max_size=5), seed=st.integers(0, 1000))
def test_flat_round_trip_and_equal_objective_and_gradients(widths, seed):
    task, gdln, weights = _gdln(widths, seed)
    flat = to_flat(weights)
    for a, b in zip(from_flat(flat, gdln), weights):
        np.testing.assert_array_equal(a, b)
    with jax.enable_x64(True):
        for rule in ("total", "staged"):
            stacked_value, stacked_grad = jax.value_and_grad(
                lambda w: gdln_objective(w, gdln, task.X, task.Y, rule), has_aux=True
            )(weights)
            flat_value, flat_grad = jax.value_and_grad(
                lambda w: flat_objective(w, gdln, task.X, task.Y, rule), has_aux=True
            )(flat)
            np.testing.assert_allclose(flat_value[0], stacked_value[0], rtol=1e-12)
            np.testing.assert_allclose(flat_value[1], stacked_value[1], rtol=1e-12)
            for a, b in zip(from_flat([np.asarray(g) for g in flat_grad], gdln), stacked_grad):
                np.testing.assert_allclose(a, np.asarray(b), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(flat_maps(flat, gdln), pathway_maps(weights, gdln), rtol=1e-12, atol=1e-15)


def test_flat_layout_needs_one_hidden_layer():
    task = contextual_task(4, 2, "hierarchy")
    gdln = build_gdln([Pathway(hidden=(3, 3))], task)
    weights = init_gdln(np.random.default_rng(0), gdln)
    with pytest.raises(RelnError, match="one hidden layer"):
        flat_objective(weights[:2], gdln, task.X, task.Y)
