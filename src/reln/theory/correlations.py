"""The datasets each pathway sees: gated input-output and input correlations (docs/theory.md §2).

For pathways ``p, q`` with gates ``g_p`` over samples and input / output masks ``M_in``, ``M_out``:

    Sigma_yx(p)    = (1/P) sum_i g_p(i) M_out^p y_i (M_in^p x_i)^T,
    Sigma_x(q, p)  = (1/P) sum_i g_q(i) g_p(i) (M_in^q x_i) (M_in^p x_i)^T.

A pathway learns from the samples where it is open; pathways interact through ``Sigma_x(q, p)``
where their samples overlap. Assumption 2.1 asks that one basis diagonalise them all;
:func:`alignment_report` says, in numbers, how far a task and gating are from that.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from reln.models.pathways import GDLN
from reln.tasks import Task


@dataclasses.dataclass(frozen=True)
class PathwayCorrelations:
    """``yx`` ``(p, n_out, n_in)`` and ``xx`` ``(p, p, n_in, n_in)``, both divided by ``P``."""

    yx: np.ndarray
    xx: np.ndarray
    P: int


def pathway_correlations(task: Task, gdln: GDLN) -> PathwayCorrelations:
    """The gated correlations of every pathway and pair of pathways (fixed gates)."""
    X = task.X[None] * gdln.input_masks[:, :, None]  # (p, n_in, P): each pathway's inputs
    Y = task.Y[None] * gdln.output_masks[:, :, None]  # (p, n_out, P)
    g = gdln.gates
    yx = np.einsum("pon,pn,pin->poi", Y, g, X) / task.P
    xx = np.einsum("qjn,qn,pn,pin->qpji", X, g, g, X) / task.P
    return PathwayCorrelations(yx=yx, xx=xx, P=task.P)


def alignment_report(correlations: PathwayCorrelations, tol: float = 1e-10) -> dict:
    """How far the pathways are from Assumption 2.1 (mutual diagonalisability), as numbers.

    For each pathway ``p`` with ``Sigma_yx(p) = U S V^T`` (modes with ``s > tol``):

    * ``input_offdiagonal``: ``||offdiag(V^T Sigma_x(p,p) V)|| / ||V^T Sigma_x(p,p) V||``, zero
      when the input singular vectors are eigenvectors of the pathway's input correlation (the
      reference implementation's sorted pairing assumes it; docs/theory.md §6 measures Rayleigh residuals ≈ 0.02);
    * ``output_overlap_offdiagonal`` for pairs ``(p, q)``: the same for ``U_p^T U_q`` over the
      shared modes, zero when pathways share output singular vectors.

    Returns:
        ``{"input_offdiagonal": [per pathway], "output_overlap_offdiagonal": {(p, q): value}}``.
    """
    bases = []
    for yx in correlations.yx:
        U, s, Vt = np.linalg.svd(yx, full_matrices=False)
        keep = s > tol
        bases.append((U[:, keep], Vt[keep].T))
    inputs = []
    for p, (_, V) in enumerate(bases):
        block = V.T @ correlations.xx[p, p] @ V
        inputs.append(_offdiagonal_fraction(block))
    outputs = {}
    for p in range(len(bases)):
        for q in range(p + 1, len(bases)):
            overlap = bases[p][0].T @ bases[q][0]
            outputs[p, q] = _offdiagonal_fraction(overlap)
    return {"input_offdiagonal": inputs, "output_overlap_offdiagonal": outputs}


def _offdiagonal_fraction(matrix: np.ndarray) -> float:
    if matrix.size == 0:
        return 0.0
    n = min(matrix.shape)
    diagonal = np.zeros_like(matrix)
    diagonal[np.arange(n), np.arange(n)] = matrix[np.arange(n), np.arange(n)]
    total = np.linalg.norm(matrix)
    return float(np.linalg.norm(matrix - diagonal) / total) if total > 0 else 0.0
