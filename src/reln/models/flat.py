"""The flat layout of a one-hidden-layer GDLN: the same network, arranged for training speed.

:mod:`reln.models.gdln` stores pathways stacked, ``W0 (p, w, n_in)`` and ``W1 (p, n_out, w)``. Laying all
pathways' units side by side as one hidden layer gives ``A (p w, n_in)`` and ``B (n_out, p w)``;
the GDLN is then a ReLU-shaped network whose unit gates are fixed (or scheduled) instead of
``1[a . x > 0]``:

    Yhat = B (G o (A X)),   G[(p, j), n] = g_p(x_n).

The arithmetic is that of the ReLU network. On a CPU the stacked contractions over ``(p, w)`` are
slower per step, the difference spent in transposes; training uses this layout and converts back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError
from reln.models.pathways import GDLN, layer_masks
from reln.models.gdln import gates_at
from reln.models.losses import half_sse


def _check_one_layer(gdln: GDLN) -> None:
    if gdln.widths.shape[1] != 1:
        raise RelnError("the flat layout is for GDLNs with one hidden layer")


def to_flat(weights: list[np.ndarray]) -> list[np.ndarray]:
    """``[W0 (..., p, w, n_in), W1 (..., p, n_out, w)]`` -> ``[A (..., p w, n_in), B (..., n_out, p w)]``."""
    W0, W1 = (np.asarray(w) for w in weights)
    lead = W0.shape[:-3]
    A = W0.reshape(*lead, -1, W0.shape[-1])
    B = np.moveaxis(W1, -3, -2).reshape(*lead, W1.shape[-2], -1)
    return [A, B]


def from_flat(flat: list[np.ndarray], gdln: GDLN) -> list[np.ndarray]:
    """The inverse of :func:`to_flat`."""
    A, B = (np.asarray(w) for w in flat)
    p, w = gdln.n_pathways, int(gdln.widths.max())
    lead = A.shape[:-2]
    W0 = A.reshape(*lead, p, w, A.shape[-1])
    W1 = np.moveaxis(B.reshape(*lead, B.shape[-2], p, w), -2, -3)
    return [W0, W1]


def _flat_masks(gdln: GDLN) -> tuple[np.ndarray, np.ndarray]:
    masks = layer_masks(gdln)
    return to_flat(masks)


def _unit_index(gdln: GDLN, pathways: np.ndarray):
    """The flat hidden units of the given pathways: a slice when contiguous (no gather)."""
    w = int(gdln.widths.max())
    units = (pathways[:, None] * w + np.arange(w)).ravel()
    if units.size and np.all(np.diff(units) == 1):
        return slice(int(units[0]), int(units[-1]) + 1)
    return units


def flat_objective(flat, gdln: GDLN, X, Y, rule: str = "total", t=None, mask=None):
    """:func:`reln.models.gdln.gdln_objective` on flat weights: ``(objective, total loss)``."""
    _check_one_layer(gdln)
    mask_A, mask_B = _flat_masks(gdln)
    width = int(gdln.widths.max())
    gates = jnp.repeat(jnp.asarray(gates_at(gdln, t)), width, axis=0)  # (p w, P)
    hidden = gates * ((flat[0] * mask_A) @ X)
    readout = flat[1] * mask_B
    if rule == "total":
        total = half_sse(readout @ hidden, Y, mask)
        return total, total
    base = _unit_index(gdln, np.flatnonzero(gdln.always_on))
    rest = _unit_index(gdln, np.flatnonzero(~gdln.always_on))
    base_out = readout[:, base] @ hidden[base]
    rest_out = readout[:, rest] @ hidden[rest]
    objective = half_sse(base_out, Y, mask) + half_sse(rest_out, Y - jax.lax.stop_gradient(base_out), mask)
    return objective, half_sse(base_out + rest_out, Y, mask)


def flat_maps(flat, gdln: GDLN):
    """Each pathway's end-to-end map ``(p, n_out, n_in)`` from flat weights."""
    mask_A, mask_B = _flat_masks(gdln)
    p, w = gdln.n_pathways, int(gdln.widths.max())
    A = (flat[0] * mask_A).reshape(p, w, -1)
    B = (flat[1] * mask_B).reshape(flat[1].shape[0], p, w)
    return jnp.einsum("opw,pwi->poi", B, A)
