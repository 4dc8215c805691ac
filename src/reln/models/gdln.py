"""The forward pass and training objective of a gated deep linear network, in JAX (docs/theory.md §2, §5).

The network output is the sum over its pathways (:mod:`reln.models.pathways`, the structure),

    Yhat = sum_p  M_out^p  W_L^p ... W_0^p  M_in^p  X  diag(g_p),

so each pathway is a deep linear network trained on the samples where it is open, coupled to the
others through the shared targets (docs/theory.md §2, "gradient flow in path form"). Padding
units and masked inputs and outputs have zero weights that the forward pass multiplies by their
mask, so they never receive a gradient and stay zero: the padding is exact.

Two training rules (``gdln_objective``):

* ``total``: gradient descent on ``1/2 ||Yhat - Y||^2``.
* ``staged``: the reference implementation's rule (docs/theory.md §5.6). The always-on pathways fit
  ``Y``; the others fit ``Y - sg(Yhat_always_on)`` where ``sg`` stops the gradient. The loss
  recorded is still the total loss. It is *not* gradient descent on the total loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError
from reln.models.losses import half_sse
from reln.models.pathways import GDLN, RULES, layer_masks


def gates_at(gdln: GDLN, t=None):
    """The ``(n_pathways, P)`` gates in force at epoch ``t`` (the fixed gates when ``t`` is None
    or the GDLN has no schedule)."""
    if t is None or not gdln.switches:
        return gdln.gates
    phase = jnp.sum(jnp.asarray(gdln.phase_starts) <= t) - 1
    return jnp.asarray(gdln.phase_gates)[phase]


def _last_hidden(weights: list[jax.Array], gdln: GDLN, X: jax.Array, masks, t=None) -> jax.Array:
    """Gated activity of each pathway's last hidden layer, ``(n_pathways, width_max, P)``.

    The gate is applied at the first hidden layer; for a linear chain that is the same as gating
    the pathway's output.
    """
    h = jnp.einsum("pwi,in->pwn", weights[0] * masks[0], X) * gates_at(gdln, t)[:, None, :]
    for W, mask in zip(weights[1:-1], masks[1:-1]):
        h = jnp.einsum("pvw,pwn->pvn", W * mask, h)
    return h


def pathway_outputs(weights: list[jax.Array], gdln: GDLN, X: jax.Array, t=None) -> jax.Array:
    """Each pathway's contribution ``(n_pathways, n_out, P)``; their sum is the output."""
    masks = layer_masks(gdln)
    return jnp.einsum("pow,pwn->pon", weights[-1] * masks[-1], _last_hidden(weights, gdln, X, masks, t))


def _readout(weights: list[jax.Array], masks, hidden: jax.Array, pathways=None) -> jax.Array:
    """``sum_p W_L^p h^p`` over all pathways or the (static) index list ``pathways``.

    The sum over pathways and units is one contraction, i.e. a single matrix product.
    """
    readout = weights[-1] * masks[-1]
    if pathways is not None:
        readout, hidden = readout[pathways], hidden[pathways]
    return jnp.einsum("pow,pwn->on", readout, hidden)


def gdln_forward(weights: list[jax.Array], gdln: GDLN, X: jax.Array, pathways=None, t=None) -> jax.Array:
    """Network output ``Yhat = sum_p Yhat_p``, ``(n_out, P)``.

    Args:
        pathways: optional indices of the pathways to sum (all by default).
        t: the epoch, for a GDLN whose gates switch (the last phase's gates when omitted).

    >>> import jax.numpy as jnp
    >>> from reln.models.pathways import Pathway, build_gdln
    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> gdln = build_gdln([Pathway(contexts=None, hidden=(8,))], task)
    >>> weights = [jnp.ones((1, 8, task.n_in)), jnp.zeros((1, task.n_out, 8))]
    >>> gdln_forward(weights, gdln, jnp.asarray(task.X)).shape
    (21, 8)
    """
    masks = layer_masks(gdln)
    return _readout(weights, masks, _last_hidden(weights, gdln, X, masks, t), pathways)


def pathway_maps(weights: list[jax.Array], gdln: GDLN) -> jax.Array:
    """End-to-end map ``M_out W_L ... W_0 M_in`` of each pathway, ``(n_pathways, n_out, n_in)``."""
    masks = layer_masks(gdln)
    product = weights[0] * masks[0]
    for W, mask in zip(weights[1:], masks[1:]):
        product = jnp.einsum("pvw,pwi->pvi", W * mask, product)
    return product


def pathway_singular_values(weights: list[jax.Array], gdln: GDLN) -> jax.Array:
    """Singular values of each pathway's end-to-end map, ``(n_pathways, min(n_out, n_in))``."""
    return jnp.linalg.svd(pathway_maps(weights, gdln), compute_uv=False)


def gdln_objective(
    weights: list[jax.Array], gdln: GDLN, X: jax.Array, Y: jax.Array, rule: str = "total", t=None, mask=None
) -> tuple[jax.Array, jax.Array]:
    """``(objective to differentiate, total loss to record)`` under a training rule.

    ``total``: both are ``1/2 ||sum_p Yhat_p - Y||^2``. ``staged`` (docs/theory.md §5.6):
    ``1/2 ||Yhat_B - Y||^2 + 1/2 ||Yhat_R - (Y - sg(Yhat_B))||^2`` with ``B`` the always-on
    pathways and ``R`` the rest, so each group descends its own loss with the full step. Its
    value is only a device for the gradient (with no ``R`` it is twice the loss); the second
    term's gradient equals the total loss's, since ``Yhat_R - (Y - Yhat_B) = Yhat - Y``: only
    the always-on pathways ignore the others. ``mask`` weights the samples (a mini-batch,
    :func:`reln.models.losses.half_sse`).
    """
    masks = layer_masks(gdln)
    hidden = _last_hidden(weights, gdln, X, masks, t)
    if rule == "total":
        total = half_sse(_readout(weights, masks, hidden), Y, mask)
        return total, total
    if rule == "staged":
        # Static index lists, so each group's readout costs only its own units.
        base_out = _readout(weights, masks, hidden, np.flatnonzero(gdln.always_on))
        rest_out = _readout(weights, masks, hidden, np.flatnonzero(~gdln.always_on))
        total = half_sse(base_out + rest_out, Y, mask)
        objective = half_sse(base_out, Y, mask) + half_sse(rest_out, Y - jax.lax.stop_gradient(base_out), mask)
        return objective, total
    raise RelnError(f"unknown training rule '{rule}'; use one of {', '.join(RULES)}")
