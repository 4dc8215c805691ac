"""The gate schedule of a unit-gated linear network, and what it read from a ReLU run (docs/theory.md §5)."""

from __future__ import annotations

import dataclasses

import numpy as np

from reln.errors import RelnError

GATE_LEVELS = ("none", "context", "item", "sample")


@dataclasses.dataclass(frozen=True)
class Reads:
    """What a model takes from a trained ReLU run (``metrics.json`` → ``reads_from_relu``).

    Attributes:
        gate_phases: distinct gate configurations the model uses over training.
        read_phases: how many of them are read from the ReLU's trajectory (gates computed from
            the task and the initial weights by a documented rule, or given by a config, are not).
        gate_level: the finest level of what is read: ``"sample"`` (a gate per unit and sample),
            ``"item"`` (per unit or pathway, on items within a context), ``"context"`` (per unit
            or pathway, on whole contexts) or ``"none"``.
        numbers: how many values are taken from the trajectory (gate bits, epochs, unit labels).
        initial_weights: whether the model starts from the ReLU's initial weights.

    >>> Reads(gate_phases=16, read_phases=12, gate_level="context", numbers=100, initial_weights=True).as_dict()["gate_level"]
    'context'
    """

    gate_phases: int
    read_phases: int
    gate_level: str
    numbers: int
    initial_weights: bool

    def __post_init__(self):
        if self.gate_level not in GATE_LEVELS:
            raise RelnError(f"gate_level must be one of {', '.join(GATE_LEVELS)}, got '{self.gate_level}'")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class GateSchedule:
    """Per-unit gates of every hidden layer, piecewise constant in time.

    Phase ``k`` holds for ``starts[k] <= t < starts[k + 1]``; in it hidden unit ``j`` of layer
    ``l`` passes sample ``s`` iff ``gates[l][k, j, s] = 1``, and its pre-activation on ``s`` is
    held (its input-weight gradient projected, :mod:`reln.gates.kinks`) where ``pins[l][k, j, s]``.

    Attributes:
        starts: ``(phases,)`` increasing epochs, the first 0.
        gates: per hidden layer ``(phases, units, P)`` 0/1.
        pins: per hidden layer ``(phases, units, P)`` bool (all False: nothing held).
        reads: what the schedule took from the ReLU run.
        read: ``(phases,)`` bool, which phases' gates were read from it; ``None``: the last
            ``reads.read_phases`` (derived phases first), :attr:`read_mask`.

    >>> s = GateSchedule(np.array([0]), (np.ones((1, 2, 3)),), (np.zeros((1, 2, 3), bool),),
    ...                  Reads(1, 0, "none", 0, False))
    >>> s.n_phases
    1
    """

    starts: np.ndarray
    gates: tuple[np.ndarray, ...]
    pins: tuple[np.ndarray, ...]
    reads: Reads
    read: np.ndarray | None = None

    def __post_init__(self):
        starts = np.asarray(self.starts)
        if starts.ndim != 1 or not starts.size or starts[0] != 0 or np.any(np.diff(starts) <= 0):
            raise RelnError(f"phase starts must begin at 0 and increase, got {starts[:5].tolist()}...")
        for g, p in zip(self.gates, self.pins):
            if g.shape != p.shape or g.shape[0] != starts.size:
                raise RelnError(f"gates {g.shape} and pins {p.shape} need one entry per phase ({starts.size})")
            if not np.all((g == 0) | (g == 1)):
                raise RelnError("gates must be 0 or 1")
        if self.read is not None and (np.shape(self.read) != starts.shape
                                      or int(np.sum(self.read)) != self.reads.read_phases):
            raise RelnError(f"read must mark {self.reads.read_phases} of the {starts.size} phases, got {self.read!r}")

    @property
    def read_mask(self) -> np.ndarray:
        """``(phases,)`` bool: which phases' gates were read from the ReLU run."""
        if self.read is not None:
            return np.asarray(self.read, bool)
        return np.arange(self.n_phases) >= self.n_phases - self.reads.read_phases

    @property
    def n_phases(self) -> int:
        return int(np.asarray(self.starts).size)


def total_reads(schedules) -> dict:
    """``reads_from_relu`` of a model trained from one schedule per seed: the phases and level of
    the first (every seed's schedule has the same phases), the values read summed over the seeds.

    >>> r = Reads(16, 12, "context", 10, True)
    >>> s = GateSchedule(np.array([0]), (np.ones((1, 1, 1)),), (np.zeros((1, 1, 1), bool),), r)
    >>> total_reads([s, s])["numbers"]
    20
    """
    return schedules[0].reads.as_dict() | {"numbers": sum(s.reads.numbers for s in schedules)}


def describe_reads(reads: dict | None) -> str:
    """``reads_from_relu`` in a few words, for the CLI summary and the report.

    >>> describe_reads(Reads(16, 12, "context", 75600, True).as_dict())
    '12 phases of context gates (+4 derived), 75,600 values'
    >>> describe_reads(Reads(1, 0, "none", 0, False).as_dict())
    'nothing'
    """
    if not reads:
        return ""
    if not reads["read_phases"]:
        return "nothing"
    derived = reads["gate_phases"] - reads["read_phases"]
    return (f"{reads['read_phases']} phases of {reads['gate_level']} gates" + (f" (+{derived} derived)" if derived else "")
            + f", {reads['numbers']:,} values")
