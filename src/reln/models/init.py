"""Initial weights from seeded NumPy generators (docs/theory.md §2.8).

The init law is the one knob of the small-initialisation regime: every weight ``N(0, std_l^2)``,
one standard deviation per layer. NumPy draws them rather than ``jax.random``, so the theory and
the prediction, which need a seed's initial weights but train nothing, never import JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.tasks import Task

# Independent random streams for the two model families, so adding one never changes the other.
RELU_STREAM, GDLN_STREAM, SAMPLING_STREAM = 0, 1, 2


def seed_rng(seed: int, stream: int) -> np.random.Generator:
    """The NumPy generator of one seed and model family (randomness only through explicit seeds)."""
    return np.random.default_rng([int(seed), stream])


def per_layer(values: float | Sequence[float], n_layers: int, what: str) -> list[float]:
    """Broadcast a scalar to ``n_layers`` values, or check a per-layer list has that length."""
    values = [float(values)] * n_layers if np.isscalar(values) else [float(v) for v in values]
    if len(values) != n_layers:
        raise RelnError(f"{what} needs one value or {n_layers} (one per layer), got {len(values)}")
    if not all(np.isfinite(v) and v >= 0 for v in values):
        raise RelnError(f"{what} must be finite and >= 0, got {values}")
    return values


def init_relu(
    rng: np.random.Generator, sizes: Sequence[int], init_std: float | Sequence[float]
) -> list[np.ndarray]:
    """Draw ``W_l ~ N(0, std_l^2)`` for layer sizes ``(n_in, h_1, ..., n_out)``, input layer first.

    Initial weights come from a seeded NumPy generator rather than ``jax.random``: on a CPU the
    XLA compilation of ``jax.random.normal`` takes longer (about 1.5 s) than training a seed.

    Args:
        rng: a seeded ``numpy.random.Generator``.
        sizes: widths from input to output; at least one hidden layer.
        init_std: one standard deviation for every layer, or one per weight matrix. Small values
            (the paper: ``0.005 / width``) put the network in the rich, feature-learning regime.
    """
    if len(sizes) < 3 or any(int(s) != s or s < 1 for s in sizes):
        raise RelnError(
            f"a ReLU network needs sizes (n_in, hidden..., n_out) of positive integers with at "
            f"least one hidden layer, got {tuple(sizes)}"
        )
    stds = per_layer(init_std, len(sizes) - 1, "init_std")
    return [
        std * rng.standard_normal((int(fan_out), int(fan_in)))
        for std, fan_in, fan_out in zip(stds, sizes[:-1], sizes[1:])
    ]


def check_seeds(seeds) -> tuple[int, ...]:
    """Seeds as given to the fitting functions: a non-empty sequence of distinct non-negative
    integers (never a string, whose characters would become seeds, nor a float, truncated).

    Args:
        seeds: the seeds.

    Returns:
        They, as a tuple of ints.
    """
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence | np.ndarray):
        raise RelnError(f"seeds must be a sequence of non-negative integers such as (0, 1, 2), got {seeds!r}")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0]
    if bad or not len(seeds) or len(set(int(s) for s in seeds)) != len(seeds):
        raise RelnError(f"seeds must be distinct non-negative integers, at least one, got {list(seeds)}")
    return tuple(int(s) for s in seeds)


def _check_hidden(hidden) -> tuple:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence | np.ndarray):
        raise RelnError(f"hidden must be a sequence of widths such as (700,), got {hidden!r}")
    return tuple(hidden)


def relu_initial_weights(
    task: Task, hidden: Sequence[int], init_std: float | Sequence[float], seeds: Sequence[int]
) -> list[list[np.ndarray]]:
    """Per seed, the initial weights :func:`fit_relu` starts from: what a ReLN built from the
    ReLU's own units (:mod:`reln.relns.imitate`, :mod:`reln.relns.unit_gated`) and the theory start from."""
    seeds = check_seeds(seeds)
    sizes = (task.n_in, *_check_hidden(hidden), task.n_out)
    return [init_relu(seed_rng(s, RELU_STREAM), sizes, init_std) for s in seeds]
