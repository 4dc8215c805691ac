"""The loss every model in reln is trained and compared on (docs/theory.md §2, DESIGN.md conventions)."""

import jax
import jax.numpy as jnp


def half_sse(Yhat: jax.Array, Y: jax.Array) -> jax.Array:
    """``1/2 sum (Yhat - Y)^2`` over all outputs and samples, not divided by ``P``.

    With this normalisation full-batch gradient descent at learning rate ``lr`` follows the
    gradient flow of the theory with time constant ``tau = 1 / (P lr)`` epochs.
    """
    return 0.5 * jnp.sum((Yhat - Y) ** 2)
