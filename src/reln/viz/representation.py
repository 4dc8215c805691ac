"""Representational geometry of hidden layers: dissimilarity matrices and MDS trajectories.

Pure functions over NumPy arrays, in the library's features x samples convention: a hidden
representation ``H`` is ``(units, P)``, one column per sample; a trajectory of them is
``(snapshots, units, P)``.

* :func:`rdm`: the representational dissimilarity matrix ``D[i, j] = d(h_i, h_j)`` of the samples
  (``P x P``), with ``d`` the correlation distance ``1 - r`` (default) or the Euclidean distance.
* :func:`mds_trajectory`: a 2-D picture of how the samples' representations move over training,
  by metric MDS (scikit-learn's SMACOF) of all (snapshot, sample) points at once.
* :func:`gdln_hidden`, :func:`gdln_output`: the last hidden layer and the
  output of a GDLN from its weights, so GDLNs and ReLU networks are drawn
  from the same kind of arrays.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import cdist

RDM_METRICS = ("correlation", "euclidean")

# A sample whose centred representation is shorter than this fraction of the longest (uncentred)
# one has no defined correlation with anything (e.g. every unit silent, as at a small
# initialisation, or the same activity in every unit up to rounding).
DEGENERATE_FRACTION = 1e-9


def _as_representation(representation, what: str = "representation") -> np.ndarray:
    H = np.asarray(representation, dtype=np.float64)
    if H.ndim != 2:
        raise ValueError(f"{what} must be (features, samples), got shape {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ValueError(f"{what} has non-finite entries (NaN or inf); check the run that produced it")
    return H


def correlation_distance(representation) -> np.ndarray:
    """``D[i, j] = 1 - r(h_i, h_j)``, the Pearson correlation of two samples' representations
    across units, in ``[0, 2]``.

    With ``c_i = h_i - mean(h_i)`` (the mean over units), ``r = c_i . c_j / (|c_i| |c_j|)``. A
    sample whose ``c_i`` is (numerically) zero, e.g. all units silent early in training, has no
    correlation with anything: it is at distance 0 from other such samples (they are the same
    representation up to a constant) and at distance 1 (``r = 0``, no linear relation) from the
    rest, so the matrix never holds NaN.

    Properties: symmetric, zero diagonal, unchanged when ``H`` is multiplied by a positive number
    or each sample's column by its own positive number, or a constant is added to a column.
    """
    H = _as_representation(representation)
    centred = H - H.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=0)
    largest = np.linalg.norm(H, axis=0).max() if H.size else 0.0
    degenerate = norms <= DEGENERATE_FRACTION * largest  # all of them when H is 0
    unit = np.divide(centred, norms, out=np.zeros_like(centred), where=~degenerate)
    D = 1.0 - np.clip(unit.T @ unit, -1.0, 1.0)
    D[degenerate, :] = 1.0
    D[:, degenerate] = 1.0
    D[np.ix_(degenerate, degenerate)] = 0.0
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    return D


def euclidean_distance(representation) -> np.ndarray:
    """``D[i, j] = |h_i - h_j|`` (SciPy's exact pairwise distances, no Gram-matrix cancellation)."""
    H = _as_representation(representation)
    D = cdist(H.T, H.T)
    np.fill_diagonal(D, 0.0)
    return D


def rdm(representation, metric: str = "correlation") -> np.ndarray:
    """Representational dissimilarity matrix ``(P, P)`` of a ``(features, P)`` representation.

    ``metric = "correlation"`` (default, :func:`correlation_distance`): ``1 - r``. It compares the
    *pattern* of activity over units and ignores its overall size, so networks of different widths
    and weight scales (the ReLU network, a ReLN, a modular GDLN) are drawn on one scale, which is
    what the RDM figure compares. ``"euclidean"`` (:func:`euclidean_distance`) keeps the size;
    the MDS trajectories use it, since there the growth from a small initialisation is the point.
    """
    if metric == "correlation":
        return correlation_distance(representation)
    if metric == "euclidean":
        return euclidean_distance(representation)
    raise ValueError(f"unknown RDM metric '{metric}'; use one of {', '.join(RDM_METRICS)}")


def subsample_snapshots(trajectory, n: int) -> np.ndarray:
    """Indices of about ``n`` snapshots, evenly spaced along the path the representation travels.

    The arc length ``s_k = sum_{k' < k} |H_{k'+1} - H_{k'}|_F`` grows fast while the network
    learns and barely on plateaus, so snapshots evenly spaced in ``s`` (nearest to ``s_max j /
    (n - 1)``) fall where the representation changes; the first and last are always kept. With no
    movement at all the snapshots are evenly spaced in index. Only one snapshot difference is
    held in memory at a time.

    Args:
        trajectory: ``(snapshots, ...)`` representations (any trailing shape).
        n: number of snapshots wanted (at least 2).

    Returns:
        Increasing unique indices, at most ``n`` of them.
    """
    T = len(trajectory)
    if T <= n:
        return np.arange(T)
    steps = np.empty(T - 1)
    for k in range(T - 1):
        step = np.asarray(trajectory[k + 1], np.float64) - trajectory[k]
        steps[k] = np.sqrt(np.sum(step * step))  # not np.linalg.norm: no BLAS call per snapshot
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] <= 0:
        return np.unique(np.linspace(0, T - 1, n).round().astype(int))
    targets = np.linspace(0.0, arc[-1], n)
    indices = np.searchsorted(arc, targets).clip(0, T - 1)
    return np.unique(np.concatenate([[0], indices, [T - 1]]))


def classical_mds(dissimilarity, n_components: int = 2) -> np.ndarray:
    """Torgerson's classical MDS: the top eigenvectors of ``B = -1/2 J D^2 J`` scaled by the
    square roots of their eigenvalues (``J`` centres). Exact when ``D`` is Euclidean in
    ``n_components`` dimensions. Signs are fixed (the largest-magnitude entry of each axis is
    positive), so the result is deterministic."""
    D = np.asarray(dissimilarity, dtype=np.float64)
    n = D.shape[0]
    J = np.eye(n) - 1.0 / n
    B = -0.5 * J @ (D**2) @ J
    values, vectors = np.linalg.eigh(0.5 * (B + B.T))
    order = np.argsort(values)[::-1][:n_components]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs * np.sqrt(values)


def _sklearn_version() -> tuple[int, int]:
    import sklearn

    major, minor = sklearn.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def mds_parameters(random_state: int = 0, max_iter: int = 300, eps: float = 1e-6) -> dict:
    """Keyword arguments of ``sklearn.manifold.MDS`` for metric MDS of a precomputed matrix, with
    every parameter whose default changed across scikit-learn versions set explicitly.

    * ``n_init = 1`` (default 4 until 1.9, 1 since): we start from classical MDS instead.
    * ``init = "classical_mds"`` (1.8+, whose default ``"random"`` becomes ``"classical_mds"`` in
      1.10); :func:`mds` also passes the classical solution as the starting array, which works
      in every version.
    * ``metric_mds = True`` and ``metric = "precomputed"`` (1.8+, where ``metric`` stopped meaning
      metric/non-metric and ``dissimilarity`` was renamed ``metric``); before 1.8,
      ``metric = True`` and ``dissimilarity = "precomputed"``.
    * ``normalized_stress = False`` (default ``False`` before 1.4, ``"auto"`` after; ``True`` is
      refused for metric MDS before 1.7): raw stress; :func:`mds` reports Stress-1 itself.
    * ``eps = 1e-6`` (default 1e-3 before 1.7, whose convergence test was then fixed),
      ``max_iter = 300``, ``random_state`` (unused with a starting array, set for determinism),
      ``n_jobs = None``.
    """
    parameters = dict(
        n_components=2, n_init=1, max_iter=max_iter, eps=eps, random_state=random_state,
        n_jobs=None, normalized_stress=False, verbose=0,
    )
    if _sklearn_version() >= (1, 8):
        return parameters | dict(metric_mds=True, metric="precomputed", init="classical_mds")
    return parameters | dict(metric=True, dissimilarity="precomputed")


@dataclasses.dataclass(frozen=True)
class Embedding:
    """An MDS embedding: ``points`` ``(n, 2)`` and its Stress-1,
    ``sqrt(sum (|z_i - z_j| - D_ij)^2 / sum D_ij^2)`` (0 is exact; Kruskal: 0.05 good, 0.1 fair)."""

    points: np.ndarray
    stress: float


def mds(dissimilarity, *, random_state: int = 0) -> Embedding:
    """Metric MDS of a dissimilarity matrix into 2-D: scikit-learn's SMACOF started from
    :func:`classical_mds` (deterministic; see :func:`mds_parameters` for every setting).

    SMACOF minimises the raw stress ``sum_{i<j} (|z_i - z_j| - D_ij)^2``; the classical start
    already solves it exactly for a matrix that is Euclidean in 2-D, and otherwise is a good
    start, so one run suffices.
    """
    from sklearn.manifold import MDS
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    D = np.asarray(dissimilarity, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"a dissimilarity matrix must be square, got shape {D.shape}")
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    # A few hundred points: one BLAS thread is as fast, and far faster on a busy machine.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # parameter renames announced for later versions
        start = classical_mds(D)
        if D.shape[0] < 3 or not np.any(D > 0):
            points = start
        else:
            points = MDS(**mds_parameters(random_state)).fit_transform(D, init=start)
    fitted = cdist(points, points)
    scale = np.sum(D**2)
    stress = float(np.sqrt(np.sum((fitted - D) ** 2) / scale)) if scale > 0 else 0.0
    return Embedding(points=points, stress=stress)


@dataclasses.dataclass(frozen=True)
class Trajectory2D:
    """An MDS trajectory: ``points`` ``(snapshots, P, 2)`` on shared axes, the ``indices`` of the
    snapshots used, and the embedding's Stress-1."""

    points: np.ndarray
    indices: np.ndarray
    stress: float


def mds_trajectory(trajectory, *, n_snapshots: int = 12, random_state: int = 0) -> Trajectory2D:
    """Where the samples' hidden representations go over training, in one 2-D picture.

    All ``(snapshot, sample)`` points are embedded together, by metric MDS of their Euclidean
    distances, rather than each snapshot separately and aligned afterwards (Procrustes). One
    embedding gives every snapshot the same axes and scale, keeps the distances *between* times
    (the representation growing out of the origin from a small initialisation, samples splitting
    in the order the network learns them), and needs no alignment, which is ill-determined for
    the early, near-zero and structureless snapshots. The cost is ``(snapshots P)^2`` distances, so
    the snapshots are first subsampled (:func:`subsample_snapshots`, evenly along the path the
    representation travels; about 12 by default, a few hundred points).

    Args:
        trajectory: ``(snapshots, units, P)`` hidden representations (e.g. a ReLU run's
            ``hidden_0`` of one seed).
        n_snapshots: how many snapshots to keep.

    Returns:
        A :class:`Trajectory2D`.
    """
    indices = subsample_snapshots(trajectory, n_snapshots)
    chosen = np.stack([np.asarray(trajectory[k], dtype=np.float64) for k in indices])  # (T, units, P)
    T, _, P = chosen.shape
    points = chosen.transpose(0, 2, 1).reshape(T * P, -1)
    embedding = mds(cdist(points, points), random_state=random_state)
    return Trajectory2D(points=embedding.points.reshape(T, P, 2), indices=indices, stress=embedding.stress)


def align_to(reference: np.ndarray, trajectory: np.ndarray) -> np.ndarray:
    """A 2-D trajectory turned (rotation or reflection) and shifted onto a reference picture.

    MDS fixes an embedding only up to a rigid motion, so two models' pictures of the same samples
    may differ by a rotation that hides their likeness. With ``A`` and ``B`` the centred last
    snapshots of ``trajectory`` and ``reference``, the orthogonal ``R`` minimising
    ``||A R - B||_F`` (orthogonal Procrustes, :func:`scipy.linalg.orthogonal_procrustes`) is
    applied to every snapshot; distances, and so the picture itself, are unchanged.

    Args:
        reference: ``(T_ref, P, 2)`` the trajectory to align to (its last snapshot is used).
        trajectory: ``(T, P, 2)`` the trajectory to turn.

    Returns:
        ``(T, P, 2)`` the turned trajectory.

    >>> ref = np.array([[[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]]])
    >>> turned = ref @ np.array([[0.0, -1.0], [1.0, 0.0]])  # the same picture, rotated by 90 degrees
    >>> bool(np.allclose(align_to(ref, turned), ref))
    True
    """
    from scipy.linalg import orthogonal_procrustes

    reference, trajectory = np.asarray(reference, np.float64), np.asarray(trajectory, np.float64)
    a_mean, b_mean = trajectory[-1].mean(axis=0), reference[-1].mean(axis=0)
    rotation, _ = orthogonal_procrustes(trajectory[-1] - a_mean, reference[-1] - b_mean)
    return (trajectory - a_mean) @ rotation + b_mean


def gdln_hidden(
    weights: Sequence[np.ndarray], gates, X, input_masks=None
) -> np.ndarray:
    """The gated last hidden layer of a GDLN, all pathways' units stacked: ``(sum of widths, P)``.

    ``h_p = g_p o (W_{L-1}^p ... W_0^p M_in^p X)`` for each pathway ``p`` (the gate applies to
    the whole chain; a linear chain is gated anywhere equally), units of pathway ``p`` in rows
    ``p w .. (p + 1) w`` (zero padding units stay zero).

    Args:
        weights: one seed's stacked weights ``[W0 (p, w, n_in), ..., W_L (p, n_out, w)]``.
        gates: ``(p, P)`` 0/1, the gates in force.
        X: ``(n_in, P)``.
        input_masks: optional ``(p, n_in)`` 0/1 (the trained weights are already zero there).
    """
    W0 = np.asarray(weights[0], np.float64)
    if input_masks is not None:
        W0 = W0 * np.asarray(input_masks, np.float64)[:, None, :]
    h = np.einsum("pwi,in->pwn", W0, np.asarray(X, np.float64)) * np.asarray(gates, np.float64)[:, None, :]
    for W in weights[1:-1]:
        h = np.einsum("pvw,pwn->pvn", np.asarray(W, np.float64), h)
    return h.reshape(-1, h.shape[-1])


def gdln_output(weights: Sequence[np.ndarray], gates, X, input_masks=None, output_masks=None) -> np.ndarray:
    """A GDLN's output ``sum_p M_out^p W_L^p h_p``, ``(n_out, P)`` (see :func:`gdln_hidden`)."""
    p = np.asarray(gates).shape[0]
    h = gdln_hidden(weights, gates, X, input_masks)
    readout = np.asarray(weights[-1], np.float64)
    if output_masks is not None:
        readout = readout * np.asarray(output_masks, np.float64)[:, :, None]
    return np.einsum("pow,pwn->on", readout, h.reshape(p, -1, h.shape[-1]))
