"""Structured multi-context tasks (docs/theory.md §4; structures from Saxe et al. 2019).

A contextual task has ``n`` items and ``K`` contexts, ``P = n K`` datapoints ordered context-major
(column ``c n + i`` is item ``i`` in context ``c``). The input is an item one-hot stacked on a scaled
context one-hot, and the target stacks a *common* block, the same in every context, on one block
per context that is non-zero only in its own context::

    X = [ I_n  I_n ... I_n ]        Y = [ B_0  B_0 ... B_0 ]
        [  s C (one-hot)   ]            [ B_1   0  ...  0  ]
                                        [  0   B_2 ...  0  ]
                                        [  0    0  ... B_K ]

Matrices are features x samples (``X`` is ``(n + K, P)``, ``Y`` is ``(n_out, P)``).

Built-in target structures (each ``(2n - 1) x n`` for ``n`` items, ``n`` a power of two):

* ``hierarchy``: a binary tree. Level ``l = 0..log2 n`` has ``2**l`` rows; row ``j`` of level
  ``l`` is 1 on items ``[j n / 2**l, (j + 1) n / 2**l)``.
* ``ring``: a row of ones, then ``n`` rows holding a tent rolled left by ``k - 1`` for
  ``k = 1..n``, then rows ``1..n-2`` again. The tent over items ``j = 0..n-1`` is
  ``min(j, n - 1 - j) / (n/2 - 1)`` truncated to two decimals: at ``n = 8`` this is exactly the
  reference implementation's ``[0, .33, .66, 1, 1, .66, .33, 0]`` (not thirds), and at other ``n`` the same rule
  keeps a tent of height 1 that spans the ring.
* ``cross``: the hierarchy with its pair level (the level just above the leaves) replaced by
  pairs that cut across the tree: within every group of four items ``{4q..4q+3}`` the pairs are
  ``{4q, 4q+2}`` and ``{4q+1, 4q+3}``. At ``n = 8`` this gives ``{0,2}, {1,3}, {4,6}, {5,7}``.

A user matrix (any number of rows, ``n`` columns) can stand in for any block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError

BUILTIN_STRUCTURES = ("hierarchy", "ring", "cross")


@dataclasses.dataclass(frozen=True)
class Task:
    """A dataset in the features x samples convention, with what plots and analyses need.

    Attributes:
        X: inputs, ``(n_in, P)``.
        Y: targets, ``(n_out, P)``.
        item: item index of every sample, ``(P,)``.
        context: context index of every sample (0-based), ``(P,)``.
        n_items: number of items ``n``.
        n_contexts: number of contexts ``K``.
        item_inputs: boolean mask over the ``n_in`` input rows that carry the item one-hot.
        output_blocks: ``(name, start, stop)`` row ranges of ``Y``: the common block, then one
            per context.
        sample_names: a short label per sample (``"c1:i3"``: context 1, item 3, 1-based).
        name: a short description of the task.
    """

    X: np.ndarray
    Y: np.ndarray
    item: np.ndarray
    context: np.ndarray
    n_items: int
    n_contexts: int
    item_inputs: np.ndarray
    output_blocks: tuple[tuple[str, int, int], ...]
    sample_names: tuple[str, ...]
    name: str

    @property
    def P(self) -> int:
        """Number of samples (datapoints)."""
        return self.X.shape[1]

    @property
    def n_in(self) -> int:
        return self.X.shape[0]

    @property
    def n_out(self) -> int:
        return self.Y.shape[0]

    @property
    def loss_initial(self) -> float:
        """Loss of the zero network, ``1/2 ||Y||^2`` (a small-init network starts here)."""
        return 0.5 * float(np.sum(self.Y**2))

    @property
    def loss_linear_floor(self) -> float:
        """Least loss of any linear map, ``1/2 ||Y - Y X^+ X||^2`` (docs/theory.md §4, linear plateau).

        Only gating (a ReLU's, or a GDLN's) can go below it.
        """
        residual = self.Y - self.Y @ np.linalg.pinv(self.X) @ self.X
        return 0.5 * float(np.sum(residual**2))

    def context_mask(self, contexts: Sequence[int]) -> np.ndarray:
        """0/1 float vector over samples: 1 where the sample's context is in ``contexts``."""
        return np.isin(self.context, np.asarray(list(contexts), dtype=int)).astype(np.float64)


def _check_items(n_items: int, structure: str) -> None:
    if n_items < 4 or n_items & (n_items - 1):
        raise RelnError(
            f"structure '{structure}' needs a power-of-two item count of at least 4, got "
            f"items={n_items}; use 4, 8, 16, ... or give the block as a matrix"
        )


def hierarchy(n_items: int) -> np.ndarray:
    """Binary-tree features of ``n`` items: ``(2n - 1, n)``, levels from the root down to leaves."""
    _check_items(n_items, "hierarchy")
    levels = int(np.log2(n_items))
    rows = []
    for level in range(levels + 1):
        span = n_items >> level
        for j in range(1 << level):
            row = np.zeros(n_items)
            row[j * span : (j + 1) * span] = 1.0
            rows.append(row)
    return np.array(rows)


def ring(n_items: int) -> np.ndarray:
    """Ring features: ones, ``n`` rolled tents, then tents ``1..n-2`` again: ``(2n - 1, n)``."""
    _check_items(n_items, "ring")
    j = np.arange(n_items)
    # Truncation to two decimals reproduces the reference implementation's .33/.66 exactly at n = 8.
    tent = np.floor(100 * np.minimum(j, n_items - 1 - j) / (n_items // 2 - 1) + 1e-9) / 100
    rolled = [np.roll(tent, -(k - 1)) for k in range(1, n_items + 1)]
    return np.array([np.ones(n_items), *rolled, *rolled[: n_items - 2]])


def cross(n_items: int) -> np.ndarray:
    """The hierarchy with its pair level replaced by cross-cutting pairs within each four."""
    features = hierarchy(n_items)
    pair_level_start = n_items // 2 - 1  # rows before the pair level: 1 + 2 + ... + n/4
    pairs = []
    for quad in range(n_items // 4):
        for offset in (0, 1):
            row = np.zeros(n_items)
            row[[4 * quad + offset, 4 * quad + offset + 2]] = 1.0
            pairs.append(row)
    features[pair_level_start : pair_level_start + n_items // 2] = np.array(pairs)
    return features


_STRUCTURES = {"hierarchy": hierarchy, "ring": ring, "cross": cross}


def structure(spec: str | np.ndarray | Sequence[Sequence[float]], n_items: int) -> np.ndarray:
    """A target block: a built-in structure by name, or a user matrix checked to be ``(rows, n)``."""
    if isinstance(spec, str):
        if spec not in _STRUCTURES:
            raise RelnError(
                f"unknown structure '{spec}'; use one of {', '.join(BUILTIN_STRUCTURES)} "
                "or give a matrix with one column per item"
            )
        return _STRUCTURES[spec](n_items)
    try:
        matrix = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise RelnError(
            f"a structure matrix must be (rows, items) = (r, {n_items}) numbers, every row of the same "
            f"length; got {spec!r:.80}"
        ) from None
    if matrix.ndim != 2 or matrix.shape[1] != n_items or matrix.shape[0] == 0:
        raise RelnError(
            f"a structure matrix must be (rows, items) = (r, {n_items}), got shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise RelnError("a structure matrix contains NaN or inf; give finite values")
    return matrix


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_single_structure(spec) -> bool:
    """True for a name or one matrix (rows of numbers); False for a list of per-context blocks."""
    if isinstance(spec, str):
        return True
    if isinstance(spec, np.ndarray):
        return spec.ndim == 2
    return all(
        not isinstance(row, str) and np.ndim(row) == 1 and all(np.isscalar(v) for v in row)
        for row in spec
    )


def contextual_task(
    items: int = 8,
    contexts: int = 3,
    structures: str | Sequence = "hierarchy",
    common: str | np.ndarray | Sequence | None = "hierarchy",
    context_scale: float = 1.0,
    name: str | None = None,
) -> Task:
    """Build the contextual task of docs/theory.md §4.

    Args:
        items: number of items ``n`` (a power of two >= 4 for the built-in structures).
        contexts: number of contexts ``K >= 1``.
        structures: the per-context block: one structure (name or matrix) for every context,
            or a list of ``K`` of them.
        common: the context-independent block, or ``None`` / ``"none"`` for no common block.
        context_scale: value ``s`` of the context one-hot inputs.
        name: a label for plots; built from the arguments when omitted.

    Returns:
        The :class:`Task`, with ``P = items * contexts`` samples ordered context-major.

    >>> task = contextual_task(items=4, contexts=2, structures="hierarchy")
    >>> task.P, task.n_in, task.n_out, task.n_contexts
    (8, 6, 21, 2)
    """
    if not _is_integer(items) or items < 1:
        raise RelnError(f"items must be a positive integer, got {items!r}")
    if not _is_integer(contexts) or contexts < 1:
        raise RelnError(f"contexts must be an integer >= 1, got {contexts!r}")
    is_number = isinstance(context_scale, (int, float, np.number)) and not isinstance(context_scale, bool)
    if not is_number or not np.isfinite(context_scale) or context_scale <= 0:
        raise RelnError(f"context_scale must be a positive finite number, got {context_scale!r}")
    items, contexts = int(items), int(contexts)
    per_context = [structures] * contexts if _is_single_structure(structures) else list(structures)
    if len(per_context) != contexts:
        raise RelnError(
            f"got {len(per_context)} structures for contexts={contexts}; "
            "give one structure per context, or a single one for all"
        )
    blocks = [structure(spec, items) for spec in per_context]
    has_common = common is not None and not (isinstance(common, str) and common == "none")
    common_block = structure(common, items) if has_common else np.zeros((0, items))

    P = items * contexts
    item = np.tile(np.arange(items), contexts)
    context = np.repeat(np.arange(contexts), items)
    X = np.vstack([np.tile(np.eye(items), contexts), context_scale * np.eye(contexts)[:, context]])
    rows = [np.tile(common_block, contexts)]
    output_blocks = [("common", 0, common_block.shape[0])] if has_common else []
    start = common_block.shape[0]
    for c, block in enumerate(blocks):
        placed = np.zeros((block.shape[0], P))
        placed[:, context == c] = block
        rows.append(placed)
        output_blocks.append((f"context {c + 1}", start, start + block.shape[0]))
        start += block.shape[0]
    Y = np.vstack(rows)

    if name is None:
        kinds = [s if isinstance(s, str) else "custom" for s in per_context]
        name = f"{contexts} contexts x {items} items ({', '.join(kinds)})"
    return Task(
        X=X,
        Y=Y,
        item=item,
        context=context,
        n_items=items,
        n_contexts=contexts,
        item_inputs=np.arange(X.shape[0]) < items,
        output_blocks=tuple(output_blocks),
        sample_names=tuple(f"c{c + 1}:i{i + 1}" for c, i in zip(context, item)),
        name=name,
    )


def xor_task(items: int = 2, contexts: int = 2, context_scale: float = 1.0) -> Task:
    """An XOR-type contextual task (docs/theory.md §4, "XOR"; the paper's construction is unknown).

    The input is the item one-hot stacked on the scaled context one-hot, as in
    :func:`contextual_task`, and the target is the one-hot of the parity ``(i + c) mod 2`` of
    item ``i`` and context ``c``: at 2 items x 2 contexts, classic XOR with one output per class.
    At 2 x 2 the target has no additive part in item and context, so the best linear map predicts
    ``1/2`` everywhere (``loss_linear_floor = loss_initial / 2``) and only gating can do better.

    Why two outputs rather than one: with a one-hot class target every sample needs a non-zero
    output, so a ReLN must route every sample through some pathway. A single bias-free ReLU unit
    cannot be gated on one XOR class, ``{(1,1), (2,2)}``: ``a_i + b_c > 0`` on one diagonal and
    ``< 0`` on the other contradict each other, as both sums equal ``a_1 + a_2 + b_1 + b_2``. The
    candidate ReLNs (one pathway per datapoint, or pathways shared by items or contexts) differ in
    which of these gates they use.

    Args:
        items: number of items ``n >= 2``.
        contexts: number of contexts ``K >= 2``.
        context_scale: value ``s`` of the context one-hot inputs.

    >>> task = xor_task()
    >>> task.P, task.n_contexts
    (4, 2)
    """
    if not _is_integer(items) or items < 2 or not _is_integer(contexts) or contexts < 2:
        raise RelnError(f"an XOR task needs items >= 2 and contexts >= 2, got items={items!r}, contexts={contexts!r}")
    parity = np.array([[1.0, 0.0], [0.0, 1.0]])
    checkerboard = [parity[:, (np.arange(items) + c) % 2] for c in range(contexts)]
    base = contextual_task(
        items=items, contexts=contexts, structures=checkerboard, common=None, context_scale=context_scale
    )
    Y = sum(base.Y[2 * c: 2 * c + 2] for c in range(contexts))  # the per-context blocks, merged
    return dataclasses.replace(
        base, Y=Y, output_blocks=(("parity", 0, 2),), name=f"XOR: parity of item and context ({contexts} x {items})"
    )
