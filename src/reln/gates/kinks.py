"""Kinks: where a ReLU unit sits at zero on a sample, and how a linear network holds it there.

Gradient descent on a ReLU network can *slide along a kink* (a Filippov sliding mode): on a
sample where the residual would push a unit's pre-activation ``z`` down while the unit is on, and
the other samples' gradients push it up while it is off, ``z`` stays at zero. The gate flips every
few epochs, the unit contributes nothing on that sample, and its input weights move only along
``z = const``. A gated linear network reproduces this by turning the gate off *and* projecting the
unit's input-weight gradient so that ``z`` is held (:func:`kink_projectors`, :func:`pinned_weights`).
Without the projection it learns the context-specific phase faster than the ReLU. On two
contexts the ReLU's own per-sample gates held 10 epochs fit worst, whole-context gates better,
and pinning in the kink band after the first drop (:func:`reln.gates.replay.switching_schedule`)
best; following the ReLU's own gates every 10 epochs and pinning only the pairs that stay in
the band for 200 epochs (:func:`reln.gates.replay.sliding_schedule`, the default for one hidden
layer) is a little worse here: it trades that for 16 items and many contexts.
In a deeper hidden layer the pre-activation depends on every layer below, so there the pinned
pair is pulled to its kink by a stiff penalty instead (:func:`kink_penalty`; on ``depth`` it
closes much of the gap to the ReLU). The compact ReLN uses the same penalty on the closed pairs
that its own state says would slide (:func:`sliding_pairs`), with nothing read per sample.
"""

from __future__ import annotations

import numpy as np

# JAX is imported inside the two functions traced in training programs, so that the schedule
# rules (and the config that names them) load without it.


def kink_gates(pre, gate_threshold: float, silent_threshold: float = 1e-3):
    """``(on, pinned)``, each ``(units, P)`` bool, from one checkpoint's pre-activations ``z``.

    A unit's scale is its peak activity ``max_s z_s``. It is on where ``z > gate_threshold * scale``
    and *pinned at its kink* (module docstring) where ``|z| < gate_threshold * scale``; a unit whose
    peak is below ``silent_threshold`` of the layer's largest is off everywhere and pinned nowhere.
    With ``gate_threshold = 0`` the gate is the ReLU's own and nothing is pinned. (Scaling by
    ``max_s |z_s|`` instead changes the presets' gaps negligibly.) Array operations
    only, so NumPy and JAX arrays both work.
    """
    magnitude = abs(pre)
    active = pre * (pre > 0)
    scale = active.max(axis=1, keepdims=True)
    awake = scale > silent_threshold * active.max()
    band = gate_threshold * scale
    return (pre > band) & awake, (magnitude < band) & awake


def kink_projectors(X: np.ndarray, pinned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The projectors that hold pinned pre-activations fixed, for units reading the inputs ``X``.

    A unit pinned on the samples ``S`` may only move its input weights ``w`` along
    ``X_S^T dw = 0``: its gradient is projected by ``Q_S = I - X_S X_S^+``. Units share few
    distinct pinned sets, so the projectors are stored once per set.

    Args:
        X: ``(n_in, P)``; pinned: ``(..., units, P)`` bool.

    Returns:
        ``(projectors (sets, n_in, n_in), index (..., units) int32)``: unit ``j`` in phase ``k``
        uses ``projectors[index[k, j]]``.
    """
    P = pinned.shape[-1]
    packed = np.packbits(pinned.reshape(-1, P), axis=1)  # a row of bits as a few bytes: a fast unique
    codes, index = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_inverse=True)
    sets = np.unpackbits(codes.view(np.uint8).reshape(len(codes), -1), axis=1, count=P).astype(bool)
    masked = np.asarray(X, np.float64)[None] * sets[:, None, :]  # (sets, n_in, P): X_S, zeros elsewhere
    projectors = np.eye(X.shape[0])[None] - masked @ np.linalg.pinv(masked)
    return projectors, index.reshape(pinned.shape[:-1]).astype(np.int32)


def pinned_weights(W, projectors):
    """``W`` in value, with gradients ``Q_j g_j`` for each row ``j``: gradient descent through it
    moves row ``j`` only within the range of its projector ``Q_j`` (symmetric, idempotent)."""
    import jax
    import jax.numpy as jnp

    fixed = jax.lax.stop_gradient(W)
    return fixed + jnp.einsum("hij,hj->hi", projectors, W - fixed)


def sliding_pairs(pre, gates, output_gradient):
    """The closed unit-sample pairs a ReLU unit would slide on: ``(1 - g) * [z > 0] * [dL/dh > 0]``.

    A unit closed on a sample (gate ``g = 0``) whose pre-activation ``z`` has drifted above its
    kink would, in a ReLU network, be open there; if its output on the sample raises the loss
    (``dL/dh > 0``, the gradient ``output_gradient = W_out^T (Yhat - Y)`` taken as if it were open)
    gradient descent pushes ``z`` back down, and the unit slides along its kink (module docstring).
    Those pairs are the ones :func:`kink_penalty` (``layers_below = 1``) pulls back to ``z = 0``; a
    pair whose output would lower the loss is left free (a ReLU unit would join that sample; the
    schedule, not the kink, decides membership). Computed from the network's own state: nothing
    is read. docs/theory.md §5.3.

    Args:
        pre: ``(units, P)`` pre-activations; gates: ``(units, P)`` 0/1; output_gradient:
            ``(units, P)``.

    Returns:
        ``(units, P)`` 0/1 of the gates' dtype.

    >>> sliding_pairs(np.array([[0.5, 0.5, -0.5]]), np.zeros((1, 3)), np.array([[1.0, -1.0, 1.0]]))
    array([[1., 0., 0.]])
    """
    return (1 - gates) * ((pre > 0) & (output_gradient > 0))


def kink_penalty(pre, inputs, pinned, *, layers_below: int, stiffness: float, lr: float):
    """A stiff penalty that keeps pinned pre-activations of a deeper hidden layer at their kink
    (and, with ``layers_below = 1``, the compact ReLN's sliding pairs, :func:`sliding_pairs`).

    In a layer above the first, ``z_js = w_j . h_s`` moves with every layer below it, so holding
    it is a constraint on all of them at once (the Filippov sliding force of the ReLU acts on the
    pre-activation and reaches every layer below by backpropagation). Gradient descent solves it
    softly: the penalty ``(stiffness / 2 lr) sum_{pinned js} z_js^2 / kappa_js`` added to the
    objective removes about ``stiffness`` of a pinned ``z_js`` per step, with ``kappa_js =
    layers_below * |h_s|^2`` the squared gradient norm of ``z_js`` over the ``layers_below``
    weight matrices that feed it when they are balanced (each contributes ``|h_{l-1,s}|^2``;
    exact for the layer's own weights). It pulls ``z`` toward the kink ``z = 0`` where the ReLU
    slides, rather than holding the value it had at the checkpoint, which would need the network's
    state at each regroup.

    On ``depth`` (first layer projected as :func:`kink_projectors`) no hold in layer 2 tracks the
    ReLU worst; projecting layer 2's rows with its current inputs (a ``P x P`` solve per unit and
    step, far slower) helps a little, this penalty on layer 2's own weights more, and through
    every layer most. A smaller stiffness is weaker; larger ones are no better than the default
    (the report of ``reln reproduce`` shows them).

    Args:
        pre: ``(units, P)`` the layer's pre-activations; inputs: ``(n_in, P)`` its inputs
            ``h_{l-1}``; pinned: ``(units, P)`` 0/1.
    """
    import jax
    import jax.numpy as jnp

    kappa = layers_below * jax.lax.stop_gradient(jnp.sum(inputs * inputs, axis=0))
    kappa = jnp.where(kappa > 0, kappa, 1.0)  # a sample no unit below passes has z = 0: nothing to pull
    return 0.5 * stiffness / lr * jnp.sum(pinned * pre * pre / kappa)
