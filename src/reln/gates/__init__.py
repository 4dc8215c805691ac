"""Gate schedules: which hidden units are on for which samples, phase by phase (docs/theory.md §5).

A bias-free ReLU network is a linear network with its own gates; a ReLN is a linear network whose
gates follow a *schedule*. This package holds the schedule type and the rules that make one:

* :class:`GateSchedule` and :class:`Reads` (what a schedule took from a trained ReLU run);
* :func:`decoupled_gates` and :func:`first_rise_epoch`: the early per-sample gates and the end of
  the early phase, from the task and the initial weights alone; :func:`item_rise_window`: when the
  linear phase's later modes rise (the compact rule's item phases);
* :class:`CompactRule`: the compact ReLN's schedule, a handful of phases of whole-context gates.
"""

from reln.gates.compact import CompactRule
from reln.gates.early import decoupled_gates, first_rise_epoch, item_rise_window
from reln.gates.schedule import GateSchedule, Reads, total_reads

__all__ = ["CompactRule", "GateSchedule", "Reads", "decoupled_gates", "first_rise_epoch", "item_rise_window", "total_reads"]
