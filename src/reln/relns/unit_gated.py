"""Linear networks whose hidden units are gated by a schedule read from a ReLU run (any depth).

A bias-free ReLU network computes ``h_l = g_l ⊙ (W_l h_{l-1})`` with ``g_l = 1[W_l h_{l-1} > 0]``.
Replacing each ``g_l`` by a given 0/1 gate per unit and sample, piecewise constant in time, makes the
network *linear in every pathway*: units of layer ``l`` with equal gates form one group, and a
sequence of groups through the layers is a pathway of a gated deep linear network (docs/theory.md §2-3)
whose layers are shared between pathways, as in the ReLU network itself. With one hidden layer it
is exactly a GDLN of one width-1 pathway per unit whose gates switch at the same epochs (the test
oracle ``switching_reln`` of ``tests/oracles.py``); with more it is the deep ReLN of the depth experiment, with no freeze, no staged rule and no
hand-set scale: gates from the ReLU's checkpoints, weights from the ReLU's initialisation, plain
gradient descent on the total loss.

The gates of every layer follow the checkpoints of the ReLU run: with one hidden layer by
:func:`reln.gates.replay.sliding_schedule` (the ReLU's own per-sample gates every 10 epochs, pairs that
stay on a kink held there), in deeper networks by :func:`reln.gates.replay.switching_schedule` (the band
rule, read every 100 epochs after the first drop); ``kink_rule`` chooses per layer. Each seed's schedule is per-seed *data* of one compiled program
(:func:`reln.training.train.train`'s ``data``), so seeds run on parallel threads.

Depth (``depth``; the report of ``reln reproduce`` shows its gaps to the ReLU). Two things carry
it. (1) Per-sample gates every 10 epochs until the ReLU's loss is a quarter down
(:func:`reln.gates.replay.first_drop_epoch`): gates with the activity band from epoch 100, while units
are tiny, put the first drop far too late. (2) Pinned kinks in every layer: on the ReLU's plateaus
gradient descent slides along the kinks of small units (unit-sample pairs whose gates flip every
few epochs, few on the first plateau and many in both layers later), and a network whose gates
are fixed between refreshes escapes the plateaus early. The first layer's pins are projections
(:func:`reln.gates.kinks.kink_projectors`); a deeper layer's pinned pre-activation moves with every
layer below it, and a stiff penalty pulls it to the kink through all of them
(:func:`reln.gates.kinks.kink_penalty`, which closes the gap far better than no hold or projecting
layer 2's own rows). Every rule tried before pinning (context or per-sample gates, refreshed
every 100 down to 2 epochs, per-epoch gates from a co-trained ReLU with thresholds) left
large gaps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from reln.errors import RelnError
from reln.gates.replay import KINK_RULES, ReplayOptions, first_drop_epoch, sliding_schedule, switching_schedule
from reln.gates.kinks import kink_penalty, kink_projectors, pinned_weights, sliding_pairs
from reln.models.gated import gated_hidden
from reln.models.losses import half_sse
from reln.tasks import Task
from reln.training.trajectory import HiddenLayer, Progress, Trajectory
from reln.training.fit import batching
from reln.training.train import train


def per_hidden_layer(value, n_layers: int, what: str) -> list:
    """Broadcast one value to every hidden layer, or check a per-layer list has ``n_layers`` entries."""
    values = [value] * n_layers if isinstance(value, (str, int, float)) else list(value)
    if len(values) != n_layers:
        raise RelnError(f"{what} needs one value or {n_layers} (one per hidden layer), got {len(values)}: {value!r}")
    return values


def layer_kink_rules(kink_rule: str | Sequence[str], n_layers: int, gate_level: str | Sequence[str]) -> list[str]:
    """The kink rule of every hidden layer. ``"auto"``: :func:`reln.gates.replay.sliding_schedule` for
    a network of one hidden layer gated per sample, the band rule of
    :func:`reln.gates.replay.switching_schedule` otherwise (on ``depth`` sliding in both layers runs
    far ahead of the ReLU, sliding in the first only is no better than the band; sliding in both
    with a shorter ``slide_epochs`` is worse still: the ReLN leaves the plateaus early, so holding
    sooner does not help)."""
    rules = per_hidden_layer(kink_rule, n_layers, "kink_rule")
    levels = per_hidden_layer(gate_level, n_layers, "gate_level")
    for rule in rules:
        if rule not in KINK_RULES:
            raise RelnError(f"kink_rule must be one of {', '.join(KINK_RULES)}, got '{rule}'")
    resolved = []
    for rule, level in zip(rules, levels):
        if rule == "auto":
            rule = "sliding" if n_layers == 1 and level == "sample" else "band"
        if rule == "sliding" and level != "sample":
            raise RelnError("kink_rule 'sliding' follows per-sample gates: it needs gate_level = 'sample'")
        resolved.append(rule)
    return resolved


def layer_schedules(
    task: Task,
    relu: Trajectory,
    seed_index: int,
    *,
    fine_every: int,
    gate_threshold: float | Sequence[float],
    gate_level: str | Sequence[str],
    kink_rule: str | Sequence[str] = "band",
    fine_until: int = 100,
    regroup_every: int = 100,
    slide_epochs: int = 200,
    silent_threshold: float = 1e-3,
    pin_kinks: bool = True,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The switching schedule of every hidden layer of one ReLU seed.

    ``gate_threshold``, ``gate_level`` and ``kink_rule`` are one value for every layer or one per
    hidden layer (``kink_rule`` resolved, ``"sliding"`` or ``"band"``; ``fine_until`` and
    ``regroup_every`` are the band rule's, ``slide_epochs`` the sliding rule's, so the
    ``kink_rule`` and ``schedule`` of :func:`fit_switching_network`'s description rebuild its
    gates). Layers whose rules read the checkpoints at different epochs share the union of those
    epochs, each holding its gates between its own.

    Returns:
        ``(phase_starts (n_phases,), [phase_gates (n_phases, units_l, P)], [pinned (n_phases, units_l, P)])``,
        one entry per layer in the lists.
    """
    layers = range(len(relu.layers))
    if not relu.layers or relu.layers[0].pre is None:
        raise RelnError("the ReLU trajectory has no pre-activation snapshots to read gates from")
    levels = per_hidden_layer(gate_level, len(layers), "gate_level")
    thresholds = per_hidden_layer(gate_threshold, len(layers), "gate_threshold")
    rules = per_hidden_layer(kink_rule, len(layers), "kink_rule")
    schedules = []
    for l in layers:
        pre = relu.layers[l].pre[seed_index]
        if rules[l] == "sliding":
            schedules.append(sliding_schedule(
                pre, relu.snapshot_epochs, every=fine_every, slide_epochs=slide_epochs,
                gate_threshold=thresholds[l], silent_threshold=silent_threshold, pin_kinks=pin_kinks,
            ))
        else:
            schedules.append(switching_schedule(
                task, pre, relu.snapshot_epochs, fine_until=fine_until, fine_every=fine_every,
                regroup_every=regroup_every, gate_threshold=thresholds[l], gate_level=levels[l],
                silent_threshold=silent_threshold, pin_kinks=pin_kinks,
            ))
    starts = np.unique(np.concatenate([starts for starts, _, _ in schedules]))
    gates, pins = [], []
    for own_starts, phase_gates, pinned in schedules:
        k = np.searchsorted(own_starts, starts, side="right") - 1  # the layer's phase at each start
        gates.append(phase_gates[k])
        pins.append(pinned[k])
    return starts, gates, pins


def fit_switching_network(
    task: Task,
    relu: Trajectory,
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    options: ReplayOptions = ReplayOptions(),
    *,
    lr: float,
    fine_every: int | None = None,
    silent_threshold: float = 1e-3,
    x64: bool = False,
    progress: Progress | None = None,
    batch_size: int | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[Trajectory, dict]:
    """Train the unit-gated linear network of every ReLU seed (the replay of its own gates).

    Args:
        relu: the ReLU trajectory, with pre-activation snapshots of every layer.
        relu_initial_weights: per seed, the ReLU's initial weights (the ReLN starts from them).
        options: the replay's rule (:class:`reln.gates.replay.ReplayOptions`): the kink band
            ``gate_threshold`` and ``gate_level`` of :func:`reln.gates.kinks.kink_gates` at each regroup,
            ``pin_kinks`` (hold the pairs at the kink, in the first hidden layer by
            :func:`reln.gates.kinks.kink_projectors`, in deeper ones by
            :func:`reln.gates.kinks.kink_penalty` with ``kink_stiffness``), per layer ``kink_rule``
            (``"sliding"``, :func:`reln.gates.replay.sliding_schedule`, pairs held once they have
            stayed ``slide_epochs`` on a kink; ``"band"``, :func:`reln.gates.replay.switching_schedule`
            with ``fine_until`` (``None``: the ReLU's first drop, :func:`reln.gates.replay.first_drop_epoch`)
            and ``regroup_every`` (``None``: 100 epochs, or the snapshot spacing if coarser); ``"auto"``,
            :func:`layer_kink_rules`). ``gate_threshold``, ``gate_level`` and ``kink_rule`` may be
            one value per hidden layer.
        fine_every: epochs between per-sample readings (default 10, or the snapshot spacing).
        silent_threshold: a unit whose peak is below this fraction of the layer's largest is closed.
        batch_size, seeds: the ReLU's mini-batches and run seeds (:func:`fit_gate_schedules`).

    Returns:
        ``(trajectory, description)``; the trajectory snapshots the output every 100 epochs; the
        description's ``final_gates`` are seed 0's gates of every layer in the last phase.
    """
    gate_threshold, gate_level, pin_kinks = options.gate_threshold, options.gate_level, options.pin_kinks
    kink_rule, slide_epochs, kink_stiffness = options.kink_rule, options.slide_epochs, options.kink_stiffness
    epochs = int(relu.snapshot_epochs[-1])
    spacing = int(relu.snapshot_epochs[1] - relu.snapshot_epochs[0]) if len(relu.snapshot_epochs) > 1 else 1
    fine_every = fine_every or max(10, spacing)
    fine_until = options.fine_until
    if fine_until is None:
        fine_until = first_drop_epoch(relu.loss, relu.snapshot_epochs)
    regroup_every = options.regroup_every or max(100, spacing)
    n_layers = len(relu.layers)
    rules = layer_kink_rules(kink_rule, n_layers, gate_level)
    schedules = [
        layer_schedules(
            task, relu, s, fine_until=fine_until, fine_every=fine_every, regroup_every=regroup_every,
            gate_threshold=gate_threshold, gate_level=gate_level, silent_threshold=silent_threshold,
            pin_kinks=pin_kinks, kink_rule=rules, slide_epochs=slide_epochs,
        )
        for s in range(relu.loss.shape[0])
    ]
    trajectory, info = fit_gate_schedules(
        task, [(s[0], s[1], s[2]) for s in schedules], relu_initial_weights, lr=lr, epochs=epochs,
        kink_stiffness=kink_stiffness, x64=x64, progress=progress, snapshot_every=max(100, spacing),
        batch_size=batch_size, seeds=seeds,
    )
    starts, pinned_pairs, pinned_layers, pathway_sets, bits = (
        info["starts"], info["pinned_pairs"], info["pinned_layers"], info["pathway_sets"], info["bits"],
    )
    return trajectory, {
        "gating": "switching", "gate_phases": len(starts), "gate_threshold": gate_threshold,
        "gate_level": gate_level, "layers": n_layers, "pin_kinks": pin_kinks,
        "kink_stiffness": kink_stiffness if any(pinned_layers[1:]) else None,
        "pinned_pairs": {"epochs": [int(t) for t in starts[:: max(1, len(starts) // 20)]],
                         "mean_over_seeds": pinned_pairs[:: max(1, len(starts) // 20)].tolist()},
        "pathway_sets": [[int(c) for c in np.flatnonzero(code & bits)] for code in pathway_sets],
        "kink_rule": rules if len(rules) > 1 else rules[0],
        "final_gates": [g[-1] for g in schedules[0][1]],  # seed 0, every layer, the last phase
        "schedule": {"fine_every": fine_every}
        | ({"fine_until": fine_until, "regroup_every": regroup_every} if "band" in rules else {})
        | ({"slide_epochs": slide_epochs} if "sliding" in rules else {}),
    }


def fit_gate_schedules(
    task: Task,
    schedules: Sequence[tuple[np.ndarray, Sequence[np.ndarray], Sequence[np.ndarray]]],
    relu_initial_weights: Sequence[Sequence[np.ndarray]],
    *,
    lr: float,
    epochs: int,
    kink_stiffness: float = 0.02,
    x64: bool = False,
    progress: Progress | None = None,
    snapshot_every: int = 100,
    slide_stiffness: float | None = None,
    batch_size: int | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[Trajectory, dict]:
    """Train the ReLU's architecture with given gates: one unit-gated linear network per seed.

    The forward pass is ``W_L (g_{L-1} ⊙ (... (g_1 ⊙ (W_1 X))))`` with the gates of the current
    phase (:func:`reln.models.gated.gated_forward`), plain gradient descent on the total loss from the ReLU's
    initial weights; pinned pre-activations are held (first layer: projected gradients,
    :func:`reln.gates.kinks.kink_projectors`; deeper: :func:`reln.gates.kinks.kink_penalty`). docs/theory.md §5.

    With ``batch_size`` (< P) the network is trained as the ReLU network was (docs/theory.md §2.2):
    ``ceil(P / batch_size)`` updates per epoch on the batch losses, in the batch order of each run
    seed (:func:`reln.training.fit.batching`, the same order as the ReLU of that seed), and the
    sliding hold acts on the batch's samples only, so each closed pair is pulled once per epoch as
    in full batch.

    Args:
        schedules: per seed ``(phase_starts, [gates (phases, units_l, P)], [pins (phases, units_l, P)])``,
            the same ``phase_starts`` for every seed.
        relu_initial_weights: per seed, the weights to start from.
        epochs: the number of updates.
        kink_stiffness: :func:`reln.gates.kinks.kink_penalty`'s, for pins past the first hidden layer.
        slide_stiffness: with one hidden layer, pull the closed pairs that would slide on their kink
            (:func:`reln.gates.kinks.sliding_pairs`, from the network's own state at each step) back
            to it by :func:`reln.gates.kinks.kink_penalty` of this stiffness; ``None``: closed pairs are free.
        snapshot_every: epochs between snapshots (hidden activity, output, pathway maps).
        batch_size: samples per update (``None``: full batch).
        seeds: the run seeds of the schedules, in order, which seed the batch order (default
            ``0, 1, ...``; needed only with ``batch_size``).

    Returns:
        ``(trajectory, info)``: ``info`` holds ``starts``, ``pinned_pairs`` (per phase, mean over
        seeds), ``pinned_layers``, ``pathway_sets`` (context-set codes) and ``bits``.
    """
    if any(not np.array_equal(s[0], schedules[0][0]) for s in schedules):
        raise RelnError("every seed's schedule must have the same phase starts")
    starts = schedules[0][0]
    dtype = np.float64 if x64 else np.float32
    gates = [np.stack([s[1][l] for s in schedules]).astype(dtype) for l in range(len(schedules[0][1]))]
    params = [np.stack([np.asarray(w[l]) for w in relu_initial_weights]).astype(dtype) for l in range(len(gates) + 1)]
    X, Y = task.X.astype(dtype), task.Y.astype(dtype)
    phase_starts = jnp.asarray(starts, dtype=jnp.int32)
    # Pinned pre-activations are held in every hidden layer. The first reads the fixed inputs X, so
    # a pinned unit's gradient is projected (reln.gates.kinks.kink_projectors, once per pinned set);
    # deeper layers read inputs that move with every layer below, so a stiff penalty keeps their
    # pinned pre-activations at the kink through all of those layers (reln.gates.kinks.kink_penalty).
    pins = [np.stack([s[2][l] for s in schedules]) for l in range(len(gates))]  # (seeds, phases, units, P)
    pinned_pairs = sum(p.sum(axis=(2, 3)) for p in pins).mean(axis=0)
    pinned_layers = [bool(p.any()) for p in pins]  # static: nothing pinned, nothing to pay per step
    held = None
    if pinned_layers[0]:
        per_seed = [kink_projectors(task.X, p) for p in pins[0]]
        n_sets = max(len(q) for q, _ in per_seed)
        projectors = np.stack([np.concatenate([q, np.zeros((n_sets - len(q), *q.shape[1:]))]) for q, _ in per_seed])
        held = (projectors.astype(dtype), np.stack([index for _, index in per_seed]))
    data = (gates, held, [p.astype(dtype) for p in pins[1:]])

    if slide_stiffness is not None and len(gates) != 1:
        raise RelnError("the sliding hold of closed gates is defined for one hidden layer")

    def phase_of(t):
        return jnp.searchsorted(phase_starts, t, side="right") - 1

    def objective(weights, t, schedule, mask=None):
        layer_gates, held, deeper_pins = schedule
        phase = phase_of(t)
        h, penalty = X, 0.0
        for l, (W, g) in enumerate(zip(weights[:-1], layer_gates)):
            if l == 0 and pinned_layers[0]:
                projectors, index = held
                W = pinned_weights(W, projectors[index[phase]])
            pre = W @ h
            if l > 0 and pinned_layers[l]:
                penalty = penalty + kink_penalty(
                    pre, h, deeper_pins[l - 1][phase], layers_below=l + 1, stiffness=kink_stiffness, lr=lr
                )
            h = g[phase] * pre
        output = weights[-1] @ h
        loss = half_sse(output, Y, mask)
        if slide_stiffness is not None:  # one hidden layer: ``pre`` and ``g`` are its
            sliding = jax.lax.stop_gradient(sliding_pairs(pre, g[phase], weights[-1].T @ (output - Y)))
            if mask is not None:  # a pair is pulled when its sample is in the batch: once per epoch
                sliding = sliding * mask[None, :]
            penalty = penalty + kink_penalty(pre, X, sliding, layers_below=1, stiffness=slide_stiffness, lr=lr)
        return loss + penalty, loss

    # With one hidden layer, the units on in the same contexts at a time form a pathway of the
    # ReLN: record each such pathway's end-to-end map, keyed by every context set any unit of any
    # seed has in any phase, to set against the theory's pathways.
    bits = 2 ** np.arange(task.n_contexts)
    in_context = (task.context[None, :] == np.arange(task.n_contexts)[:, None]).astype(dtype)  # (K, P)
    pathway_sets = []
    if len(gates) == 1:
        codes = (np.einsum("sqhp,kp->sqhk", gates[0], in_context) > 0).astype(np.int64) @ bits
        pathway_sets = [int(c) for c in np.unique(codes) if c > 0]

    def snapshot(weights, t, schedule):
        """Hidden activity ``g_l ⊙ (W_l h_{l-1})`` of every layer and the output, for the
        representation figures (as ``fit_relu`` records them); with one hidden layer, the map of
        every pathway (units grouped by the contexts they are on in)."""
        phase = phase_of(t)
        current = [g[phase] for g in schedule[0]]
        hidden = gated_hidden(weights, X, current)
        records = {f"hidden_{l}": h for l, h in enumerate(hidden)}
        records["output"] = weights[-1] @ hidden[-1]
        if pathway_sets:
            code = ((current[0] @ in_context.T) > 0).astype(jnp.int32) @ jnp.asarray(bits, dtype=jnp.int32)
            member = (code[None, :] == jnp.asarray(pathway_sets, dtype=jnp.int32)[:, None]).astype(dtype)
            records["pathway_maps"] = jnp.einsum("ph,oh,hi->poi", member, weights[1], weights[0])
        return records

    seeds = range(len(schedules)) if seeds is None else seeds
    if len(seeds) != len(schedules):
        raise RelnError(f"{len(seeds)} run seeds for {len(schedules)} schedules")
    trajectory = train(
        objective, params, lr=lr, epochs=epochs, snapshot=snapshot, snapshot_every=snapshot_every,
        progress=progress, data=data, **batching(batch_size, task, seeds),
    )
    records = trajectory.snapshots
    trajectory = dataclasses.replace(
        trajectory, layers=tuple(HiddenLayer(activity=records[f"hidden_{l}"]) for l in range(len(gates))),
        output=records["output"], pathway_maps=records.get("pathway_maps"), snapshots={},
    )
    return trajectory, {"starts": starts, "pinned_pairs": pinned_pairs, "pinned_layers": pinned_layers,
                        "pathway_sets": pathway_sets, "bits": bits}
