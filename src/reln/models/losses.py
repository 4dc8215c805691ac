"""The loss every model in reln is trained and compared on (docs/theory.md §2, DESIGN.md conventions)."""

import jax
import jax.numpy as jnp


def half_sse(Yhat: jax.Array, Y: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """``1/2 sum_p m_p ||Yhat_p - Y_p||^2`` over outputs and samples (columns), not divided by ``P``.

    With this normalisation full-batch gradient descent at learning rate ``lr`` follows the
    gradient flow of the theory with time constant ``tau = 1 / (P lr)`` epochs (docs/theory.md §2).

    Args:
        Yhat, Y: ``(n_out, P)`` outputs and targets, samples on columns.
        mask: optional ``(P,)`` sample weights ``m_p`` (a mini-batch's indicator, see
            :class:`reln.training.train.MiniBatch`); every ``m_p = 1`` when omitted.

    >>> float(half_sse(jnp.ones((2, 3)), jnp.zeros((2, 3)), jnp.array([1.0, 0.0, 1.0])))
    2.0
    """
    squared = (Yhat - Y) ** 2
    return 0.5 * jnp.sum(squared if mask is None else squared * mask)
