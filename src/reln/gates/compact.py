"""The compact ReLN's gate schedule: a handful of phases of whole-context gates (docs/theory.md §5.3).

A ReLN in the paper's sense is a *small* gated linear network: a pathway open in every context and
a few pathways each open on a fixed set of contexts. The ReLU's units do not keep one set for the
whole run: they all serve the common structure first and leave a context later, carrying their
weights. The compact schedule says this with few numbers:

1. **Early phase**, ``0 <= t < t_1`` with ``t_1`` the rise of the largest mode
   (:func:`reln.gates.first_rise_epoch`): ``early_phases`` equal phases whose per-sample gates are
   those of the decoupled early flow at each phase's middle (:func:`reln.gates.decoupled_gates`),
   computed from the task and the initial weights. Nothing is read from the ReLU run.
2. **Context phase**, ``t_1 <= t < T``: ``late_phases`` phases, geometrically spaced
   (``t_1 (T / t_1)^{k / n}``: the ReLU's transitions are sigmoids whose timing scales as a log of
   the initial strength, so equal ratios of time are equal steps of progress). In each, a unit is
   open on the whole of every context where the ReLU's unit is active (above ``threshold`` of its
   peak, ``free_threshold`` for a network without the hold below, on at least one item) at the phase's geometric middle ``sqrt(t_k t_{k+1})``. Units with
   the same context set form one pathway; a unit that changes set carries its weights.

3. **Item phases**, derived (``field_phases``): at six or eight contexts the ReLU's units still
   serve every context through the rise of the linear phase's item modes, and turn off on items
   inside them. A late phase that starts inside the window of those rises
   (:func:`reln.gates.item_rise_window`, from the task and the init law) is gated per sample by the
   units' own flow in the predicted error (:mod:`reln.theory.field`: each seed's initial units in the
   error of the task-only prediction), as long as those units still serve every context (their
   common weight share at least ``serving_share`` at every late read up to the phase). Derived,
   not read. On tasks whose units leave whole contexts first (the presets) no phase qualifies.

In training (``slide``), a closed pair whose pre-activation the compact ReLN's own gradient would
push back down as it crosses its kink is held there, as a ReLU unit slides along its kink
(:func:`reln.gates.kinks.sliding_pairs`); that rule reads nothing from the ReLU run.

What it reads from the ReLU run: a context set per unit in each late phase that is not an item
phase (``units x K`` bits each). The spacing rule, the read point (middle) and the default counts are choices measured on
the presets (the report of `reln reproduce` shows them), not derived: ``early_phases + late_phases = 16`` is the budget.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from reln.errors import RelnError
from reln.gates.early import decoupled_gates, first_rise_epoch, item_rise_window
from reln.gates.schedule import GateSchedule, Reads
from reln.gates.kinks import kink_gates
from reln.tasks import Task


@dataclasses.dataclass(frozen=True)
class CompactRule:
    """The compact ReLN's rule: its gate schedule and how its closed units slide (module docstring,
    docs/theory.md §5.3).

    Attributes:
        early_phases: phases of derived per-sample gates before the first rise.
        late_phases: phases of whole-context gates read from the ReLU after it.
        threshold: a unit is open in a context where its pre-activation exceeds this fraction of
            its peak on at least one of the context's items (:func:`reln.gates.kinks.kink_gates`),
            in a schedule for a network that holds its sliding pairs (``slide``).
        free_threshold: the same, in a schedule for a network whose closed pairs are free (the
            theory's balanced flow, which has no pre-activations to hold, or ``slide = None``). A
            closed context without the hold lets a unit drift in it, so a unit barely active in a
            context is better counted open there; with the hold, better closed. 0.2 and 0.1 are
            fitted constants (scanned over 0.03, 0.1, 0.2, 0.3 and 0.5 on the context presets;
            ``threshold`` then 0.2 against 0.3 on two, six and eight contexts, 16 items and four
            mixed contexts, docs/theory.md §5.3), not derived.
        slide: the stiffness ``kappa`` with which training pulls a closed unit-sample pair that
            would slide on its kink back to it: the penalty ``(kappa / 2 lr) sum z_ji^2 / |x_i|^2``
            over the pairs of :func:`reln.gates.kinks.sliding_pairs` (closed, ``z > 0``, output
            raising the loss), which removes about ``kappa`` of each such ``z`` per step. The pairs
            come from the compact ReLN's own state at every step, so it reads nothing. ``None``:
            closed pairs are free.
            0.1 is a fitted constant (scanned over 0.005 to 0.5 on ``contexts-3`` and over 0.02 and
            0.1 on every preset), not derived.
        field_phases: gate the late phases inside :func:`reln.gates.item_rise_window` per sample by
            the field's units (module docstring, item phases) where those still serve every context;
            ``False``: every late phase is read. The window (after the second rise, until half of
            the later modes' gain has risen) was chosen by measurement on two to eight contexts,
            not derived.
        serving_share: the common weight share (:func:`reln.identification.analysis.selectivity`)
            at or above which the field's units count as serving every context. 0.96 is a choice
            between the shares measured where item phases apply and where units leave whole
            contexts first (docs/theory.md §5.3), not derived.

    >>> CompactRule().early_phases + CompactRule().late_phases
    16
    """

    early_phases: int = 4
    late_phases: int = 12
    threshold: float = 0.2
    free_threshold: float = 0.1
    slide: float | None = 0.1
    field_phases: bool = True
    serving_share: float = 0.96

    def __post_init__(self):
        for name in ("early_phases", "late_phases"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RelnError(f"{name} must be a positive integer, got {value!r}")
        for name in ("threshold", "free_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise RelnError(f"{name} must lie in [0, 1), got {value!r}")
        if not isinstance(self.field_phases, bool):
            raise RelnError(f"field_phases must be true or false, got {self.field_phases!r}")
        if isinstance(self.serving_share, bool) or not isinstance(self.serving_share, (int, float)) \
                or not 0 < self.serving_share <= 1:
            raise RelnError(f"serving_share must lie in (0, 1], got {self.serving_share!r}")
        if self.slide is not None and (isinstance(self.slide, bool) or not isinstance(self.slide, (int, float))
                                       or not 0 < self.slide <= 1):
            raise RelnError(f"slide must be a stiffness in (0, 1] (or left out: closed pairs free), got {self.slide!r}")

    def epochs(self, t_1: int, last: int, spacing: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(early_starts, late_starts, late_reads)``: the phase starts and the epochs read,
        multiples of the ReLU's snapshot ``spacing`` after ``t_1``.

        ``late_phases`` is a most: a run that ends before ``t_1`` has only early phases (over
        ``[0, last)``), and late phases that would round onto the same epoch are merged.

        >>> [a.tolist() for a in CompactRule(2, 3).epochs(300, 8000, 10)]
        [[0, 150], [300, 900, 2680], [520, 1550, 4630]]
        >>> [a.tolist() for a in CompactRule(2, 3).epochs(300, 200, 10)]
        [[0, 100], [], []]
        """
        if last < 1 or spacing < 1:
            raise RelnError(f"a schedule needs a run of at least one epoch and a positive spacing, got {last}, {spacing}")
        t_1 = int(min(max(t_1, 1), last))
        early = np.unique(np.linspace(0, t_1, self.early_phases + 1)[:-1].round().astype(int))
        bounds = np.geomspace(t_1, last, self.late_phases + 1) if t_1 < last else np.array([last])
        starts = (np.round(bounds[:-1] / spacing) * spacing).astype(int)
        reads = (np.round(np.sqrt(bounds[:-1] * bounds[1:]) / spacing) * spacing).astype(int)
        keep = (starts > early[-1]) & (starts < last)
        starts, reads = starts[keep], reads[keep]
        starts, first = np.unique(starts, return_index=True)
        reads = np.minimum(reads[first], (last // spacing) * spacing)
        return early, starts, reads

    def field_candidates(
        self, task: Task, width: int, init_std, *, lr: float, epochs: int, spacing: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(reads, candidates)``: the late phases' read epochs at which the field's units are
        consulted, and which of those phases may become item phases (their start inside
        :func:`reln.gates.item_rise_window`); both empty when none may (or ``field_phases`` is off),
        so that no field need be computed.

        >>> from reln.tasks import contextual_task
        >>> reads, candidates = CompactRule().field_candidates(contextual_task(8, 6), 700, 0.005 / 700, lr=1e-3,
        ...                                                    epochs=8001, spacing=10)
        >>> reads.tolist(), candidates.tolist()
        ([290, 390, 520, 700, 930], [3, 4])
        >>> CompactRule(field_phases=False).field_candidates(contextual_task(8, 6), 700, 0.005 / 700, lr=1e-3,
        ...                                                 epochs=8001, spacing=10)[1].size
        0
        """
        t_1 = min(first_rise_epoch(task, width, init_std, lr=lr), int(epochs))
        _, starts, reads = self.epochs(t_1, int(epochs), spacing)
        return self._window_candidates(task, width, init_std, lr, starts, reads)

    def _window_candidates(self, task: Task, width: int, init_std, lr: float, starts: np.ndarray,
                           reads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`field_candidates` from the late phases' ``starts`` and ``reads`` (:meth:`epochs`)."""
        none = np.array([], int)
        if not self.field_phases:
            return none, none
        t_a, t_half = item_rise_window(task, width, init_std, lr=lr)
        candidates = np.flatnonzero((starts > t_a) & (starts < t_half))
        if not candidates.size:
            return none, none
        return reads[:candidates[-1] + 1], candidates

    def item_phases(self, task: Task, field, reads: np.ndarray, candidates: np.ndarray) -> list[int]:
        """The late phases gated per sample by the field's units: the ``candidates`` up to the first
        read at which those units no longer serve every context (common weight share below
        ``serving_share``, identified at that checkpoint as the ReLU's are, docs/theory.md §3.2).

        Args:
            field: ``(snapshot_epochs, pre (snapshots, units, P), unit_weight (snapshots, units))`` of
                one seed's field units.
            reads, candidates: :meth:`field_candidates`.
        """
        from reln.identification.analysis import selectivity
        from reln.identification.identify import identify

        epochs, pre, unit_weight = (np.asarray(a) for a in field)
        index = {int(t): k for k, t in enumerate(epochs)}
        chosen = []
        for k, t in enumerate(reads):
            if int(t) not in index:
                raise RelnError(f"the field's units have no checkpoint at epoch {int(t)}")
            i = index[int(t)]
            # identified as a ReLU checkpoint is, at the identification's default thresholds
            found = identify(task, np.maximum(pre[i:i + 1], 0), unit_weight[i:i + 1], epochs[i:i + 1])
            if selectivity(found, task.n_contexts)["common"] < self.serving_share:
                break
            if k in candidates:
                chosen.append(k)
        return chosen

    def schedule(
        self, task: Task, pre: np.ndarray, snapshot_epochs: np.ndarray, w_in: np.ndarray, w_out: np.ndarray,
        *, lr: float, init_std, epochs: int, held: bool | None = None, field=None,
    ) -> GateSchedule:
        """The compact schedule of one ReLU seed.

        Args:
            pre: ``(snapshots, units, P)`` the ReLU's pre-activations at its checkpoints.
            snapshot_epochs: their epochs (evenly spaced).
            w_in, w_out: the ReLU's initial weights (the early gates are derived from them).
            lr, init_std: the ReLU's learning rate and init law (the first rise, ``t_1``).
            epochs: the run's length.
            held: whether the network trained on it holds its sliding pairs (``threshold``) or
                not (``free_threshold``); by default, whether ``slide`` is set.
            field: this seed's field units (:meth:`item_phases`), needed where
                :meth:`field_candidates` names phases; ``None``: every late phase is read.
        """
        held = self.slide is not None if held is None else held
        threshold = self.threshold if held else self.free_threshold
        snapshot_epochs = np.asarray(snapshot_epochs)
        spacing = int(snapshot_epochs[1] - snapshot_epochs[0]) if len(snapshot_epochs) > 1 else 1
        t_1 = min(first_rise_epoch(task, w_in.shape[0], init_std, lr=lr), int(epochs))
        early, late, reads = self.epochs(t_1, int(epochs), spacing)
        middles = np.round((early + np.append(early[1:], t_1)) / 2).astype(int)
        early_gates = decoupled_gates(task, w_in, w_out, lr=lr, epochs=middles)
        index = {int(t): k for k, t in enumerate(snapshot_epochs)}
        missing = [int(t) for t in reads if int(t) not in index]
        if missing:
            raise RelnError(f"the compact ReLN reads ReLU snapshots at epochs {missing[:3]} that the run lacks")
        onehot = task.context[None, :] == np.arange(task.n_contexts)[:, None]  # (K, P)
        field_reads, candidates = self._window_candidates(task, w_in.shape[0], init_std, lr, late, reads)
        if candidates.size and field is None:
            raise RelnError("this task's compact schedule has item phases: pass the field's units (field=...)")
        derived = self.item_phases(task, field, field_reads, candidates) if candidates.size else []
        field_index = {int(t): k for k, t in enumerate(np.asarray(field[0]))} if derived else {}
        late_gates = [np.zeros((0, *early_gates.shape[1:]))]
        for k, t in enumerate(reads):
            if k in derived:  # the field's units' own gates (kink_gates at 0: silent units off)
                on, _ = kink_gates(np.asarray(field[1][field_index[int(t)]]), 0.0)
                late_gates.append(on[None].astype(np.float64))
                continue
            on, _ = kink_gates(np.asarray(pre[index[int(t)]]), threshold)
            in_context = (on[:, None, :] & onehot[None]).any(axis=2)  # (units, K)
            late_gates.append(in_context[:, task.context][None].astype(np.float64))
        gates = np.concatenate([early_gates, *late_gates])
        read = np.ones(len(early) + len(late), bool)
        read[:len(early)] = False
        read[len(early) + np.asarray(derived, int)] = False
        return GateSchedule(
            starts=np.concatenate([early, late]),
            gates=(gates,),
            pins=(np.zeros(gates.shape, bool),),
            reads=Reads(
                gate_phases=len(early) + len(late), read_phases=int(read.sum()), gate_level="context",
                numbers=int(read.sum()) * w_in.shape[0] * task.n_contexts, initial_weights=True,
            ),
            read=read,
        )
