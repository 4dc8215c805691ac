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
from reln.models.gdln import GDLN, Pathway, build_gdln
from reln.training.fit import fit_gdln
from reln.identification.identify import Identification, identify
from reln.gates import CompactRule, GateSchedule, total_reads
from reln.gates.replay import (  # noqa: F401  (re-exported: the replay's rules)
    checkpoint_positions, contexts_on, first_drop_epoch, sliding_schedule, switching_schedule,
)
from reln.tasks import Task
from reln.training.train import Trajectory
from reln.relns.unit_gated import fit_gate_schedules, fit_switching_network

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
        identifications: one per seed, from :func:`reln.identification.identify.identify` on layer 0.
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
            (:mod:`reln.relns.unit_gated`); ``"fixed"`` needs one hidden layer.
        relu_initial_weights: per seed, the ReLU's initial ``[W_in, W_out]``.
        gating: ``"compact"`` (the compact ReLN: ``schedules``, one per seed, from
            :func:`compact_schedules`), ``"switching"`` (the replay of the ReLU's own
            gates, :func:`switching_schedule`) or ``"fixed"`` (:func:`imitating_reln`).
        fine_until: the epoch until which the switching ReLN follows each unit's per-sample gates;
            by default :func:`first_drop_epoch` of the ReLU run.
        regroup_every: epochs between gate readings after ``fine_until`` (a multiple of the
            ReLU's snapshot spacing; by default 100, see :func:`reln.relns.unit_gated.fit_switching_network`).
        kink_rule, slide_epochs: :func:`sliding_schedule` (``"sliding"``, the default for one
            hidden layer gated per sample), the band rule of :func:`switching_schedule`
            (``"band"``, the default deeper; ``fine_until`` and ``regroup_every`` are its), or
            ``"auto"`` (:func:`reln.relns.unit_gated.layer_kink_rules`).

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
    # The replay of every depth is a unit-gated linear network (reln.relns.unit_gated). With one hidden
    # layer it trains exactly (to the last bit) the GDLN of switching_reln, seeds on parallel threads.
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
    epochs = relu.loss.shape[1] - 1
    trajectory, info = fit_gate_schedules(
        task, [(s.starts, s.gates, s.pins) for s in schedules], relu_initial_weights, lr=lr, epochs=epochs,
        x64=x64, progress=progress,
    )
    bits = info["bits"]
    reads = total_reads(schedules)
    return trajectory, identifications, {
        "phases": phase_pathways(task, schedules),
        "gating": "compact", "gate_phases": schedules[0].n_phases, "reads_from_relu": reads,
        "phase_starts": [int(t) for t in schedules[0].starts],
        "pathway_sets": [[int(c) for c in np.flatnonzero(code & bits)] for code in info["pathway_sets"]],
        "final_gates": schedules[0].gates[0][-1],
    }


def phase_pathways(task: Task, schedules: Sequence[GateSchedule]) -> list[dict]:
    """The compact ReLN's pathways in each phase: per phase its start, whether its gates were read
    from the ReLU run, and per seed the number of units in each context set (a unit is in the set
    of contexts it is open in, on at least one item; in the derived early phases its gates are per
    sample). Context sets are named 1-based, the all-context set first; seeds in schedule order.
    """
    K = task.n_contexts
    onehot = task.context[None, :] == np.arange(K)[:, None]
    first_read = schedules[0].n_phases - schedules[0].reads.read_phases
    phases = []
    for k, start in enumerate(schedules[0].starts):
        counts = []
        for schedule in schedules:
            sets = (schedule.gates[0][k][:, None, :] > 0) & onehot[None]  # (units, K, P)
            codes = sets.any(axis=2)
            named: dict[str, int] = {}
            for row in codes[codes.any(axis=1)]:
                name = "{" + ",".join(str(c + 1) for c in np.flatnonzero(row)) + "}"
                named[name] = named.get(name, 0) + 1
            counts.append(dict(sorted(named.items(), key=lambda item: (-item[0].count(","), item[0]))))
        phases.append({"start": int(start), "read": k >= first_read, "units_per_seed": counts})
    return phases
