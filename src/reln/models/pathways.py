"""The structure of a gated deep linear network: its pathways, gates and masks (docs/theory.md §2.1).

A pathway ``p`` is a linear chain ``W_L^p ... W_0^p`` that reads the inputs in its input mask,
writes the outputs in its output mask, and is open or closed per sample by its gate
``g_p(x) in {0, 1}``. This module resolves a user's :class:`Pathway` descriptions against a task
into the plain arrays of a :class:`GDLN` and draws its initial weights; the forward pass and the
training objective (JAX) are in :mod:`reln.models.gdln`. Nothing here needs JAX, so the theory and
the prediction, which never train a network, use it alone.

Pathways are stored stacked: layer ``l`` is one array ``(n_pathways, fan_out_max, fan_in_max)``.
A pathway narrower than the widest one is padded with zero units, which stay zero for ever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.models.init import per_layer
from reln.tasks import Task

RULES = ("total", "staged")


@dataclasses.dataclass(frozen=True)
class Pathway:
    """One pathway of a GDLN, as a user describes it.

    Attributes:
        contexts: the contexts (0-based) in which the pathway is on; ``None`` with no ``gate``
            means on for every sample.
        gate: an explicit 0/1 gate per sample, instead of ``contexts``.
        inputs: ``"all"``, ``"items"`` (the item one-hot rows only: docs/theory.md §1 claim 8), or a
            0/1 mask over input rows.
        outputs: ``"all"`` or a 0/1 mask over output rows.
        hidden: hidden widths, one per hidden layer.
        init_std: standard deviation of the initial weights, one value or one per layer.
        name: a label for plots and files.
    """

    contexts: tuple[int, ...] | None = None
    gate: np.ndarray | None = None
    inputs: str | np.ndarray = "all"
    outputs: str | np.ndarray = "all"
    hidden: tuple[int, ...] = (100,)
    init_std: float | tuple[float, ...] = 1e-5
    name: str = ""


@dataclasses.dataclass(frozen=True)
class GDLN:
    """A GDLN resolved against a task: plain arrays, one row per pathway.

    Attributes:
        gates: ``(n_pathways, P)`` 0/1.
        input_masks: ``(n_pathways, n_in)`` 0/1.
        output_masks: ``(n_pathways, n_out)`` 0/1.
        widths: ``(n_pathways, n_hidden_layers)`` hidden widths.
        init_std: ``(n_pathways, n_hidden_layers + 1)`` per-layer init standard deviations.
        names: one label per pathway.
        contexts: the context set of each pathway (``None`` where the gate was given per sample).
        inputs: how each pathway's input mask was given (``"all"``, ``"items"`` or ``"mask"``).
        phase_starts: optional ``(n_phases,)`` increasing epochs, the first 0: a gate schedule.
        phase_gates: optional ``(n_phases, n_pathways, P)``: from ``phase_starts[k]`` on, the
            gates are ``phase_gates[k]`` (a GDLN whose gates switch at given epochs; ``gates``
            then holds the last phase's).
    """

    gates: np.ndarray
    input_masks: np.ndarray
    output_masks: np.ndarray
    widths: np.ndarray
    init_std: np.ndarray
    names: tuple[str, ...]
    contexts: tuple[tuple[int, ...] | None, ...]
    inputs: tuple[str, ...]
    phase_starts: np.ndarray | None = None
    phase_gates: np.ndarray | None = None

    @property
    def switches(self) -> bool:
        """True when the gates follow a schedule over epochs."""
        return self.phase_gates is not None

    @property
    def n_pathways(self) -> int:
        return self.gates.shape[0]

    @property
    def always_on(self) -> np.ndarray:
        """Boolean per pathway: open on every sample (the ``staged`` rule's base pathways)."""
        return np.all(self.gates == 1, axis=1)

    def unit_masks(self) -> list[np.ndarray]:
        """Per hidden layer, ``(n_pathways, width_max)`` 1 for real units, 0 for padding."""
        return [
            (np.arange(self.widths[:, l].max()) < self.widths[:, l, None]).astype(np.float64)
            for l in range(self.widths.shape[1])
        ]


def _zero_one_mask(value, length: int, what: str) -> np.ndarray:
    mask = np.asarray(value, dtype=np.float64)
    if mask.shape != (length,):
        raise RelnError(f"{what} must have shape ({length},), got {mask.shape}")
    if not np.all((mask == 0) | (mask == 1)):
        bad = mask[(mask != 0) & (mask != 1)][0]
        raise RelnError(f"{what} must be 0/1, found the value {bad}; use a 0/1 (or bool) array")
    return mask


def _resolve_pathway(pathway: Pathway, task: Task, index: int):
    label = pathway.name or f"pathway {index}"
    if pathway.gate is not None and pathway.contexts is not None:
        raise RelnError(f"{label} has both a gate and contexts; give one of them")
    if pathway.gate is not None:
        gate = _zero_one_mask(pathway.gate, task.P, f"the gate of {label}")
        contexts = None
    else:
        contexts = tuple(range(task.n_contexts)) if pathway.contexts is None else pathway.contexts
        if isinstance(contexts, (str, bytes)) or not np.iterable(contexts) or not all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in contexts
        ):
            raise RelnError(
                f"{label} has contexts {contexts!r}; give a sequence of 0-based integer context indices such as (0, 2)"
            )
        contexts = tuple(int(c) for c in contexts)
        bad = [c for c in contexts if not 0 <= c < task.n_contexts]
        if bad or not contexts:
            raise RelnError(
                f"{label} has contexts {list(contexts)}; contexts are numbered 0..{task.n_contexts - 1} "
                "in configs and files (1-based only in figures), and a pathway needs at least one"
            )
        gate = task.context_mask(contexts)
    if isinstance(pathway.inputs, str):
        if pathway.inputs not in ("all", "items"):
            raise RelnError(f"{label}: inputs must be 'all', 'items' or a 0/1 mask, got '{pathway.inputs}'")
        inputs = pathway.inputs
        input_mask = np.ones(task.n_in) if inputs == "all" else task.item_inputs.astype(np.float64)
    else:
        inputs, input_mask = "mask", _zero_one_mask(pathway.inputs, task.n_in, f"the input mask of {label}")
    if isinstance(pathway.outputs, str):
        if pathway.outputs != "all":
            raise RelnError(f"{label}: outputs must be 'all' or a 0/1 mask, got '{pathway.outputs}'")
        output_mask = np.ones(task.n_out)
    else:
        output_mask = _zero_one_mask(pathway.outputs, task.n_out, f"the output mask of {label}")
    widths = np.atleast_1d(pathway.hidden)
    if widths.dtype.kind not in "iu" and not all(float(h).is_integer() for h in widths.ravel()):
        raise RelnError(f"{label}: hidden widths must be positive integers, got {pathway.hidden}")
    hidden = tuple(int(h) for h in widths)
    if not hidden or min(hidden) < 1:
        raise RelnError(f"{label}: hidden widths must be positive integers, got {pathway.hidden}")
    stds = per_layer(pathway.init_std, len(hidden) + 1, f"init_std of {label}")
    return label, gate, contexts, inputs, input_mask, output_mask, hidden, stds


def build_gdln(pathways: Sequence[Pathway], task: Task) -> GDLN:
    """Resolve pathway descriptions against a task into a :class:`GDLN` of plain arrays.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> gdln = build_gdln([Pathway(contexts=None, hidden=(8,)), Pathway(contexts=(0,), inputs="items", hidden=(8,))], task)
    >>> gdln.n_pathways, gdln.gates.shape, list(gdln.inputs)
    (2, (2, 8), ['all', 'items'])
    """
    if not pathways:
        raise RelnError("a GDLN needs at least one pathway")
    resolved = [_resolve_pathway(p, task, i) for i, p in enumerate(pathways)]
    depths = {len(r[6]) for r in resolved}
    if len(depths) != 1:
        raise RelnError(
            f"all pathways must have the same number of hidden layers, got {sorted(depths)}; "
            "give every pathway the same number of hidden widths"
        )
    names, gates, contexts, inputs, in_masks, out_masks, widths, stds = zip(*resolved)
    return GDLN(
        gates=np.array(gates),
        input_masks=np.array(in_masks),
        output_masks=np.array(out_masks),
        widths=np.array(widths, dtype=int),
        init_std=np.array(stds),
        names=tuple(names),
        contexts=tuple(contexts),
        inputs=tuple(inputs),
    )


def layer_masks(gdln: GDLN) -> list[np.ndarray]:
    """Per weight matrix, the ``(n_pathways, fan_out_max, fan_in_max)`` 0/1 mask of live entries."""
    units = gdln.unit_masks()
    fan_in = [gdln.input_masks, *units]
    fan_out = [*units, gdln.output_masks]
    return [o[:, :, None] * i[:, None, :] for i, o in zip(fan_in, fan_out)]


def init_gdln(rng: np.random.Generator, gdln: GDLN) -> list[np.ndarray]:
    """Draw every pathway's weights ``N(0, std^2)``, zero on padding and masked rows/columns.

    Every pathway draws from its own child of ``rng`` (``rng.spawn``), layer by layer, only the
    shape of its live block; so a pathway's initial weights depend on the seed and its position,
    never on the widths or number of the other pathways. (A seeded NumPy generator: see
    :func:`reln.models.relu.init_relu`.)
    """
    masks = layer_masks(gdln)
    weights = [np.zeros(mask.shape) for mask in masks]
    for p, child in enumerate(rng.spawn(gdln.n_pathways)):
        for l, mask in enumerate(masks):
            live = mask[p].astype(bool)
            rows, cols = live.any(axis=1), live.any(axis=0)
            block = child.standard_normal((rows.sum(), cols.sum()))
            weights[l][p][np.ix_(rows, cols)] = gdln.init_std[p, l] * block
    return weights


def check_rule(rule: str, gdln: GDLN) -> None:
    """Raise unless ``rule`` is known and, for ``staged``, some pathway is open on every sample."""
    if rule not in RULES:
        raise RelnError(f"unknown training rule '{rule}'; use one of {', '.join(RULES)}")
    if rule == "staged" and gdln.switches:
        raise RelnError("the 'staged' rule needs fixed gates; use rule = 'total' for switching gates")
    if rule == "staged" and not gdln.always_on.any():
        raise RelnError(
            "the 'staged' rule needs a pathway open on every sample (it fits Y first); "
            "add one, or use rule = 'total'"
        )
