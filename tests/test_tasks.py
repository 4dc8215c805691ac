"""Tests of reln.tasks against the task specification of docs/theory.md §4.

Expected values come from docs/theory.md (reference matrices, 1/2||Y||^2, the linear plateau, the
spectrum) or are derived on paper in the comments; none is copied from running the code.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reln.errors import RelnError
from reln.tasks import (
    BUILTIN_STRUCTURES,
    Task,
    contextual_task,
    cross,
    hierarchy,
    xor_task,
    ring,
    structure,
)

ITEMS = st.sampled_from([4, 8, 16, 32])
CONTEXTS = st.integers(1, 6)
SCALES = st.sampled_from([0.25, 0.5, 1.0, 1.1, 1.35, 2.0, 3.7])
BUILTIN = st.sampled_from(BUILTIN_STRUCTURES)


# ---------------------------------------------------------------------------------------------
# Reference matrices at n = 8 (docs/theory.md §4), written out from the specification.

H8 = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 1, 1, 1],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1],
        *np.eye(8, dtype=int).tolist(),
    ],
    dtype=float,
)

TENT8 = np.array([0, 0.33, 0.66, 1, 1, 0.66, 0.33, 0])
# Row k = 1..8 is the tent rolled left by k - 1; rows 9..14 repeat rows 1..6.
_ROLLED = [np.roll(TENT8, -(k - 1)) for k in range(1, 9)]
RING8 = np.array([np.ones(8), *_ROLLED, *_ROLLED[:6]])

CROSS8 = H8.copy()
CROSS8[3:7] = np.array(
    [
        [1, 0, 1, 0, 0, 0, 0, 0],
        [0, 1, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 1, 0, 1],
    ],
    dtype=float,
)


def double_centred(task: Task) -> np.ndarray:
    """docs/theory.md §4: R(c, i) = y(c, i) - ybar(., i) - ybar(c, .) + ybar(., .), per output row.

    Derivation (why this is the linear residual for *any* Y): the rows of X span exactly the
    additive functions a_i + b_c of (context, item) on the full, balanced n x K grid (any s > 0),
    and the orthogonal projection onto that span is the two-way main-effects fit. Samples are
    context-major, so Y reshapes to (n_out, K, n).
    """
    Y = task.Y.reshape(task.n_out, task.n_contexts, task.n_items)
    return (
        Y
        - Y.mean(axis=1, keepdims=True)
        - Y.mean(axis=2, keepdims=True)
        + Y.mean(axis=(1, 2), keepdims=True)
    ).reshape(task.n_out, task.P)


# ---------------------------------------------------------------------------------------------
# Reference structures and variants at 8 items


def test_hierarchy_8_is_reference():
    np.testing.assert_array_equal(hierarchy(8), H8)
    assert np.sum(hierarchy(8) ** 2) == 32


def test_ring_8_is_reference():
    R = ring(8)
    np.testing.assert_allclose(R, RING8, rtol=0, atol=1e-12)
    # Values are exactly 0, .33, .66, 1 (not thirds).
    assert set(np.round(R, 12).ravel().tolist()) == {0.0, 0.33, 0.66, 1.0}
    np.testing.assert_array_equal(R[9:15], R[1:7])
    # ||ring||^2 = 8 + 14 * 2 (0.33^2 + 0.66^2 + 1) = 51.246, quoted as 51.25.
    assert np.sum(R**2) == pytest.approx(8 + 14 * 2 * (0.33**2 + 0.66**2 + 1), abs=1e-10)
    assert np.sum(R**2) == pytest.approx(51.25, abs=0.005)


def test_cross_8_is_reference():
    C = cross(8)
    np.testing.assert_array_equal(C, CROSS8)
    pairs = {frozenset(np.flatnonzero(row)) for row in C[3:7]}
    assert pairs == {frozenset({0, 2}), frozenset({1, 3}), frozenset({4, 6}), frozenset({5, 7})}


def test_different_structures_task_at_8_items():
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"], common="hierarchy")
    assert (task.n_in, task.n_out, task.P) == (11, 60, 24)
    # Common block, then context blocks, each placed in its own context only.
    np.testing.assert_array_equal(task.Y[:15], np.tile(H8, 3))
    for c, block in enumerate([H8, RING8, CROSS8]):
        rows = task.Y[15 * (c + 1) : 15 * (c + 2)]
        np.testing.assert_allclose(rows[:, 8 * c : 8 * c + 8], block, atol=1e-12)
        rows_elsewhere = np.delete(rows, np.s_[8 * c : 8 * c + 8], axis=1)
        assert np.all(rows_elsewhere == 0)
    assert task.loss_initial == pytest.approx(105.623, abs=1e-3)
    assert task.loss_linear_floor == pytest.approx(16.508, abs=1e-3)
    assert np.linalg.matrix_rank(task.X) == 8 + 3 - 1


def test_different_structures_spectrum():
    """Singular values of Sigma^yx = Y X^T / P (docs/theory.md §4, 'Spectra', three decimals)."""
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    s = np.linalg.svd(task.Y @ task.X.T / task.P, compute_uv=False)
    expected = [1.143, 0.610, 0.456, 0.380, 0.258, 0.232, 0.156, 0.150, 0.144, 0.138, 0]
    np.testing.assert_allclose(s, expected, atol=1.5e-3)


@pytest.mark.parametrize("K, scale, half_norm", [(3, 1.0, 96), (4, 1.1, 128), (5, 1.35, 160)])
def test_same_structure_variants(K, scale, half_norm):
    task = contextual_task(8, K, "hierarchy", common="hierarchy", context_scale=scale)
    assert task.loss_initial == pytest.approx(half_norm, abs=1e-9)
    assert task.loss_linear_floor == pytest.approx(8.5 * (K - 1), abs=1e-9)
    assert np.linalg.matrix_rank(task.X) == 8 + K - 1
    # The context rows carry the context scale.
    np.testing.assert_allclose(task.X[8:], scale * np.repeat(np.eye(K), 8, axis=1))


def test_same_structure_k3_spectrum():
    task = contextual_task(8, 3, "hierarchy")
    s = np.linalg.svd(task.Y @ task.X.T / task.P, compute_uv=False)
    expected = [1.070, 0.456, 0.456, 0.382, 0.25, 0.25, 0.144, 0.144, 0.144, 0.144, 0]
    np.testing.assert_allclose(s, expected, atol=1.5e-3)


def test_sample_ordering_is_context_major():
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    for c in range(3):
        for i in range(8):
            col = c * 8 + i
            assert task.item[col] == i and task.context[col] == c
            assert task.sample_names[col] == f"c{c + 1}:i{i + 1}"
            expected_x = np.zeros(11)
            expected_x[i] = 1
            expected_x[8 + c] = 1.0
            np.testing.assert_array_equal(task.X[:, col], expected_x)
    assert task.output_blocks == (
        ("common", 0, 15),
        ("context 1", 15, 30),
        ("context 2", 30, 45),
        ("context 3", 45, 60),
    )
    np.testing.assert_array_equal(task.item_inputs, np.arange(11) < 8)
    np.testing.assert_array_equal(task.context_mask([0, 2]), np.repeat([1.0, 0.0, 1.0], 8))


# ---------------------------------------------------------------------------------------------
# Properties over items in {4, 8, 16, 32} and K in 1..6


@given(n=ITEMS)
def test_builtin_structures_have_2n_minus_1_rows(n):
    for name in BUILTIN_STRUCTURES:
        assert structure(name, n).shape == (2 * n - 1, n)


@given(n=ITEMS)
def test_hierarchy_levels_partition_items(n):
    H = hierarchy(n)
    assert set(np.unique(H)) <= {0.0, 1.0}
    for level in range(int(math.log2(n)) + 1):
        rows = H[(1 << level) - 1 : (1 << (level + 1)) - 1]
        assert rows.shape[0] == 1 << level
        # Every item in exactly one row of the level, each row a contiguous block of n / 2^level.
        np.testing.assert_array_equal(rows.sum(axis=0), np.ones(n))
        span = n >> level
        for j, row in enumerate(rows):
            np.testing.assert_array_equal(np.flatnonzero(row), np.arange(j * span, (j + 1) * span))


@given(n=ITEMS)
def test_cross_replaces_only_the_pair_level(n):
    H, C = hierarchy(n), cross(n)
    start, stop = n // 2 - 1, n - 1  # the level just above the leaves has n/2 rows
    keep = np.r_[0:start, stop : 2 * n - 1]
    np.testing.assert_array_equal(C[keep], H[keep])
    pair_rows = C[start:stop]
    np.testing.assert_array_equal(pair_rows.sum(axis=0), np.ones(n))  # still a partition
    expected = {
        frozenset({4 * q + o, 4 * q + o + 2}) for q in range(n // 4) for o in (0, 1)
    }
    assert {frozenset(np.flatnonzero(r).tolist()) for r in pair_rows} == expected


@given(n=ITEMS)
def test_ring_rows_are_rolled_symmetric_tents(n):
    R = ring(n)
    np.testing.assert_array_equal(R[0], np.ones(n))
    tent = R[1]
    # A tent of height 1 spanning the ring: 0 at both ends, 1 in the middle two items,
    # non-decreasing up to the middle and mirror-symmetric.
    assert tent[0] == 0 and tent[n // 2 - 1] == 1 and tent[n // 2] == 1
    np.testing.assert_array_equal(tent, tent[::-1])
    assert np.all(np.diff(tent[: n // 2]) >= 0)
    for k in range(1, n + 1):
        np.testing.assert_array_equal(R[k], np.roll(tent, -(k - 1)))
    np.testing.assert_array_equal(R[n + 1 :], R[1 : n - 1])
    np.testing.assert_array_equal(R.max(axis=1), np.ones(2 * n - 1))
    assert R.min() >= 0


@given(n=ITEMS, K=CONTEXTS, scale=SCALES, data=st.data())
def test_contextual_task_layout(n, K, scale, data):
    names = data.draw(st.lists(BUILTIN, min_size=K, max_size=K))
    common = data.draw(BUILTIN)
    task = contextual_task(n, K, names, common=common, context_scale=scale)
    P = n * K
    assert task.X.shape == (n + K, P) and task.Y.shape == ((2 * n - 1) * (K + 1), P)
    assert (task.P, task.n_items, task.n_contexts) == (P, n, K)
    np.testing.assert_array_equal(task.item, np.tile(np.arange(n), K))
    np.testing.assert_array_equal(task.context, np.repeat(np.arange(K), n))
    np.testing.assert_array_equal(task.X[:n], np.tile(np.eye(n), K))
    np.testing.assert_allclose(task.X[n:], scale * np.repeat(np.eye(K), n, axis=1))
    assert np.linalg.matrix_rank(task.X) == n + K - 1

    rows = 2 * n - 1
    np.testing.assert_array_equal(task.Y[:rows], np.tile(structure(common, n), K))
    for c, name in enumerate(names):
        block = task.Y[rows * (c + 1) : rows * (c + 2)]
        np.testing.assert_array_equal(block[:, task.context == c], structure(name, n))
        assert np.all(block[:, task.context != c] == 0)

    norms = [np.sum(structure(s, n) ** 2) for s in names]
    expected = 0.5 * (K * np.sum(structure(common, n) ** 2) + sum(norms))
    assert task.loss_initial == pytest.approx(expected, rel=1e-12)


@given(n=ITEMS, K=CONTEXTS, scale=SCALES, data=st.data())
def test_linear_floor_is_double_centred_residual(n, K, scale, data):
    """½||Y - Y X^+ X||^2 equals ½||R||^2 with R double-centred; R sums to 0 over contexts, RX^T=0."""
    names = data.draw(st.lists(BUILTIN, min_size=K, max_size=K))
    task = contextual_task(n, K, names, common=data.draw(BUILTIN), context_scale=scale)
    R = double_centred(task)
    np.testing.assert_allclose(R.reshape(task.n_out, K, n).sum(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(R @ task.X.T, 0, atol=1e-9)
    assert task.loss_linear_floor == pytest.approx(0.5 * np.sum(R**2), rel=1e-9, abs=1e-9)


@given(n=ITEMS, K=CONTEXTS, scale=SCALES, name=BUILTIN, common=BUILTIN)
def test_same_structure_linear_floor_closed_form(n, K, scale, name, common):
    """All context blocks equal B: R = (delta_cc' - 1/K)(B - rowmean B) in context block c', so
    ||R||^2 = K * (K-1)/K * ||B - rowmean B||^2 and the floor is (K-1)/2 ||B - rowmean B||^2;
    the common block is item-only and fits exactly. For the n = 8 hierarchy ||H_c||^2 = 17."""
    B = structure(name, n)
    centred = np.sum((B - B.mean(axis=1, keepdims=True)) ** 2)
    task = contextual_task(n, K, name, common=common, context_scale=scale)
    assert task.loss_linear_floor == pytest.approx(0.5 * (K - 1) * centred, rel=1e-9, abs=1e-9)


@given(n=st.integers(2, 9), K=st.integers(1, 4), rows=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_user_matrix_blocks(n, K, rows, seed):
    """User matrices need no power-of-two item count; the common block may be absent."""
    rng = np.random.default_rng(seed)
    blocks = [rng.normal(size=(rows + c, n)) for c in range(K)]
    common = rng.normal(size=(3, n))
    task = contextual_task(n, K, blocks, common=common)
    np.testing.assert_array_equal(task.Y[:3], np.tile(common, K))
    start = 3
    for c, block in enumerate(blocks):
        placed = task.Y[start : start + block.shape[0]]
        np.testing.assert_array_equal(placed[:, task.context == c], block)
        assert np.all(placed[:, task.context != c] == 0)
        assert task.output_blocks[c + 1] == (f"context {c + 1}", start, start + block.shape[0])
        start += block.shape[0]
    assert task.n_out == start

    no_common = contextual_task(n, K, blocks, common=None)
    assert no_common.n_out == start - 3
    assert [b[0] for b in no_common.output_blocks] == [f"context {c + 1}" for c in range(K)]
    np.testing.assert_array_equal(no_common.Y, task.Y[3:])
    assert contextual_task(n, K, blocks, common="none").n_out == start - 3

    # One matrix for every context.
    shared = contextual_task(n, K, blocks[0], common=None)
    for c in range(K):
        r = blocks[0].shape[0]
        np.testing.assert_array_equal(shared.Y[c * r : (c + 1) * r][:, shared.context == c], blocks[0])


def test_one_matrix_as_nested_list_serves_every_context():
    """A single matrix given as a list of rows is one structure for all contexts, not K blocks."""
    block = [[1, 0, 0, 0], [0, 1, 1, 0]]  # two rows, like contexts=2: must not be read as 2 blocks
    task = contextual_task(4, 2, block, common=None)
    expected = np.zeros((4, 8))
    expected[0:2, 0:4] = block
    expected[2:4, 4:8] = block
    np.testing.assert_array_equal(task.Y, expected)


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("n", [3, 6, 12, 2, 1])
@pytest.mark.parametrize("name", BUILTIN_STRUCTURES)
def test_builtin_structure_needs_power_of_two(n, name):
    with pytest.raises(RelnError, match=str(n)):
        structure(name, n)
    with pytest.raises(RelnError):
        contextual_task(n, 2, name, common=None)
    with pytest.raises(RelnError):
        contextual_task(n, 2, np.ones((2, n)), common=name)


def test_unknown_structure_name():
    with pytest.raises(RelnError, match="spiral"):
        contextual_task(8, 2, "spiral")


@pytest.mark.parametrize("shape", [(3, 7), (3, 9), (0, 8), (8,), (2, 8, 1)])
def test_wrong_matrix_shape(shape):
    with pytest.raises(RelnError, match="shape"):
        structure(np.ones(shape), 8)
    with pytest.raises(RelnError):
        contextual_task(8, 2, "hierarchy", common=np.ones(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_matrix(bad):
    M = np.ones((3, 8))
    M[1, 2] = bad
    with pytest.raises(RelnError, match="NaN or inf"):
        structure(M, 8)
    with pytest.raises(RelnError):
        contextual_task(8, 2, M)


@pytest.mark.parametrize("K, given", [(3, 2), (3, 4), (2, 1), (1, 2)])
def test_wrong_number_of_structures(K, given):
    with pytest.raises(RelnError, match=f"{given} structures"):
        contextual_task(8, K, ["hierarchy"] * given)


@pytest.mark.parametrize("K", [0, -1, 2.5])
def test_contexts_must_be_positive_integer(K):
    with pytest.raises(RelnError, match="contexts"):
        contextual_task(8, K)


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf])
def test_bad_context_scale(scale):
    with pytest.raises(RelnError, match="context_scale"):
        contextual_task(8, 3, context_scale=scale)


@pytest.mark.parametrize("n", [0, -4, 8.5])
def test_items_must_be_positive_integer(n):
    with pytest.raises(RelnError, match="items"):
        contextual_task(n, 3)


@pytest.mark.parametrize(
    "kwargs", [{"context_scale": "1"}, {"items": None}, {"contexts": None}, {"items": 8.0}, {"context_scale": True}]
)
def test_wrongly_typed_arguments_raise_relnerror(kwargs):
    with pytest.raises(RelnError):
        contextual_task(**kwargs)


def test_xor_has_no_linear_part_at_two_by_two():
    task = xor_task()
    # the parity one-hot is 1/2 + (+-1/2): the constant is linear, the +-1/2 is pure interaction
    assert task.loss_initial == 2.0
    assert math.isclose(task.loss_linear_floor, 1.0, rel_tol=1e-12)
    np.testing.assert_array_equal(task.Y.sum(axis=0), np.ones(task.P))


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=4, max_size=4))
def test_no_relu_unit_is_gated_on_one_xor_class(weights):
    """A bias-free unit computes a_i + b_c on one-hot inputs; the XOR classes are its diagonals."""
    task = xor_task()
    on = (np.asarray(weights) @ task.X) > 0
    for parity in (0, 1):
        assert not np.array_equal(on, task.Y[parity] == 1)


def test_xor_rejects_a_single_context():
    with pytest.raises(RelnError, match="contexts >= 2"):
        xor_task(items=2, contexts=1)
