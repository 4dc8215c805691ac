"""Build the ReLNs that imitate a ReLU network from its identification and its checkpoints (docs/theory.md §3, §5).

All start from the ReLU's own units (a pathway's hidden units are the ReLU units assigned to it,
with their initial input rows and output columns) and train by plain gradient descent on the total
loss:

* the **compact ReLN** (:func:`fit_compact_reln`, ``[reln] gating = "compact"``, the default): a
  handful of phases of whole-context gates, the first ones derived from the task and the initial
  weights (:func:`compact_schedules`, :class:`reln.gates.CompactRule`, docs/theory.md §5.3);
* :func:`fit_fixed_reln` (``gating = "fixed"``, :func:`imitating_reln`): one pathway per
  identified context set, gated on those contexts for the whole run;
* the **replay** (:func:`fit_replay`, model ``replay``): every unit gated per sample as the
  ReLU's checkpoints say, with the pairs that slide on a kink held (:func:`sliding_schedule`; the
  band rule :func:`switching_schedule` in deeper networks). A bias-free ReLU network is a linear
  network with its own gates, so the replay checks that identity and the kink mechanism; it is
  not an explanation (docs/theory.md §3.1, §5.4).

Inputs (claim 8, checked on the data rather than assumed): a pathway reads the context inputs
only if they correlate with what it has to fit. The always-on pathway fits ``Y``; a pathway gated
on a subset of contexts fits what the best linear map leaves, ``R = Y - Y X^+ X``. ``R`` is
double-centred (docs/theory.md §4), so its sum over the items of each context is zero and it has no
correlation with a context one-hot on any union of whole contexts: such pathways read the items
only. :func:`context_correlation` reports the number. (The compact ReLN's and the replay's units read every input,
as the ReLU's do: their gates are not fixed to whole contexts early on.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reln.errors import RelnError
from reln.models.pathways import GDLN, Pathway, build_gdln
from reln.training.fit import fit_gdln
from reln.identification.identify import Identification
from reln.gates import CompactRule, GateSchedule, total_reads
from reln.gates.replay import ReplayOptions
from reln.tasks import Task
from reln.training.trajectory import Trajectory
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
) -> tuple[GDLN, list[np.ndarray]]:
    """The ReLN of a one-hidden-layer ReLU network, with its initial weights per seed.

    Args:
        task: the task.
        identifications: one per seed, from :func:`reln.identification.identify.identify` on layer 0.
        relu_initial_weights: per seed, the ReLU's initial ``[W_in (h, n_in), W_out (n_out, h)]``.

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
            W0[s, p, : len(units)] = w_in[units] * gdln.input_masks[p]
            W1[s, p, :, : len(units)] = w_out[:, units]
    return gdln, [W0, W1]


def fit_fixed_reln(
    task: Task, identifications: Sequence[Identification], relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *, lr: float, epochs: int, x64: bool = False, progress=None, batch_size: int | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[Trajectory, dict]:
    """Train the ReLN of fixed gates (:func:`imitating_reln`: each unit open on its final
    identified context set from ``t = 0``) from the ReLU's own initial units, every seed, as the
    ReLU was trained (with ``batch_size``, on its mini-batches in the order of each run seed in ``seeds``).

    Returns:
        ``(trajectory, description)``: the training over all seeds, and what was built; its
        ``final_gates`` are the pathways' gates ``(p, P)``, the same in every phase.
    """
    gdln, params = imitating_reln(task, identifications, relu_initial_weights)
    seeds = tuple(range(len(identifications))) if seeds is None else tuple(seeds)
    trajectory = fit_gdln(task, gdln, init_params=params, progress=progress, lr=lr, epochs=epochs, x64=x64,
                          seeds=seeds, batch_size=batch_size)
    return trajectory, {"gating": "fixed", "inputs": list(gdln.inputs), "final_gates": gdln.gates}


def fit_replay(
    task: Task, relu: Trajectory, relu_initial_weights: Sequence[Sequence[np.ndarray]], options: ReplayOptions,
    *, lr: float, x64: bool = False, progress=None, batch_size: int | None = None, seeds: Sequence[int] | None = None,
) -> tuple[Trajectory, dict]:
    """Replay the ReLU's own gates (:class:`reln.gates.replay.ReplayOptions`, docs/theory.md §5.4):
    the unit-gated linear network of every seed, every hidden layer gated as its checkpoints say,
    trained as the ReLU was (with ``batch_size``, on its mini-batches in the order of each run seed).

    With one hidden layer it trains exactly (to the last bit) a GDLN of one width-1 pathway per
    unit; seeds run on parallel threads (:func:`reln.relns.unit_gated.fit_switching_network`).

    Returns:
        ``(trajectory, description)``; the description's ``final_gates`` are seed 0's gates of every
        hidden layer in the last phase.
    """
    return fit_switching_network(task, relu, relu_initial_weights, options, lr=lr, x64=x64, progress=progress,
                                 batch_size=batch_size, seeds=seeds)


def compact_field(
    task: Task, relu_initial_weights: Sequence[Sequence[np.ndarray]], rule: CompactRule, *, init_std, lr: float,
    epochs: int, spacing: int = 10, x64: bool = False, batch_size: int | None = None, seeds: Sequence[int] | None = None,
    substeps: int = 1,
) -> Trajectory | None:
    """The field's units the compact rule's item phases need (:meth:`reln.gates.CompactRule.field_candidates`):
    every seed's initial units in the error of the task-only prediction (docs/theory.md §5.8,
    :func:`reln.theory.field.field_units`), run only up to the last epoch the rule consults; ``None``
    where the rule has no candidate phase on this task. Nothing is read from a ReLU run. With
    ``batch_size`` the units step on the run seeds' mini-batches and the predicted error takes
    ``substeps`` steps an epoch (``TrainConfig.epoch_updates``), as the ReLU does.

    >>> from reln.gates import CompactRule
    >>> from reln.tasks import contextual_task
    >>> from reln.models.init import relu_initial_weights
    >>> task = contextual_task(8, 6, "hierarchy")
    >>> initial = relu_initial_weights(task, (700,), 0.005 / 700, (0,))
    >>> field = compact_field(task, initial, CompactRule(), init_std=0.005 / 700, lr=1e-3, epochs=8001)
    >>> int(field.snapshot_epochs[-1]), field.layers[0].pre.shape[2:]  # to the last read it consults
    (930, (700, 48))
    >>> compact_field(task, initial, CompactRule(field_phases=False), init_std=0.005 / 700, lr=1e-3, epochs=8001) is None
    True
    """
    from reln.theory.field import field_error, field_units

    width = relu_initial_weights[0][0].shape[0]
    reads, candidates = rule.field_candidates(task, width, init_std, lr=lr, epochs=epochs, spacing=spacing)
    if not candidates.size:
        return None
    last = int(reads.max())
    error = field_error(task, width, init_std, lr=lr, epochs=last, substeps=substeps)
    return field_units(task, relu_initial_weights, error, lr=lr, snapshot_every=spacing, x64=x64,
                       batch_size=batch_size, seeds=seeds)


def compact_schedules(
    task: Task, relu: Trajectory, relu_initial_weights: Sequence[Sequence[np.ndarray]], rule: CompactRule, *,
    init_std, lr: float, held: bool | None = None, field: Trajectory | None = None,
) -> list[GateSchedule]:
    """The compact ReLN's schedule of every ReLU seed (:class:`reln.gates.CompactRule`, docs/theory.md §5.3).

    Args:
        relu: a one-hidden-layer ReLU trajectory (its checkpoints' pre-activations are read).
        relu_initial_weights: per seed ``[W_in, W_out]`` (the early gates are derived from them).
        rule: the schedule rule.
        init_std, lr: the ReLU's init law and learning rate.
        held: whether the network it is for holds its sliding pairs (:meth:`reln.gates.CompactRule.schedule`).
        field: the field's units of the rule's item phases (:func:`compact_field`, computed here
            when the rule needs it and none is given).

    Returns:
        One :class:`reln.gates.GateSchedule` per seed.

    >>> from reln.gates import CompactRule
    >>> from reln.tasks import contextual_task
    >>> from reln.models.init import relu_initial_weights
    >>> from reln.training.fit import fit_relu
    >>> task = contextual_task(8, 3, "hierarchy")
    >>> relu = fit_relu(task, (50,), 1e-4, seeds=(0,), epochs=1500, snapshot_every=10)
    >>> initial = relu_initial_weights(task, (50,), 1e-4, (0,))
    >>> [schedule] = compact_schedules(task, relu, initial, CompactRule(), init_std=1e-4, lr=1e-3)
    >>> schedule.n_phases <= 16, schedule.reads.gate_level
    (True, 'context')
    """
    if len(relu.layers) != 1:
        raise RelnError("the compact ReLN describes one hidden layer; use the replay for deeper networks")
    epochs = relu.loss.shape[1] - 1
    spacing = int(relu.snapshot_epochs[1] - relu.snapshot_epochs[0]) if len(relu.snapshot_epochs) > 1 else 1
    if field is None:
        field = compact_field(task, relu_initial_weights, rule, init_std=init_std, lr=lr, epochs=epochs, spacing=spacing)
    return [
        rule.schedule(task, relu.layers[0].pre[s], relu.snapshot_epochs, w_in, w_out,
                      lr=lr, init_std=init_std, epochs=epochs, held=held,
                      field=None if field is None else (field.snapshot_epochs, field.layers[0].pre[s],
                                                        field.layers[0].unit_weight[s]))
        for s, (w_in, w_out) in enumerate(relu_initial_weights)
    ]


def fit_compact_reln(
    task: Task, schedules: Sequence[GateSchedule], relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *, lr: float, epochs: int, slide: float | None = None, x64: bool = False, progress=None,
    batch_size: int | None = None, seeds: Sequence[int] | None = None,
) -> tuple[Trajectory, dict]:
    """Train the compact ReLN of every seed from its schedule (:func:`compact_schedules`), from
    the ReLU's own initial units, by plain gradient descent on the total loss (docs/theory.md §5.3),
    or with ``batch_size`` by the ReLU's mini-batches, in the batch order of each run seed in
    ``seeds`` (:func:`reln.relns.unit_gated.fit_gate_schedules`).

    ``slide`` (:attr:`reln.gates.CompactRule.slide`): the stiffness that holds closed pairs on
    their kink where the network's own gradient would slide them (:func:`reln.gates.kinks.sliding_pairs`);
    ``None``: closed pairs are free.

    Returns:
        ``(trajectory, description)``: the training over all seeds; its phases and their pathways
        (:func:`phase_pathways`), what it read (``reads_from_relu``), the context sets of its
        pathways, and seed 0's gates in the last phase (``final_gates``).

    A schedule of two phases, every unit open everywhere and then only in the first context:

    >>> from reln.gates import Reads
    >>> from reln.tasks import contextual_task
    >>> from reln.models.init import relu_initial_weights
    >>> task = contextual_task(4, 2, "hierarchy")
    >>> gates = np.stack([np.ones((16, task.P)), np.tile(task.context_mask((0,)), (16, 1))])
    >>> schedule = GateSchedule(np.array([0, 50]), (gates,), (np.zeros(gates.shape, bool),),
    ...                         Reads(2, 1, "context", 16 * 2, True))
    >>> initial = relu_initial_weights(task, (16,), 0.1, (0,))
    >>> run, built = fit_compact_reln(task, [schedule], initial, lr=0.05, epochs=100)
    >>> run.loss.shape, built["gate_phases"], [p["units_per_seed"] for p in built["phases"]]
    ((1, 101), 2, [[{'{1,2}': 16}], [{'{1}': 16}]])
    """
    trajectory, info = fit_gate_schedules(
        task, [(s.starts, s.gates, s.pins) for s in schedules], relu_initial_weights, lr=lr, epochs=epochs,
        x64=x64, progress=progress, slide_stiffness=slide, batch_size=batch_size, seeds=seeds,
    )
    bits = info["bits"]
    reads = total_reads(schedules)
    return trajectory, {
        "phases": phase_pathways(task, schedules),
        "gating": "compact", "gate_phases": schedules[0].n_phases, "reads_from_relu": reads, "slide": slide,
        "phase_starts": [int(t) for t in schedules[0].starts],
        "pathway_sets": [[int(c) for c in np.flatnonzero(code & bits)] for code in info["pathway_sets"]],
        "final_gates": [g[-1] for g in schedules[0].gates],  # seed 0, every layer, the last phase
    }


def phase_pathways(task: Task, schedules: Sequence[GateSchedule]) -> list[dict]:
    """The compact ReLN's pathways in each phase: per phase its start, whether its gates were read
    from the ReLU run, and per seed the number of units in each context set (a unit is in the set
    of contexts it is open in, on at least one item; in the derived early phases its gates are per
    sample). Context sets are named 1-based, the all-context set first; seeds in schedule order.
    """
    K = task.n_contexts
    onehot = task.context[None, :] == np.arange(K)[:, None]
    read = schedules[0].read_mask
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
        phases.append({"start": int(start), "read": bool(read[k]), "units_per_seed": counts})
    return phases
