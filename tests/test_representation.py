"""Representational dissimilarity matrices, MDS and hidden layers of GDLNs (reln.viz.representation)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reln.viz import representation as rep
from reln.models.init import GDLN_STREAM, seed_rng
from reln.models.pathways import Pathway, build_gdln, init_gdln
from reln.models.gated import gated_hidden
from reln.models.gdln import gdln_forward
from reln.models.init import init_relu
from reln.models.relu import relu_forward, relu_gates, relu_hidden
from reln.tasks import contextual_task

# Entries below 1e-3 in size are set to 0: a sample whose spread over units is ~1e-57 is constant
# once an offset is added in floating point, and invariance to offsets cannot be asked of it.
values = st.floats(-10, 10, allow_nan=False, width=64).map(lambda x: 0.0 if abs(x) < 1e-3 else x)
representations = st.integers(2, 7).flatmap(
    lambda units: st.integers(2, 7).flatmap(lambda samples: arrays(np.float64, (units, samples), elements=values))
)


@given(representations, st.sampled_from(rep.RDM_METRICS))
def test_rdm_is_a_symmetric_dissimilarity_with_zero_diagonal(H, metric):
    D = rep.rdm(H, metric)
    assert D.shape == (H.shape[1], H.shape[1])
    assert np.all(np.isfinite(D))
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert D.min() >= 0
    if metric == "correlation":
        assert D.max() <= 2


@given(representations, st.floats(1e-3, 1e3), st.integers(0, 2**16))
def test_correlation_rdm_ignores_scale_and_offset_of_each_sample(H, scale, seed):
    rng = np.random.default_rng(seed)
    per_sample = rng.uniform(0.1, 10, H.shape[1])
    offsets = rng.uniform(-5, 5, H.shape[1])
    D = rep.rdm(H)
    np.testing.assert_allclose(rep.rdm(scale * H), D, atol=1e-9)
    np.testing.assert_allclose(rep.rdm(H * per_sample + offsets), D, atol=1e-7)


def test_correlation_rdm_values():
    H = np.array([[1.0, 2.0, -1.0], [2.0, 4.0, -2.0], [3.0, 6.0, -3.0]])  # columns: a, 2a, -a
    D = rep.rdm(H)
    np.testing.assert_allclose(D, [[0, 0, 2], [0, 0, 2], [2, 2, 0]], atol=1e-12)


def test_silent_samples_give_no_nan():
    """At a small initialisation ReLU units can be silent for a sample: no correlation is defined."""
    assert np.array_equal(rep.rdm(np.zeros((5, 4))), np.zeros((4, 4)))
    H = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    D = rep.rdm(H)
    assert D[0, 1] == 0.0  # both silent: the same representation
    assert D[0, 2] == D[1, 3] == 1.0  # silent against active: r = 0 by convention
    assert D[2, 3] == pytest.approx(1.5)  # (1,0,0) vs (0,1,0): r = -1/2


def test_euclidean_rdm_is_the_distance():
    H = np.array([[0.0, 3.0, 0.0], [0.0, 4.0, 1.0]])
    np.testing.assert_allclose(rep.rdm(H, "euclidean"), [[0, 5, 1], [5, 0, np.sqrt(18)], [1, np.sqrt(18), 0]])


def test_rdm_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown RDM metric"):
        rep.rdm(np.ones((2, 2)), "cosine")
    with pytest.raises(ValueError, match="non-finite"):
        rep.rdm(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="features, samples"):
        rep.rdm(np.ones(3))


def test_mds_parameters_set_every_changed_default():
    parameters = rep.mds_parameters(random_state=3)
    assert parameters["n_init"] == 1 and parameters["normalized_stress"] is False
    assert parameters["eps"] == 1e-6 and parameters["max_iter"] == 300 and parameters["random_state"] == 3
    if rep._sklearn_version() >= (1, 8):
        assert parameters["metric"] == "precomputed" and parameters["metric_mds"] is True
        assert parameters["init"] == "classical_mds"
    else:
        assert parameters["dissimilarity"] == "precomputed" and parameters["metric"] is True


def _distances(points):
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def test_mds_recovers_a_planar_point_set_and_is_deterministic():
    points = np.random.default_rng(0).normal(size=(15, 2)) * [3.0, 1.0]
    D = _distances(points)
    first, second = rep.mds(D), rep.mds(D)
    np.testing.assert_array_equal(first.points, second.points)
    np.testing.assert_allclose(_distances(first.points), D, atol=1e-6 * D.max())
    assert first.stress < 1e-6


def test_classical_mds_is_exact_for_planar_points_and_sign_fixed():
    points = np.random.default_rng(1).normal(size=(6, 2))
    embedded = rep.classical_mds(_distances(points))
    np.testing.assert_allclose(_distances(embedded), _distances(points), atol=1e-10)
    top = np.abs(embedded).argmax(axis=0)
    assert np.all(embedded[top, [0, 1]] > 0)


def test_subsample_keeps_ends_and_follows_movement():
    T = 101
    # the representation moves only between snapshots 40 and 60
    trajectory = np.zeros((T, 3, 2))
    trajectory[:, 0, 0] = np.clip((np.arange(T) - 40) / 20, 0, 1)
    indices = rep.subsample_snapshots(trajectory, 6)
    assert indices[0] == 0 and indices[-1] == T - 1
    assert np.all(np.diff(indices) > 0) and len(indices) <= 7
    assert np.sum((indices >= 40) & (indices <= 60)) >= 4
    assert list(rep.subsample_snapshots(np.zeros((20, 2, 2)), 5)) == [0, 5, 10, 14, 19]
    assert list(rep.subsample_snapshots(np.zeros((3, 2, 2)), 5)) == [0, 1, 2]


def test_mds_trajectory_shares_axes_over_time():
    """A representation that grows along fixed directions: one joint embedding, exact in 2-D."""
    rng = np.random.default_rng(2)
    directions = rng.normal(size=(2, 5))  # 5 samples on a plane through the origin of a 4-unit space
    basis = np.linalg.qr(rng.normal(size=(4, 2)))[0]
    scales = np.linspace(0, 1, 30) ** 2
    trajectory = scales[:, None, None] * (basis @ directions)[None]  # (30, 4, 5)
    path = rep.mds_trajectory(trajectory, n_snapshots=8)
    assert path.points.shape == (len(path.indices), 5, 2) and len(path.indices) <= 9
    final = (basis @ directions).T  # (5 samples, 4 units)
    np.testing.assert_allclose(_distances(path.points[0]), 0, atol=1e-6)  # all at the origin at t = 0
    np.testing.assert_allclose(_distances(path.points[-1]), _distances(final), atol=1e-5)
    # distances across time are kept too: from the origin to each sample's last point
    from_origin = np.linalg.norm(path.points[-1] - path.points[0], axis=1)
    np.testing.assert_allclose(from_origin, np.linalg.norm(final, axis=1), atol=1e-5)
    again = rep.mds_trajectory(trajectory, n_snapshots=8)
    np.testing.assert_array_equal(again.points, path.points)


@pytest.fixture(scope="module")
def small_task():
    return contextual_task(items=4, contexts=2, structures="hierarchy")


def test_gdln_hidden_and_output_match_the_gdln(small_task):
    gdln = build_gdln([
        Pathway(contexts=None, inputs="all", hidden=(3,), init_std=0.5),
        Pathway(contexts=(1,), inputs="items", hidden=(2,), init_std=0.5),
    ], small_task)
    weights = init_gdln(seed_rng(0, GDLN_STREAM), gdln)
    X = small_task.X
    expected = np.asarray(gdln_forward(weights, gdln, X))
    output = rep.gdln_output(weights, gdln.gates, X, gdln.input_masks, gdln.output_masks)
    np.testing.assert_allclose(output, expected, atol=1e-5)
    hidden = rep.gdln_hidden(weights, gdln.gates, X, gdln.input_masks)
    assert hidden.shape == (2 * 3, small_task.P)
    assert np.all(hidden[3:, small_task.context == 0] == 0)  # the second pathway is shut in context 1


def test_unit_gated_network_with_the_relu_gates_is_the_relu(small_task):
    weights = init_relu(np.random.default_rng(0), (small_task.n_in, 6, 5, small_task.n_out), 0.7)
    X = small_task.X
    gates = [np.asarray(g, float) for g in relu_gates(weights, X)]
    hidden = gated_hidden(weights, X, gates)[-1]
    np.testing.assert_allclose(hidden, np.asarray(relu_hidden(weights, X)[-1]), atol=1e-5)
    np.testing.assert_allclose(weights[-1] @ hidden, np.asarray(relu_forward(weights, X)), atol=1e-5)
