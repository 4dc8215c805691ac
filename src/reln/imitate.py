"""Build the ReLNs that imitate a ReLU network from its identification and its checkpoints (docs/theory.md §3, §5).

All start from the ReLU's own units (a pathway's hidden units are the ReLU units assigned to it,
with their initial input rows and output columns) and train by plain gradient descent on the total
loss:

* the **compact ReLN** (``gating = "compact"``, the default): a handful of phases of whole-context
  gates, the first ones derived from the task and the initial weights
  (:func:`compact_schedules`, :class:`reln.gates.CompactRule`, docs/theory.md §5.3);
* :func:`imitating_reln` (``gating = "fixed"``): one pathway per identified context set, gated on
  those contexts for the whole run;
* the **replay** (``gating = "switching"``, model ``replay``): every unit gated per sample as the
  ReLU's checkpoints say, with the pairs that slide on a kink held (:func:`sliding_schedule`; the
  band rule :func:`switching_schedule` in deeper networks). A bias-free ReLU network is a linear
  network with its own gates, so the replay checks that identity and the kink mechanism; it is
  not an explanation (docs/theory.md §3.1, §5.4).

Inputs (claim 8, checked on the data rather than assumed): a pathway reads the context inputs
only if they correlate with what it has to fit. The always-on pathway fits ``Y``; a pathway gated
on a subset of contexts fits what the best linear map leaves, ``R = Y - Y X^+ X``. ``R`` is
double-centred (docs/theory.md §4), so its sum over the items of each context is zero and it has no
correlation with a context one-hot on any union of whole contexts: such pathways read the items
only. :func:`context_correlation` reports the number. (The switching ReLN's units read every input,
as the ReLU's do: their gates are not fixed to whole contexts early on.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.gdln import GDLN, Pathway, build_gdln
from reln.fit import fit_gdln
from reln.identify import Identification, identify
from reln.gates import CompactRule, GateSchedule
from reln.kinks import kink_gates
from reln.tasks import Task
from reln.train import Trajectory

CORRELATION_TOLERANCE = 1e-8


def context_correlation(task: Task, gate: np.ndarray) -> float:
    """Normalised correlation ``||T G C^T|| / (||T G|| ||C G||)`` of a pathway's target with the
    context inputs ``C`` on its samples (``G = diag(gate)``).

    The target ``T`` is ``Y`` for a pathway open on every sample, the linear residual
    ``Y - Y X^+ X`` otherwise.
    """
    gate = np.asarray(gate, dtype=float)
    if np.all(gate == 1):
        target = task.Y
    else:
        target = task.Y - task.Y @ np.linalg.pinv(task.X) @ task.X
    contexts = task.X[~task.item_inputs]
    numerator = np.linalg.norm((target * gate) @ contexts.T)
    denominator = np.linalg.norm(target * gate) * np.linalg.norm(contexts * gate)
    return float(numerator / denominator) if denominator > 0 else 0.0


def reln_structure(task: Task, identifications: Sequence[Identification]) -> tuple[list[tuple[int, ...]], list[str]]:
    """The context sets of the ReLN (union over seeds, by mean weight share) and their inputs."""
    shares: dict[tuple[int, ...], float] = {}
    for identification in identifications:
        for pathway in identification.pathways:
            shares[pathway.contexts] = shares.get(pathway.contexts, 0.0) + pathway.weight_share
    context_sets = sorted(shares, key=lambda c: (-shares[c], c))
    inputs = [
        "all" if context_correlation(task, task.context_mask(c)) > CORRELATION_TOLERANCE else "items"
        for c in context_sets
    ]
    return context_sets, inputs


def imitating_reln(
    task: Task,
    identifications: Sequence[Identification],
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *,
    init_scale: float = 1.0,
) -> tuple[GDLN, list[np.ndarray]]:
    """The ReLN of a one-hidden-layer ReLU network, with its initial weights per seed.

    Args:
        task: the task.
        identifications: one per seed, from :func:`reln.identify.identify` on layer 0.
        relu_initial_weights: per seed, the ReLU's initial ``[W_in (h, n_in), W_out (n_out, h)]``.
        init_scale: factor on the copied initial weights (1: the ReLU's own).

    Returns:
        ``(gdln, params)``: the GDLN (pathway widths are the largest unit count over seeds; a seed
        with fewer units has zero padding, which stays zero) and its weights with seeds on axis 0.
    """
    context_sets, inputs = reln_structure(task, identifications)
    widths = [
        max(1, max((len(p.units) for i in identifications for p in i.pathways if p.contexts == c), default=0))
        for c in context_sets
    ]
    pathways = [
        Pathway(contexts=c, inputs=inp, hidden=(w,), init_std=0.0, name="{" + ",".join(str(k + 1) for k in c) + "}")
        for c, inp, w in zip(context_sets, inputs, widths)
    ]
    gdln = build_gdln(pathways, task)
    n_paths, width = len(pathways), max(widths)
    W0 = np.zeros((len(identifications), n_paths, width, task.n_in))
    W1 = np.zeros((len(identifications), n_paths, task.n_out, width))
    for s, (identification, (w_in, w_out)) in enumerate(zip(identifications, relu_initial_weights)):
        for pathway in identification.pathways:
            p = context_sets.index(pathway.contexts)
            units = pathway.units
            W0[s, p, : len(units)] = init_scale * w_in[units] * gdln.input_masks[p]
            W1[s, p, :, : len(units)] = init_scale * w_out[:, units]
    return gdln, [W0, W1]


def contexts_on(task: Task, on: np.ndarray) -> np.ndarray:
    """``(units, K)`` bool: the contexts in which each unit is on for at least one item."""
    return np.stack([on[:, task.context == c].any(axis=1) for c in range(task.n_contexts)], axis=1)


def checkpoint_positions(snapshot_epochs: np.ndarray, wanted: Sequence[int], every: int) -> list[int]:
    """The positions of the epochs ``wanted`` among a ReLU run's snapshot epochs, or a
    :class:`RelnError` naming the first missing ones and the ``snapshot_every`` that would have them."""
    index = {int(t): k for k, t in enumerate(np.asarray(snapshot_epochs))}
    missing = [t for t in wanted if t not in index]
    if missing:
        raise RelnError(
            f"the switching ReLN reads ReLU snapshots at epochs {missing[:3]}... that the run does "
            f"not have; train the ReLU with snapshot_every = {every}"
        )
    return [index[t] for t in wanted]


def switching_schedule(
    task: Task,
    pre: np.ndarray,
    snapshot_epochs: np.ndarray,
    *,
    fine_until: int = 100,
    fine_every: int = 10,
    regroup_every: int = 100,
    gate_threshold: float = 0.1,
    silent_threshold: float = 1e-3,
    gate_level: str = "sample",
    pin_kinks: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit gates (and pinned unit-sample pairs) over time, read from a ReLU run's checkpoints.

    * ``t < fine_until``: every ``fine_every`` epochs, each unit's own per-sample gate
      ``1[w_j x > 0]``. Early on a ReLU unit is on for about half the samples (0.51 at t = 0,
      0.91 at t = 200 on the three-context task); any gate held fixed from the start learns the
      first drop too fast (all on) or too slow (the initial gate).
    * later, every ``regroup_every`` epochs, :func:`kink_gates` of the checkpoint: a unit is on
      where its pre-activation exceeds ``gate_threshold`` of its scale, and, with ``pin_kinks``,
      pinned where it lies within that band of zero (off, its pre-activation held until the next
      checkpoint). With ``gate_level = "context"`` it is instead on in the whole of every context
      where it is on for some item (pinned only where that leaves it off), the ReLN of whole
      context sets; units switch from the common group to an all-but-one group over epochs
      ~1000-6000.

    Args:
        pre: ``(snapshots, units, P)`` the ReLU's pre-activations at its checkpoints.
        snapshot_epochs: the epochs of the snapshots; they must include every epoch the schedule
            reads (snapshot the ReLU every ``fine_every`` epochs, or every ``gcd`` of the two).

    Returns:
        ``(phase_starts (n_phases,), phase_gates (n_phases, units, P), pinned (n_phases, units, P) bool)``.
    """
    if gate_level not in ("context", "sample"):
        raise RelnError(f"gate_level must be 'context' or 'sample', got '{gate_level}'")
    last = int(snapshot_epochs[-1])
    wanted = list(range(0, min(fine_until, last), fine_every)) + list(range(fine_until, last, regroup_every))
    phases, pins = [], []
    for t, k in zip(wanted, checkpoint_positions(snapshot_epochs, wanted, fine_every)):
        z = np.asarray(pre[k])
        if t < fine_until:
            on, pinned = z > 0, np.zeros(z.shape, bool)
        else:
            on, pinned = kink_gates(z, gate_threshold, silent_threshold)
            if gate_level == "context":
                on = contexts_on(task, on)[:, task.context]
                pinned &= ~on
        phases.append(on.astype(np.float64))
        pins.append(pinned & pin_kinks)
    return np.array(wanted), np.stack(phases), np.stack(pins)


def sliding_schedule(
    pre: np.ndarray,
    snapshot_epochs: np.ndarray,
    *,
    every: int = 10,
    slide_epochs: int = 200,
    gate_threshold: float = 0.1,
    silent_threshold: float = 1e-3,
    pin_kinks: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit gates that follow the ReLU's own, with the pairs that *slide* on a kink held there.

    Every ``every`` epochs each unit is gated by the ReLU's own sign, ``1[w_j x > 0]``, per
    sample. A unit-sample pair whose pre-activation has stayed within ``gate_threshold`` of the
    unit's peak of zero at every checkpoint for ``slide_epochs`` is sliding on its kink (the
    Filippov mode of :mod:`reln.kinks`): it is off and *pinned* (its pre-activation held) until it
    leaves the band. A pair that only passes through zero is followed, not pinned. Units whose
    peak is below ``silent_threshold`` of the layer's are never pinned. Without ``pin_kinks``
    sliding pairs are off and not held.

    Unlike :func:`switching_schedule` there is no switch epoch and no regrouping interval: the
    same rule holds from ``t = 0`` (before the first drop no pair stays in the band for long).
    Measured on one hidden layer (seeds 0, 1, 2, max / mean gap to the ReLU; the band rule of
    :func:`switching_schedule` in brackets): ``contexts-diff`` .010-.012 / .0021-.0025
    (.0096-.014 / .0019-.0029); 2 contexts .019-.026 / .0028-.0036 (.011-.017 / .0029-.0056);
    16 items .011-.013 / .0022-.0030 (.023-.025 / .0042-.0054); 8 contexts .028-.031 /
    .0056-.0059 (.039-.044 / .0087-.0097). With ``slide_epochs`` 100 / 150 / 300 / 400 the
    largest gaps over nine configurations move both ways (8 contexts wants longer, 16 items with
    hierarchies shorter: .037 at 300, .047 at 400); 150-200 keeps every one within issue 3's bounds.
    On two hidden layers it fails (``depth`` seed 0: .22 / .096, the ReLN far ahead): deeper
    layers keep the band rule (:func:`reln.unit_gated.fit_switching_network`, ``kink_rule``).

    Args:
        pre: ``(snapshots, units, P)`` the ReLU's pre-activations at its checkpoints.
        snapshot_epochs: their epochs; every multiple of ``every`` must be among them.

    Returns:
        ``(phase_starts, phase_gates (n_phases, units, P), pinned (n_phases, units, P) bool)``.
    """
    if every < 1 or slide_epochs < 0 or slide_epochs % every:
        raise RelnError(f"slide_epochs ({slide_epochs}) must be a non-negative multiple of the gate spacing ({every})")
    wanted = list(range(0, int(snapshot_epochs[-1]), every))
    needed = max(slide_epochs // every, 1)  # consecutive checkpoints in the band that make a pair sliding
    in_band_for = np.zeros(pre.shape[1:], np.int32)
    gates, pins = [], []
    for k in checkpoint_positions(snapshot_epochs, wanted, every):
        z = np.asarray(pre[k])
        _, in_band = kink_gates(z, gate_threshold, silent_threshold)
        in_band_for = np.where(in_band, in_band_for + 1, 0)
        sliding = in_band_for >= needed
        gates.append(((z > 0) & ~sliding).astype(np.float64))
        pins.append(sliding & pin_kinks)
    return np.array(wanted), np.stack(gates), np.stack(pins)


def switching_reln(
    task: Task,
    phase_starts: np.ndarray,
    phase_gates: np.ndarray,
    relu_initial_weights: Sequence[np.ndarray],
) -> tuple[GDLN, list[np.ndarray]]:
    """A GDLN with one width-1 pathway per ReLU unit whose gates follow ``phase_gates``.

    At any time, units with equal gates form one pathway of a ReLN (common, all-but-one, ...):
    this is the ReLN "whose gates may change at epochs the identification finds". The weights
    start as the ReLU's own, reading every input, trained on the total loss.

    Returns:
        ``(gdln, [W0 (1, units, 1, n_in), W1 (1, units, n_out, 1)])``: the weights of one seed.
    """
    w_in, w_out = relu_initial_weights
    units = w_in.shape[0]
    pathways = [Pathway(gate=phase_gates[-1][j], hidden=(1,), init_std=0.0, name=f"unit {j}") for j in range(units)]
    gdln = dataclasses.replace(
        build_gdln(pathways, task),
        phase_starts=np.asarray(phase_starts),
        phase_gates=np.asarray(phase_gates),
    )
    return gdln, [w_in[None, :, None, :], w_out.T[None, :, :, None]]


def first_drop_epoch(relu_loss: np.ndarray, snapshot_epochs: np.ndarray, below: float = 0.75) -> int:
    """When the switching ReLN stops following per-sample gates: the first checkpoint at which the
    loss of every ReLU seed has fallen below ``below`` (a quarter under) its initial value.

    Before its first drop a ReLU unit has barely grown and is on for a random half of the samples,
    so the set of contexts it is on in means nothing yet; during the drop the units grow and their
    gates settle. A quarter under the start lies inside the first drop at every depth here: one
    hidden layer falls from 1 toward the linear floor, two hidden layers (``depth``) from 96 to a
    plateau at 66, where a quarter down is its middle.

    Measured (seeds 0, 1, 2; max gap to the ReLU; at half the start instead, the earlier rule, in
    brackets): switching ReLN contexts-diff .0096-.0137 (.0103-.0134), contexts-3 .0067-.0086
    (.0061-.0085), contexts-4 .012-.015 (.013-.016), contexts-5 .011-.023 (.012-.016), 2 contexts
    .011-.017 (.011-.018); theory contexts-diff .012-.017 (.011), contexts-3 .014-.017
    (.013-.015), contexts-4 .016-.018 (.021-.024), contexts-5 .017-.021 (.023-.027), 2 contexts
    .033-.039 (.051-.057). On ``depth`` (two hidden layers, seed 0) switching at epoch 100
    instead delays the ReLN's first drop by ~340 epochs (max gap .31); at 5200 or 6000 it matches
    the ReLU's to 1 epoch. Switching at epoch 100 on one hidden layer: contexts-diff .0077-.0092,
    6 contexts .059-.065 (whole-context gates, nothing pinned); following per-sample gates long
    after the drop is worse (contexts-3 mean gap .013 instead of .0045-.0057): the ReLN's weights
    drift from the ReLU's and the ReLU's per-sample gates stop fitting them.

    Which of the two wins depends on the task (README, "The identified ReLN": 0.75, 0.5, 0.35,
    0.25 on nine configurations): with 4 to 8 contexts of 8 items 0.25 halves the gaps
    (8 contexts max .006 against .04); with 2 contexts or 16 items it triples them (16 items .14
    against .018-.042). A quarter down keeps every configuration within .05 / .01 and also serves
    deep networks; what predicts a task's preference is not known (README). One hidden layer no
    longer needs this choice: :func:`sliding_schedule` follows per-sample gates throughout and
    holds the sliding pairs, within the bounds on every row. The band rule (deep networks) and the
    switching theory (:mod:`reln.theory.switching`) still switch here.
    """
    below_level = [np.flatnonzero(loss < below * loss[0]) for loss in relu_loss]
    last = int(snapshot_epochs[-1])
    epoch = max((int(b[0]) if b.size else last) for b in below_level)
    later = snapshot_epochs[snapshot_epochs >= epoch]
    return int(later[0]) if later.size else last


def fit_imitating_reln(
    task: Task,
    relu: Trajectory,
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *,
    gating: str = "switching",
    gate_threshold: float = 0.1,
    gate_level: str = "sample",
    pin_kinks: bool = True,
    kink_stiffness: float = 0.02,
    fine_until: int | None = None,
    regroup_every: int | None = None,
    kink_rule: str = "auto",
    slide_epochs: int = 200,
    identify_threshold: float = 1e-3,
    min_unit_weight: float = 1e-2,
    lr: float = 1e-3,
    x64: bool = False,
    progress=None,
    schedules: Sequence[GateSchedule] | None = None,
) -> tuple[Trajectory, list[Identification], dict]:
    """Identify the ReLN of every ReLU seed, build it from the ReLU's units and train it.

    Args:
        relu: the ReLU trajectory with ``hidden_l``, ``gates_l``, ``unit_weight_l`` snapshots
            (every 10 epochs for ``gating="switching"``). The identification
            reads the first hidden layer; the switching ReLN gates every layer
            (:mod:`reln.unit_gated`); ``"fixed"`` needs one hidden layer.
        relu_initial_weights: per seed, the ReLU's initial ``[W_in, W_out]``.
        gating: ``"compact"`` (the compact ReLN: ``schedules``, one per seed, from
            :func:`compact_schedules`), ``"switching"`` (the replay of the ReLU's own
            gates, :func:`switching_schedule`) or ``"fixed"`` (:func:`imitating_reln`).
        fine_until: the epoch until which the switching ReLN follows each unit's per-sample gates;
            by default :func:`first_drop_epoch` of the ReLU run.
        regroup_every: epochs between gate readings after ``fine_until`` (a multiple of the
            ReLU's snapshot spacing; by default 100, see :func:`reln.unit_gated.fit_switching_network`).
        kink_rule, slide_epochs: :func:`sliding_schedule` (``"sliding"``, the default for one
            hidden layer gated per sample), the band rule of :func:`switching_schedule`
            (``"band"``, the default deeper; ``fine_until`` and ``regroup_every`` are its), or
            ``"auto"`` (:func:`reln.unit_gated.layer_kink_rules`).

    Returns:
        ``(trajectory, identifications, description)``: the ReLN's training over all seeds, the
        identification of each seed (at the last checkpoint), and what was built.
    """
    n_seeds, epochs = relu.loss.shape[0], relu.loss.shape[1] - 1
    identifications = [
        identify(
            task, relu.snapshots["hidden_0"][s], relu.snapshots["unit_weight_0"][s], relu.snapshot_epochs,
            activity_threshold=identify_threshold, min_unit_weight=min_unit_weight,
        )
        for s in range(n_seeds)
    ]
    options = dict(lr=lr, epochs=epochs, x64=x64, seeds=tuple(range(n_seeds)))
    if gating == "fixed":
        gdln, params = imitating_reln(task, identifications, relu_initial_weights)
        trajectory = fit_gdln(task, gdln, init_params=params, progress=progress, **options)
        return trajectory, identifications, {"gating": "fixed", "inputs": list(gdln.inputs)}
    if gating == "compact":
        if schedules is None:
            raise RelnError("gating = 'compact' trains given schedules: pass compact_schedules(...)")
        return _fit_compact(task, relu, relu_initial_weights, identifications, schedules, lr=lr, x64=x64,
                            progress=progress)
    if gating != "switching":
        raise RelnError(f"gating must be 'compact', 'switching' or 'fixed', got '{gating}'")
    if gate_level not in ("context", "sample"):
        raise RelnError(f"gate_level must be 'context' or 'sample', got '{gate_level}'")
    # The switching ReLN of every depth is a unit-gated linear network; its module builds on
    # switching_schedule above, hence the import here. With one hidden layer it trains exactly
    # (to the last bit) the GDLN of switching_reln, with the seeds on parallel threads.
    from reln.unit_gated import fit_switching_network

    if fine_until is None:
        fine_until = first_drop_epoch(relu.loss, relu.snapshot_epochs)
    trajectory, description = fit_switching_network(
        task, relu, relu_initial_weights, lr=lr, gate_threshold=gate_threshold, gate_level=gate_level,
        pin_kinks=pin_kinks, kink_stiffness=kink_stiffness, fine_until=fine_until, regroup_every=regroup_every,
        kink_rule=kink_rule, slide_epochs=slide_epochs, x64=x64, progress=progress,
    )
    return trajectory, identifications, description


def compact_schedules(
    task: Task, relu: Trajectory, relu_initial_weights: Sequence[Sequence[np.ndarray]], rule: CompactRule, *,
    init_std, lr: float,
) -> list[GateSchedule]:
    """The compact ReLN's schedule of every ReLU seed (:class:`reln.gates.CompactRule`, docs/theory.md §5.3).

    Args:
        relu: a one-hidden-layer ReLU trajectory with ``pre_0`` snapshots.
        relu_initial_weights: per seed ``[W_in, W_out]`` (the early gates are derived from them).
        init_std, lr: the ReLU's init law and learning rate.
    """
    if sum(k.startswith("pre_") for k in relu.snapshots) != 1:
        raise RelnError("the compact ReLN describes one hidden layer; use the replay for deeper networks")
    epochs = relu.loss.shape[1] - 1
    return [
        rule.schedule(task, relu.snapshots["pre_0"][s], relu.snapshot_epochs, w_in, w_out,
                      lr=lr, init_std=init_std, epochs=epochs)
        for s, (w_in, w_out) in enumerate(relu_initial_weights)
    ]


def _fit_compact(task, relu, relu_initial_weights, identifications, schedules, *, lr, x64, progress):
    """Train the compact ReLN of every seed from its schedule and describe it."""
    from reln.unit_gated import fit_gate_schedules

    epochs = relu.loss.shape[1] - 1
    trajectory, info = fit_gate_schedules(
        task, [(s.starts, s.gates, s.pins) for s in schedules], relu_initial_weights, lr=lr, epochs=epochs,
        x64=x64, progress=progress,
    )
    bits = info["bits"]
    reads = schedules[0].reads.as_dict() | {"numbers": sum(s.reads.numbers for s in schedules)}
    return trajectory, identifications, {
        "gating": "compact", "gate_phases": schedules[0].n_phases, "reads_from_relu": reads,
        "phase_starts": [int(t) for t in schedules[0].starts],
        "pathway_sets": [[int(c) for c in np.flatnonzero(code & bits)] for code in info["pathway_sets"]],
        "final_gates": schedules[0].gates[0][-1],
    }
