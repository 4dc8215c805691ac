"""Run an experiment from its config: build the task, train the models, measure, write.

``run_experiment`` returns a :class:`Run` (plain data); ``run_outputs`` turns it into the files of
the run contract (DESIGN.md): ``config.json``, ``results.npz``, ``metrics.json``, ``loss.png`` and,
for an identified ReLN, ``structure.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from reln.identification.analysis import (
    SELECTIVITY_CLASSES, crossing_epochs, gap_to_reference, path_sequence_shares, selectivity, split_gap, loss_split,
    gating_agreement, structure_agreement, unit_weight_shares,
)
from reln.experiment.config import (
    IdentifyConfig, PathwayConfig, RunConfig, config_to_dict, gdln_models, gdln_table, identified,
)
from reln.errors import ModelFailed, RelnError
from reln.models.init import relu_initial_weights
from reln.models.pathways import GDLN, Pathway, build_gdln
from reln.identification.course import coverage_or_none, gating_course, stage_metrics
from reln.identification.identify import Identification, identify, identify_seeds
from reln.gates import CompactRule, GateSchedule, Reads, total_reads
from reln.experiment.io import check_figure_formats, figure_writers, json_writer, npz_writer
from reln.tasks import Task, contextual_task, xor_task
from reln.training.trajectory import Progress, Trajectory

ProgressFactory = Callable[[str, int], Progress]


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything a run produced, before it is written.

    ``gdlns`` holds the explicit GDLN of each GDLN model that has one (``paper_reln``, or ``reln``
    with an explicit pathway list); ``identifications`` the per-seed identification behind an
    identified ``reln``; ``closed_forms`` loss curves in closed form by label (the linear phase,
    :func:`linear_phase`); ``final_gates`` the gates each identified model ended with, for seed 0:
    a unit-gated model's per hidden layer in its last phase, the fixed ReLN's ``(p, P)`` pathway
    gates; ``schedules`` the compact schedule of every seed, which the compact ReLN used (the
    theory's is read at the rule's ``free_threshold``, :class:`reln.gates.CompactRule`).
    """

    config: RunConfig
    task: Task
    trajectories: dict[str, Trajectory]
    gdlns: dict[str, GDLN]
    metrics: dict
    identifications: list[Identification] | None = None
    closed_forms: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    final_gates: dict[str, list[np.ndarray] | np.ndarray | None] = dataclasses.field(default_factory=dict)
    schedules: list[GateSchedule] | None = None


def build_task(config: RunConfig) -> Task:
    """The task of a config's ``[task]`` table."""
    t = config.task
    if t.kind == "xor":
        return xor_task(items=t.items, contexts=t.contexts, context_scale=float(t.context_scale))
    if t.kind == "digits":
        from reln.tasks.digits import digits_task

        return digits_task(classes=t.items, contexts=t.contexts, context_scale=float(t.context_scale))
    return contextual_task(
        items=t.items,
        contexts=t.contexts,
        structures=t.structures,
        common=None if t.common == "none" else t.common,
        context_scale=float(t.context_scale),
    )


def _pathway(p: PathwayConfig) -> Pathway:
    contexts = None if p.contexts == "all" else p.contexts
    if isinstance(contexts, str):
        raise RelnError(f"pathway '{p.name}': contexts must be 'all' or a list of indices, got '{p.contexts}'")
    gate = None if p.gate is None else np.asarray(p.gate, dtype=float)
    return Pathway(
        contexts=contexts, gate=gate, inputs=p.inputs, hidden=p.hidden, init_std=p.init_std, name=p.name
    )


def build_reln(config: RunConfig, task: Task, model: str = "reln") -> GDLN:
    """The GDLN of a config's explicit ``[[reln.pathways]]`` (or ``[[paper_reln.pathways]]``,
    ``[[modular.pathways]]``, ``[[candidates.NAME.pathways]]``) list; the default modular control
    when ``[modular]`` is absent."""
    if model == "modular" and config.modular is None:
        return build_gdln(modular_pathways(task, config), task)
    if model == "reln" and identified(config):
        raise RelnError("[reln] is identified from a ReLU run, not built from the config")
    pathways = gdln_table(config, model).pathways
    return build_gdln([_pathway(p) for p in pathways], task)


def modular_pathways(task: Task, config: RunConfig) -> list[Pathway]:
    """The strictly modular control (the paper's "GDLN single"): an always-on pathway on every
    input plus one pathway per context on the items, the ReLU's hidden units shared out equally
    and drawn with the ReLU's init std."""
    width = max(1, config.relu.hidden[0] // (task.n_contexts + 1))
    std = config.relu.init_std if np.isscalar(config.relu.init_std) else config.relu.init_std[0]
    common = Pathway(contexts=None, inputs="all", hidden=(width,), init_std=std, name="common")
    return [common] + [
        Pathway(contexts=(c,), inputs="items", hidden=(width,), init_std=std, name=f"{{{c + 1}}}")
        for c in range(task.n_contexts)
    ]


def package_version() -> str:
    try:
        return version("reln")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _stage(progress: ProgressFactory | None, name: str):
    """A labelled step without epochs (identifying, a theory's flow): one bar, full when done."""
    done = progress(name, 1) if progress else None
    yield
    if done is not None:
        done(1, 1)


class _Training:
    """Which model is training (read from the progress factory each fit calls first), so that a
    failure such as divergence names the model and its seeds."""

    model = ""

    def watch(self, progress: ProgressFactory | None) -> ProgressFactory:
        def factory(model: str, total: int):
            self.model = model
            return progress(model, total) if progress else None

        return factory

    @contextlib.contextmanager
    def naming(self, seeds: Sequence[int]):
        try:
            yield self
        except RelnError as error:
            if not self.model or not str(error).startswith("training diverged"):
                raise  # only train()'s own failures are surely the model's whose bar came last
            raise ModelFailed(self.model, f"model '{self.model}' (seeds {', '.join(map(str, seeds))}, by index): {error}") from None


def check_learned(model: str, trajectory: Trajectory, seeds: Sequence[int], allow_dead: bool = False) -> None:
    """Refuse a silent wrong result: a seed whose loss ended above where it started, or a ReLU
    seed whose hidden units are all dead (no unit on for any sample at the last snapshot) in
    some layer, is an error naming the model and seed, unless ``allow_dead``.

    Args:
        model: the model's name, for the message.
        trajectory: its training run.
        seeds: the seeds, in the trajectory's order.
        allow_dead: keep the numbers anyway (``[train] allow_dead``, ``--allow-dead``).
    """
    if allow_dead:
        return
    keep = "; lower the learning rate or change the init scale, or set [train] allow_dead = true (--allow-dead) to keep these numbers"
    loss = np.asarray(trajectory.loss)
    for i, seed in enumerate(seeds):
        if loss[i, -1] > loss[i, 0]:
            raise ModelFailed(
                model, f"model '{model}' seed {seed}: the loss ended at {loss[i, -1]:.6g}, above its start {loss[i, 0]:.6g}{keep}"
            )
        for l, layer in enumerate(trajectory.layers):
            if layer.pre is not None and not np.any(np.asarray(layer.pre[i, -1]) > 0):
                raise ModelFailed(
                    model, f"model '{model}' seed {seed}: every unit of hidden layer {l + 1} is dead "
                    f"(off for every sample) at epoch {int(trajectory.snapshot_epochs[-1])}, so the network "
                    f"outputs 0{keep}"
                )


def run_experiment(config: RunConfig, progress: ProgressFactory | None = None) -> Run:
    """Train every model the config asks for, on every seed, and measure them; refuse a silent
    wrong result (:func:`check_learned`, every trained model: not the theory and the prediction), and name the
    model in a training failure.

    Args:
        config: a validated :class:`RunConfig`.
        progress: ``(model name, total epochs) -> callback(done, total)``, for progress bars.

    Returns:
        The :class:`Run`.

    >>> from reln.experiment.config import load_config, with_overrides
    >>> config = with_overrides(load_config("contexts-3"), seeds=(0,), epochs=200, models=("relu", "reln"))
    >>> run = run_experiment(config)
    >>> sorted(run.trajectories), run.metrics["reln"]["reads_from_relu"]["gate_level"]
    (['reln', 'relu'], 'context')
    """
    training = _Training()
    with training.naming(config.train.seeds):
        run = _run_experiment(config, training.watch(progress))
    for model, trajectory in run.trajectories.items():
        if model not in ("theory", "prediction", "prediction_seeded"):  # flows of balanced maps
            check_learned(model, trajectory, config.train.seeds, config.train.allow_dead)
    return run


PREDICTIONS = ("prediction", "prediction_seeded")


def _precision(config: RunConfig):
    """The float precision of the models the run trains (JAX's ``enable_x64``); none when it only
    predicts, so that a prediction never imports JAX."""
    if set(config.models) <= set(PREDICTIONS):
        return contextlib.nullcontext()
    import jax

    return jax.enable_x64(config.train.x64)


def _run_experiment(config: RunConfig, progress: ProgressFactory | None = None) -> Run:
    """Train every model the config asks for, on every seed, and measure them.

    Args:
        config: a validated :class:`RunConfig`.
        progress: ``(model name, total epochs) -> callback(done, total)``, for progress bars.
    """
    task = build_task(config)
    train = config.train
    if not set(config.models) <= set(PREDICTIONS):  # the training modules import JAX
        from reln.relns.imitate import fit_compact_reln, fit_fixed_reln, fit_replay
        from reln.training.fit import fit_gdln, fit_relu
    common = dict(seeds=train.seeds, lr=train.lr, epochs=train.epochs, x64=train.x64)
    total = train.epochs * len(train.seeds)
    bar = (lambda model: progress(model, total)) if progress else (lambda model: None)
    trajectories, gdlns, identifications, builds, final_gates = {}, {}, None, {}, {}
    theory_reads = None
    with _precision(config):
        if "relu" in config.models:
            trajectories["relu"] = fit_relu(
                task, config.relu.hidden, config.relu.init_std,
                snapshot_every=config.relu.snapshot_every, progress=bar("relu"), batch_size=train.batch_size, **common,
            )
            # before any ReLN is built from it: a dead or diverged ReLU network is the run's failure
            check_learned("relu", trajectories["relu"], train.seeds, train.allow_dead)
        initial = relu_initial_weights(task, config.relu.hidden, config.relu.init_std, train.seeds)
        schedules, theory_schedules, schedule_seconds = None, None, 0.0
        if identified(config) and "relu" in trajectories and {"reln", "theory", "replay", *PREDICTIONS} & set(config.models):
            with _stage(progress, "identify"):
                identifications = identify_seeds(
                    task, trajectories["relu"], activity_threshold=config.identify.activity_threshold,
                    min_unit_weight=config.identify.min_unit_weight,
                )
                if _needs_compact(config):
                    started = time.perf_counter()
                    schedules, theory_schedules = compact_schedule_pair(
                        config, task, trajectories["relu"], initial,
                        for_reln="reln" in config.models and config.reln.gating == "compact",
                        for_theory="theory" in config.models)
                    schedule_seconds = time.perf_counter() - started
        for model in ("reln", "replay"):
            if model not in config.models or (model == "reln" and not identified(config)):
                continue
            if model == "replay":
                started = time.perf_counter()
                trajectories[model], build = fit_replay(task, trajectories["relu"], initial, config.replay,
                                                        lr=train.lr, x64=train.x64, progress=bar(model),
                                                        batch_size=train.batch_size, seeds=train.seeds)
                # the replay's cost is its whole fit: reading its gates from the checkpoints too
                trajectories[model] = dataclasses.replace(trajectories[model], wall_seconds=time.perf_counter() - started)
            elif config.reln.gating == "compact":
                trajectories[model], build = fit_compact_reln(
                    task, schedules, initial, lr=train.lr, epochs=train.epochs, slide=config.reln.schedule.slide,
                    x64=train.x64, progress=bar(model), batch_size=train.batch_size, seeds=train.seeds)
                # the compact ReLN's cost is its whole fit: deriving and reading its schedule too
                trajectories[model] = dataclasses.replace(
                    trajectories[model], wall_seconds=trajectories[model].wall_seconds + schedule_seconds)
            else:
                trajectories[model], build = fit_fixed_reln(task, identifications, initial, lr=train.lr,
                                                            epochs=train.epochs, x64=train.x64, progress=bar(model),
                                                            batch_size=train.batch_size, seeds=train.seeds)
            final_gates[model] = build.pop("final_gates", None)
            builds[model] = build | {"reads_from_relu": build.get("reads_from_relu") or _replay_reads(build, task, trajectories["relu"])}
        for model in gdln_models(config):
            table = gdln_table(config, model)
            gdlns[model] = build_reln(config, task, model)
            trajectories[model] = fit_gdln(
                task, gdlns[model], rule=table.rule, snapshot_every=table.snapshot_every,
                progress=bar(model), batch_size=train.batch_size, **common,
            )
        if "theory" in config.models:
            with _stage(progress, "theory"):
                trajectories["theory"], theory_gdln = _theory(config, task, identifications, theory_schedules)
            theory_reads = total_reads(theory_schedules) if theory_schedules else None
    predicted, from_task = {}, None
    for model in PREDICTIONS:
        if model in config.models:
            with _stage(progress, model):
                if from_task is None:  # the task-only flow, which the seeded prediction's field also needs
                    from reln.theory.prediction import predict_from_task

                    from_task = predict_from_task(task, config.relu.hidden[0], config.relu.init_std,
                                                  lr=train.lr, epochs=train.epochs, substeps=train.epoch_updates(task.P),
                                                  keep_error="prediction_seeded" in config.models)
                predicted[model] = _prediction(config, task, from_task, seeded=model == "prediction_seeded",
                                               relu=trajectories.get("relu"))
            trajectories[model] = predicted[model][0]
    metrics = compute_metrics(task, trajectories, gdlns, identifications, builds, config.identify)
    for model, (_, entries) in predicted.items():
        metrics[model] |= entries
        if identifications is not None and len(config.relu.hidden) == 1:  # the prediction against the ReLU's
            relu_pathways = _identified_pathways(task, identifications)
            metrics[model]["against_identified"] = structure_agreement(entries["pathways"], relu_pathways)
            if model == "prediction" and "relu" in config.models:  # point 2 of the prediction, checked
                metrics[model]["assumption_start"] = _start_report(config, task, initial, relu_pathways)
            if "feedback" in entries:
                fed = metrics[model]["feedback"]
                fed["share_error_max_by_pass"] = [structure_agreement(p, relu_pathways)["share_error_max"]
                                                  for p in fed["pathways_by_pass"]]
    closed_forms = {}
    if "theory" in trajectories:
        metrics["theory"]["pathways"] = list(theory_gdln.names)
        if theory_reads is not None:
            metrics["theory"]["reads_from_relu"] = theory_reads
        metrics["theory"]["assumption_2_1"] = assumption_report(task, theory_gdln)
        if len(config.relu.hidden) == 1:
            curve, metrics["theory"]["linear_phase"] = linear_phase(config, task)
            closed_forms[LINEAR_PHASE_LABEL] = curve
    _label_rows(metrics, trajectories, config.train.seeds)
    return Run(config, task, trajectories, gdlns, metrics, identifications, closed_forms, final_gates, schedules)


CONVENTIONS = {
    "loss": "1/2 sum over samples of ||Yhat - Y||^2, absolute (not divided by P); loss_final is it after the last update",
    "gap": "gap_to_relu is |L_model(t) - L_relu(t)| / L_relu(0) over t = 0..epochs, seed by seed: a fraction of the ReLU's initial loss",
    "crossings": "epoch_below[f] is the first t with L(t) < f L(0); null if never",
    "contexts": "0-based in data ('contexts' lists); 1-based in names and figures ('{1,2}')",
    "per-seed lists": "in the order of the model's 'seeds' (one row compared with every ReLU seed where 'seeds' is 'all')",
    "weight_share": "share of sum_j ||w_in_j|| ||w_out_j|| over the ReLU units assigned (identified; prediction_seeded: over the units of the predicted field); nuclear-norm share of the final maps (prediction)",
    "gating_against_relu": "prediction_seeded: per seed and epoch, the weighted mean over units of the mean over contexts of |f_field - f_relu|, f a unit's fraction of a context's items it is on for (the same initial units in both runs); difference_all_open: the same for every unit open everywhere, the baseline",
    "against_identified": "a prediction's structure against the ReLU's identified one: the sets with mean share >= floor in each, whether they are the same, and per set the predicted minus the identified mean share",
    "selectivity": "relu.selectivity and relu.stage: weight shares of the units the identification assigns, a unit active in a context when its activity exceeds activity_threshold of its own peak (named beside the shares); relu.context_weight_shares: every unit, active in a context when on (pre-activation > 0) for any item of it, threshold 0",
    "stage": "relu.stage: each hidden layer's selectivity at the first checkpoint at or after the loss falls below 'fraction' of L(0), per seed (null if never)",
    "singular_values_final": "[seed][pathway][k]: the k-th singular value of each pathway's final map, pathways in the order of the section's 'pathways'",
    "seconds": "seconds: per seed, training without compilation (seeds on parallel threads overlap); wall_seconds: the model's whole fit, its gate schedule and compilation included",
    "reads_from_relu": "gate_phases: gate configurations used; read_phases: of those read from the ReLU run; gate_level: the finest level read (sample, item, context, none); numbers: values read; initial_weights: starts from the ReLU's initial weights",
}


def _label_rows(metrics: dict, trajectories: dict[str, Trajectory], seeds) -> None:
    """Make ``metrics.json`` self-describing: the seeds beside every model's per-seed lists and a
    ``conventions`` block saying what is absolute and what is a fraction of ``L(0)``."""
    for model, trajectory in trajectories.items():
        if model in metrics and isinstance(metrics[model], dict):
            metrics[model]["seeds"] = list(seeds) if len(trajectory.loss) == len(seeds) else "all"
    metrics["conventions"] = CONVENTIONS


LINEAR_PHASE_LABEL = "linear phase in closed form (task and init law only)"


def _prediction(config: RunConfig, task: Task, predicted, seeded: bool = False, relu: Trajectory | None = None,
                ) -> tuple[Trajectory, dict]:
    """The ReLN predicted from the task and the init law (``predicted``, of
    :func:`reln.theory.prediction.predict_from_task`) as a one-row trajectory, or (``seeded``) from
    each seed's initial weights, one row per seed (:func:`_field_prediction`); and its
    ``metrics.json`` entries: the predicted pathways and shares, how far Assumption 2.1 holds for
    them, and that nothing was read from a ReLU run (the seeded one shares only the ReLU's initial
    weights). With the ``relu`` run beside it, the seeded one also says how far its units' gating
    is from the ReLU's own units'. Either model's wall time includes the task-only flow's."""
    started = time.perf_counter() - predicted.seconds
    if seeded:
        return _field_prediction(config, task, predicted.prediction.error[0], started, relu)
    flow = predicted.prediction
    trajectory = Trajectory(
        loss=flow.loss, snapshot_epochs=flow.snapshot_epochs, singular_values=flow.singular_values,
        final_params=[flow.final_maps], seconds=np.full(len(flow.loss), predicted.seconds / len(flow.loss)),
        wall_seconds=time.perf_counter() - started,
        snapshots=_split_snapshots(flow),
    )
    shares = np.atleast_2d(predicted.shares)  # (rows, pathways)
    return trajectory, {
        "pathways": [{"name": name, "contexts": list(c), "weight_share": float(shares[:, k].mean()),
                      "weight_share_seeds": shares[:, k].tolist()}
                     for k, (name, c) in enumerate(zip(flow.gdln.names, predicted.contexts))],
        "assumption_2_1": assumption_report(task, flow.gdln),
        "reads_from_relu": Reads(gate_phases=1, read_phases=0, gate_level="none", numbers=0,
                                 initial_weights=False).as_dict(),
    }


def _start_report(config: RunConfig, task: Task, initial, relu_pathways: list[dict]) -> dict:
    """The prediction's start (docs/theory.md §5.7, point 2) against the seeds: the common pathway's
    strength against that of each seed's initial units (:func:`reln.theory.prediction.start_check`),
    and the ``H / (2K)`` units it gives each all-but-one pathway against the units the ReLU's
    identification finds in each all-but-one set (mean over the sets, per seed; ``H / 2`` in all
    identified pathways together)."""
    from reln.theory.prediction import start_check

    width, K = config.relu.hidden[0], task.n_contexts
    report = start_check(task, width, config.relu.init_std, initial, lr=config.train.lr)
    sets = [p["units"] for p in relu_pathways if len(p["contexts"]) == K - 1]
    report["all_but_one_units_expected"] = width // (2 * K) if K > 1 else 0
    report["all_but_one_units_identified"] = (np.mean(sets, axis=0).tolist() if sets and K > 1
                                              else [0.0] * len(initial))
    report["identified_units_fraction"] = (np.sum([p["units"] for p in relu_pathways], axis=0) / width).tolist()
    return report


GATING_EPOCHS_OF = (0.1, 0.2, 0.5, 1.0)  # fractions of the run at which the field's gating is compared


def seeded_field(config: RunConfig, task: Task, error: np.ndarray, snapshot_every: int = 10):
    """The ReLU's initial units of every seed of ``config`` in the field ``error`` (docs/theory.md
    §5.8, :func:`reln.theory.field.field_units`), and their identification at the last checkpoint
    with the config's ``[identify]`` thresholds: ``(initial weights, field trajectory, identifications)``."""
    from reln.theory.field import field_units

    train = config.train
    initial = relu_initial_weights(task, config.relu.hidden, config.relu.init_std, train.seeds)
    field = field_units(task, initial, error, lr=train.lr, snapshot_every=snapshot_every, x64=train.x64,
                        batch_size=train.batch_size, seeds=train.seeds)
    found = identify_seeds(task, field, activity_threshold=config.identify.activity_threshold,
                           min_unit_weight=config.identify.min_unit_weight)
    return initial, field, found


def _field_prediction(config: RunConfig, task: Task, error: np.ndarray, started: float,
                      relu: Trajectory | None = None) -> tuple[Trajectory, dict]:
    """The compact ReLN predicted from each seed's initial weights (docs/theory.md §5.8): its units
    follow their own gradient descent in the field of the task-only prediction's ``error``
    (:func:`reln.theory.field.field_units`),
    the compact rule reads its schedule from them as it would from a ReLU run
    (:func:`reln.relns.imitate.compact_schedules`), and the balanced flow of that schedule is the
    predicted curve (:func:`reln.theory.predict.predict_compact`). With ``[prediction_seeded] passes``
    (:class:`reln.theory.field.FieldFeedback`) that flow's error is mixed into the next pass's field,
    one per seed, and ``feedback`` reports every pass's structure. The structure is the last field's
    identification; the schedule's gates are derived, so nothing counts as read. Beside a ReLU run of
    the same seeds, ``gating_against_relu`` compares the field's units with the ReLU's own, unit by
    unit (:func:`reln.identification.analysis.gating_agreement`), at :data:`GATING_EPOCHS_OF` of the run."""
    from reln.relns.imitate import compact_schedules
    from reln.theory.predict import predict_compact

    std, train, feedback = config.relu.init_std, config.train, config.prediction_seeded
    by_pass = []
    for k in range(feedback.passes + 1):  # pass 0: the task-only error; then fed back (FieldFeedback)
        initial, field, found = seeded_field(config, task, error)
        # the field's units are their own item phases' field
        schedules = compact_schedules(task, field, initial, config.reln.schedule, init_std=std, lr=train.lr,
                                      held=False, field=field)
        more = k < feedback.passes
        theory = predict_compact(task, found, initial, schedules, lr=train.lr, epochs=train.epochs, x64=train.x64,
                                 keep_error=more, substeps=train.epoch_updates(task.P))
        by_pass.append(_identified_pathways(task, found))
        if more:
            error = feedback.next_field(error, theory.error)
    trajectory = Trajectory(
        loss=theory.loss, snapshot_epochs=theory.snapshot_epochs, singular_values=theory.singular_values,
        final_params=[theory.final_maps], seconds=theory.seconds, wall_seconds=time.perf_counter() - started,
        snapshots=_split_snapshots(theory),
    )
    phases = max(s.n_phases for s in schedules)
    extra = {}
    if relu is not None and len(relu.layers) == 1:
        at = [int(round(f * train.epochs)) for f in GATING_EPOCHS_OF]
        reference = (relu.layers[0].pre, relu.snapshot_epochs, relu.layers[0].unit_weight, at)
        extra["gating_against_relu"] = {
            "epochs": at,
            "difference": gating_agreement(task, field.layers[0].pre, field.snapshot_epochs, *reference),
            # the baseline: every unit open on every item (what the early, decoupled flow keeps)
            "difference_all_open": gating_agreement(task, np.ones_like(field.layers[0].pre[:, :1]), np.array([0]),
                                                    *reference),
        }
    if feedback.passes:
        extra["feedback"] = {"passes": feedback.passes, "mix": feedback.mix, "pathways_by_pass": by_pass}
    return trajectory, extra | {
        "pathways": by_pass[-1],
        "identified_at_epoch": found[0].epoch,
        "phase_starts": [s.starts.tolist() for s in schedules],
        "assumption_2_1": assumption_report(task, theory.gdln),
        "reads_from_relu": Reads(gate_phases=phases, read_phases=0, gate_level="none", numbers=0,
                                 initial_weights=True).as_dict(),
    }


def compact_schedule_pair(config: RunConfig, task: Task, relu: Trajectory, initial, *, for_reln: bool,
                          for_theory: bool) -> tuple[list[GateSchedule] | None, list[GateSchedule] | None]:
    """``(reln, theory)``: the compact schedules of a run's compact ReLN and of its theory, each
    ``None`` where not asked for (docs/theory.md §5.3, §5.5). The rule is ``[reln.schedule]`` (the
    default rule beside fixed gating); the item phases' field units are computed once for both
    (:func:`reln.relns.imitate.compact_field`: derived, ``None`` where the task has no item phase).
    The theory's flow has no pre-activations to hold, so its schedule is read for free closed pairs:
    the compact ReLN's own when that has no hold either."""
    from reln.relns.imitate import compact_field, compact_schedules

    train, std = config.train, config.relu.init_std
    rule = config.reln.schedule or CompactRule()
    field = compact_field(task, initial, rule, init_std=std, lr=train.lr, epochs=train.epochs,
                          spacing=config.relu.snapshot_every, x64=train.x64, batch_size=train.batch_size,
                          seeds=train.seeds, substeps=train.epoch_updates(task.P))
    reln = compact_schedules(task, relu, initial, rule, init_std=std, lr=train.lr, field=field) if for_reln else None
    if not for_theory:
        return reln, None
    if reln is not None and rule.slide is None:
        return reln, reln
    return reln, compact_schedules(task, relu, initial, rule, init_std=std, lr=train.lr, held=False, field=field)


def _needs_compact(config: RunConfig) -> bool:
    """Whether a model of the run (the compact ReLN, or the theory of it) uses compact schedules."""
    if not (identified(config) and "relu" in config.models and len(config.relu.hidden) == 1):
        return False
    return "theory" in config.models or ("reln" in config.models and config.reln.gating == "compact")


def _replay_reads(build: dict, task: Task, relu: Trajectory) -> dict:
    """What a replay of the ReLU's own gates reads: a gate bit per unit, sample and phase (and as
    many pin bits when it holds kinks), ``fixed`` gating one context set per unit."""
    units = sum(layer.pre.shape[2] for layer in relu.layers)
    if build.get("gating") == "fixed":
        return Reads(gate_phases=1, read_phases=1, gate_level="context",
                     numbers=units * task.n_contexts * relu.loss.shape[0], initial_weights=True).as_dict()
    phases = int(build.get("gate_phases", 1))
    bits = phases * units * task.P * (2 if build.get("pin_kinks") else 1) * relu.loss.shape[0]
    level = build.get("gate_level", "sample")
    level = level if isinstance(level, str) else ("sample" if "sample" in level else "context")
    return Reads(gate_phases=phases, read_phases=phases, gate_level=level, numbers=bits, initial_weights=True).as_dict()


def assumption_report(task: Task, gdln: GDLN) -> dict:
    """How far a GDLN's pathways are from Assumption 2.1, in numbers (docs/theory.md §2): per pathway
    the input misalignment ``||Sigma_x V - V D|| / ||Sigma_x V||`` (0 when its input singular
    vectors are eigenvectors of its input correlation), the largest input correlation between
    pathways that share an output relative to a pathway's own (0 when none race), and the largest
    off-diagonal share of the output overlaps ``U_p^T U_q`` (0 when they share singular vectors).
    All three 0: the closed form of :mod:`reln.theory.modes` is exact."""
    from reln.theory import alignment_report, pathway_correlations
    from reln.theory.modes import pathway_modes

    modes = pathway_modes(task, gdln, require_decoupled=False)
    overlaps = alignment_report(pathway_correlations(task, gdln))["output_overlap_offdiagonal"]
    return {
        "input_misalignment": dict(zip(gdln.names, modes.misalignment.tolist())),
        "coupling": modes.coupling,
        "output_overlap_offdiagonal_max": max(overlaps.values(), default=0.0),
    }


def linear_phase(config: RunConfig, task: Task) -> tuple[np.ndarray, dict]:
    """The one-hidden-layer ReLU's first drop predicted from the task and its init law alone
    (:func:`reln.theory.modes.linear_phase_loss`), as a curve over the run's epochs and its
    ``metrics.json`` entry. Where the always-on pathway's modes are not exactly aligned with its
    input correlation (``input_misalignment`` > 0, e.g. one-hot contexts beside items) the closed
    form is the approximation it then is, and says so."""
    from reln.theory.modes import linear_phase_loss

    closed = linear_phase_loss(task, config.relu.hidden[0], config.relu.init_std, lr=config.train.lr,
                               require_decoupled=False)
    curve = closed(np.arange(config.train.epochs + 1))
    return curve, {
        "epoch_below": {f: epochs[0] for f, epochs in crossing_epochs(curve[None]).items()},
        "plateau": float(curve[-1]),
        "input_misalignment": float(closed.modes.misalignment[0]),
        "initial_strength": float(closed.initial_strengths.max()),
    }


def _theory(
    config: RunConfig, task: Task, identifications: list[Identification] | None, schedules=None,
) -> tuple[Trajectory, GDLN]:
    """The theory's prediction as a trajectory (:mod:`reln.theory.predict`): per ReLU seed, the
    balanced flow of its compact ReLN (:func:`reln.theory.predict.predict_compact`), or once from
    explicit ``[[reln.pathways]]`` and their init law."""
    from reln.theory.explicit import predict_explicit
    from reln.theory.predict import predict_compact

    train = config.train
    started = time.perf_counter()
    if identified(config):
        initial = relu_initial_weights(task, config.relu.hidden, config.relu.init_std, train.seeds)
        # trained on mini-batches, the ReLU takes ceil(P / B) updates an epoch: the theory steps as many
        prediction = predict_compact(task, identifications, initial, schedules, lr=train.lr, epochs=train.epochs,
                                     x64=train.x64, substeps=train.epoch_updates(task.P))
    else:
        prediction = predict_explicit(task, build_reln(config, task, "reln"), lr=train.lr, epochs=train.epochs,
                                      substeps=train.epoch_updates(task.P))
    trajectory = Trajectory(
        loss=prediction.loss, snapshot_epochs=prediction.snapshot_epochs,
        singular_values=prediction.singular_values, final_params=[prediction.final_maps],
        # seeds overlap on threads: the wall time is measured, not the sum of the seeds' times
        seconds=prediction.seconds, wall_seconds=time.perf_counter() - started,
        snapshots=_split_snapshots(prediction),
    )
    return trajectory, prediction.gdln


def _curve_metrics(trajectory: Trajectory) -> dict:
    return {
        "loss_final": trajectory.loss[:, -1].tolist(),
        "epoch_below": crossing_epochs(trajectory.loss),
        "seconds": trajectory.seconds.tolist(),
        "compile_seconds": trajectory.compile_seconds,
        "wall_seconds": trajectory.wall_seconds,
    }


def _relu_context_shares(task: Task, relu: Trajectory, layer: int = 0) -> list[np.ndarray]:
    """Per seed, ``{contexts: weight share}`` of one hidden layer of the ReLU at the last epoch."""
    gates, sizes = relu.layers[layer].pre[:, -1] > 0, relu.layers[layer].unit_weight[:, -1]
    return [unit_weight_shares(g, w, task) for g, w in zip(gates, sizes)]


def _shares_table(shares: list[dict]) -> list[dict]:
    patterns = sorted(set().union(*shares), key=lambda s: -np.mean([d.get(s, 0) for d in shares]))
    return [{"contexts": sorted(p), "weight_share": [d.get(p, 0.0) for d in shares]} for p in patterns]


def _layer_metrics(task: Task, relu: Trajectory, activity_threshold: float, min_unit_weight: float) -> list[dict]:
    """Where the gating lives: per hidden layer, weight shares by context pattern and selectivity
    (units of layer ``l`` weighted by ``||w_in|| ||w_out||`` of that layer, DESIGN.md)."""
    entries = []
    for l, layer in enumerate(relu.layers):
        found = [
            identify(
                task, layer.hidden[s], layer.unit_weight[s], relu.snapshot_epochs,
                activity_threshold=activity_threshold, min_unit_weight=min_unit_weight,
            )
            for s in range(relu.loss.shape[0])
        ]
        per_seed = [selectivity(i, task.n_contexts) for i in found]
        pathway_shares = [{frozenset(p.contexts): p.weight_share for p in i.pathways} for i in found]
        imbalance = {}
        if layer.imbalance is not None:  # deep networks: balance of the layer's two sides
            picks = np.unique(np.linspace(0, len(relu.snapshot_epochs) - 1, 11).round().astype(int))
            imbalance = {"imbalance": {
                "epochs": relu.snapshot_epochs[picks].tolist(),
                "seeds": np.asarray(layer.imbalance)[:, picks].tolist(),
            }}
        entries.append({
            "layer": l + 1,
            **imbalance,
            "context_weight_shares": _shares_table(_relu_context_shares(task, relu, l)),
            # the identification's groups (activity above activity_threshold of the unit's peak)
            "pathways": _shares_table(pathway_shares),
            "selectivity": {kind: [x[kind] for x in per_seed] for kind in SELECTIVITY_CLASSES}
            | {"within_context_coverage": [coverage_or_none(i) for i in found]},
        })
    return entries


def _path_sequences(task: Task, relu: Trajectory, top: int = 12) -> list[dict]:
    """The deep ReLU's pathways as sequences of per-layer context sets, by share of path weight
    (:func:`reln.identification.analysis.path_sequence_shares`), at the last epoch; the ``top`` largest by mean."""
    per_seed = [
        path_sequence_shares(
            [w[s] for w in relu.final_params], [layer.pre[s, -1] > 0 for layer in relu.layers], task
        )
        for s in range(relu.loss.shape[0])
    ]
    keys = sorted(set().union(*per_seed), key=lambda k: -np.mean([d.get(k, 0.0) for d in per_seed]))[:top]
    return [
        {"contexts": [sorted(a) for a in key], "weight_share": [d.get(key, 0.0) for d in per_seed]} for key in keys
    ]


def _explicit_pathways(gdln: GDLN, shares: list[dict] | None) -> list[dict]:
    """Pathway entries of an explicit GDLN; weight shares from ReLU units on the same contexts."""
    entries = []
    for name, contexts, inputs, widths in zip(gdln.names, gdln.contexts, gdln.inputs, gdln.widths):
        per_seed = None if shares is None or contexts is None else [d.get(frozenset(contexts), 0.0) for d in shares]
        entries.append({
            "name": name,
            "contexts": None if contexts is None else list(contexts),
            "inputs": inputs,
            "units": int(widths.sum()),
            "weight_share": None if per_seed is None else float(np.mean(per_seed)),
            "weight_share_seeds": per_seed,
        })
    return entries


def _identified_pathways(task: Task, identifications: list[Identification]) -> list[dict]:
    """Pathway entries of an identified ReLN: the union of context sets over seeds."""
    from reln.relns.imitate import reln_structure

    sets, inputs = reln_structure(task, identifications)
    entries = []
    for contexts, inp in zip(sets, inputs):
        found = [next((p for p in i.pathways if p.contexts == contexts), None) for i in identifications]
        entries.append({
            "name": "{" + ",".join(str(c + 1) for c in contexts) + "}",
            "contexts": list(contexts),
            "inputs": inp,
            "units": [0 if p is None else len(p.units) for p in found],
            "weight_share": float(np.mean([0.0 if p is None else p.weight_share for p in found])),
            "weight_share_seeds": [0.0 if p is None else p.weight_share for p in found],
            "settle_epoch": [None if p is None else p.settle_epoch for p in found],
        })
    return entries


def compute_metrics(
    task: Task,
    trajectories: dict[str, Trajectory],
    gdlns: dict[str, GDLN],
    identifications: list[Identification] | None = None,
    builds: dict[str, dict] | None = None,
    thresholds: IdentifyConfig = IdentifyConfig(),
) -> dict:
    """The ``metrics.json`` document (DESIGN.md, "The run contract"); ``thresholds`` are the
    identification's (``[identify]``), for the selectivity of every layer."""
    metrics: dict = {
        "task": {
            "name": task.name, "P": task.P, "n_in": task.n_in, "n_out": task.n_out,
            "items": task.n_items, "contexts": task.n_contexts,
            "loss_initial": task.loss_initial, "loss_linear_floor": task.loss_linear_floor,
        }
    }
    relu = trajectories.get("relu")
    shares = None
    relu_parts = None if relu is None else trajectory_split(task, relu)  # once, for every model's gap_split
    if relu is not None:
        shares = _relu_context_shares(task, relu)
        metrics["relu"] = _curve_metrics(relu) | {"context_weight_shares": _shares_table(shares)}
        if len(relu.layers) > 1:
            metrics["relu"]["layers"] = _layer_metrics(
                task, relu, activity_threshold=thresholds.activity_threshold, min_unit_weight=thresholds.min_unit_weight,
            )
            metrics["relu"]["path_sequences"] = _path_sequences(task, relu)
        metrics["relu"]["gating_course"] = gating_course(
            task, relu, activity_threshold=thresholds.activity_threshold, min_unit_weight=thresholds.min_unit_weight,
        )
        metrics["relu"]["stage"] = stage_metrics(
            task, relu, activity_threshold=thresholds.activity_threshold, min_unit_weight=thresholds.min_unit_weight,
        )
        if identifications is not None:
            per_seed = [selectivity(i, task.n_contexts) for i in identifications]
            metrics["relu"]["selectivity"] = {
                kind: [s[kind] for s in per_seed] for kind in SELECTIVITY_CLASSES
            } | {"within_context_coverage": [coverage_or_none(i) for i in identifications],
                 "activity_threshold": identifications[0].activity_threshold}
    for model in trajectories:
        builds = builds or {}
        if model not in gdlns and model not in builds:
            continue  # the ReLU itself, or a model with its own section (theory)
        if model in gdlns:
            phases = 1 if gdlns[model].phase_gates is None else len(gdlns[model].phase_gates)
            section = {"pathways": _explicit_pathways(gdlns[model], shares), "reads_from_relu": Reads(
                gate_phases=phases, read_phases=0, gate_level="none", numbers=0, initial_weights=False).as_dict()}
        else:
            section = {
                "pathways": _identified_pathways(task, identifications),
                "unassigned_share": [i.unassigned_share for i in identifications],
                "identified_at_epoch": identifications[0].epoch,
                **builds[model],
            }
        metrics[model] = section | _curve_metrics(trajectories[model])
        if relu is not None:
            metrics[model]["gap_to_relu"] = gap_to_reference(trajectories[model].loss, relu.loss)
            _add_gap_split(metrics[model], task, trajectories[model], relu, relu_parts)
    for name in ("theory", "prediction", "prediction_seeded"):
        theory = trajectories.get(name)
        if theory is None:
            continue
        # one row per ReLU seed (the theory of each seed's schedule) or one row (explicit pathways, the prediction)
        metrics[name] = _curve_metrics(theory) | {
            "singular_values_final": theory.singular_values[:, -1].tolist(),
        }
        if relu is not None:
            rows = theory.loss if len(theory.loss) == len(relu.loss) else np.repeat(theory.loss[:1], len(relu.loss), 0)
            metrics[name]["gap_to_relu"] = gap_to_reference(rows, relu.loss)
            _add_gap_split(metrics[name], task, theory, relu, relu_parts)
    return metrics


def _split_snapshots(flow) -> dict:
    """A flow's loss split as a trajectory's snapshot (``loss_split``), where the flow kept one."""
    return {} if flow.split is None else {"loss_split": flow.split}


def split_parts(split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(linear, gated)`` each ``(rows, snapshots)`` from a flow's split ``(rows, snapshots, 2)``.

    >>> [part.tolist() for part in split_parts(np.array([[[1.0, 2.0], [3.0, 4.0]]]))]
    [[[1.0, 3.0]], [[2.0, 4.0]]]
    """
    return tuple(np.moveaxis(np.asarray(split), -1, 0))


def trajectory_split(task: Task, trajectory: Trajectory):
    """A trajectory's loss split at its snapshots (:func:`reln.identification.analysis.loss_split`),
    ``(linear, gated)`` each ``(rows, snapshots)``, from its outputs or its flow's own split
    (``snapshots["loss_split"]``, ``(rows, snapshots, 2)``); ``None`` if it keeps neither.

    >>> from reln.tasks import contextual_task
    >>> flow = Trajectory(loss=np.ones((1, 11)), snapshot_epochs=np.array([0, 10]), final_params=[],
    ...                   seconds=np.zeros(1), snapshots={"loss_split": np.ones((1, 2, 2))})
    >>> [part.shape for part in trajectory_split(contextual_task(4, 2), flow)]
    [(1, 2), (1, 2)]
    """
    if trajectory.output is not None:
        return loss_split(task, trajectory.output)
    if "loss_split" in trajectory.snapshots:
        return split_parts(trajectory.snapshots["loss_split"])
    return None


def gap_split_to_relu(parts, snapshot_epochs: np.ndarray, relu_parts, relu: Trajectory) -> dict | None:
    """A model's ``gap_split`` (:func:`reln.identification.analysis.split_gap`) from its loss split
    ``parts`` at ``snapshot_epochs`` and the ReLU run's, ``relu_parts`` (:func:`trajectory_split`
    of ``relu``, computed once for all models), at the snapshots both keep; ``None`` where either
    split is missing. A single model row is compared with every ReLU seed.

    >>> from reln.tasks import contextual_task
    >>> task = contextual_task(4, 2)
    >>> relu = Trajectory(loss=np.ones((1, 11)), snapshot_epochs=np.array([0, 10]), final_params=[],
    ...                   seconds=np.zeros(1), output=np.zeros((1, 2, *task.Y.shape)))
    >>> parts = trajectory_split(task, relu)
    >>> gap_split_to_relu(parts, relu.snapshot_epochs, parts, relu)["gated"]
    [0.0]
    """
    if relu_parts is None or parts is None:
        return None
    common, mine, theirs = np.intersect1d(snapshot_epochs, relu.snapshot_epochs, return_indices=True)
    reference = [p[:, theirs] for p in relu_parts]
    parts = [np.broadcast_to(p[:, mine], reference[0].shape) if len(p) == 1 else p[:, mine] for p in parts]
    return split_gap(parts, reference, common, relu.loss[:, 0])


def _loss_parts(run: Run) -> dict:
    """Model -> ``(snapshot_epochs, linear, gated)`` for the loss-split figure, the ReLU first."""
    parts = {}
    for model in sorted(run.trajectories, key=lambda m: m != "relu"):
        split = trajectory_split(run.task, run.trajectories[model])
        if split is not None:
            parts[model] = (run.trajectories[model].snapshot_epochs, *split)
    return parts


def _add_gap_split(section: dict, task: Task, model: Trajectory, relu: Trajectory, relu_parts) -> None:
    """Put the model's ``gap_split`` into its ``metrics.json`` section where it can be had."""
    split = gap_split_to_relu(trajectory_split(task, model), model.snapshot_epochs, relu_parts, relu)
    if split is not None:
        section["gap_split"] = split


def _arrays(run: Run) -> dict[str, np.ndarray]:
    """The contents of ``results.npz``: ``seeds``, ``X``, ``Y``; per model ``{model}_loss``
    ``(seeds, epochs + 1)``, ``{model}_snapshot_epochs``, every snapshot but hidden activity as
    ``{model}_{name}`` ``(seeds, snapshots, ...)``, final weights ``{model}_final_W{l}``; and the
    ReLN's gates and masks."""
    arrays = {"seeds": np.array(run.config.train.seeds), "X": run.task.X, "Y": run.task.Y}
    for model, trajectory in run.trajectories.items():
        arrays[f"{model}_loss"] = trajectory.loss
        # ReLU snapshots are kept every 100 epochs (and the last) in the file: the compact schedule
        # and the replay read them every 10, which would make the file 10x larger.
        keep = (trajectory.snapshot_epochs % 100 == 0) | (trajectory.snapshot_epochs == trajectory.snapshot_epochs[-1])
        if model != "relu":
            keep[:] = True
        arrays[f"{model}_snapshot_epochs"] = trajectory.snapshot_epochs[keep]
        for l, layer in enumerate(trajectory.layers):  # the file keeps the gates, not the activity
            for name, value in (("gates", None if layer.pre is None else layer.pre > 0),
                                ("unit_weight", layer.unit_weight), ("imbalance", layer.imbalance)):
                if value is not None:
                    arrays[f"{model}_{name}_{l}"] = value[:, keep]
        typed = {"output": trajectory.output, "singular_values": trajectory.singular_values,
                 "pathway_maps": trajectory.pathway_maps}
        for key, value in {**typed, **trajectory.snapshots}.items():
            if value is not None:
                arrays[f"{model}_{key}"] = value[:, keep]
        for l, weights in enumerate(trajectory.final_params):
            arrays[f"{model}_final_W{l}"] = weights
    for model, gdln in run.gdlns.items():
        arrays[f"{model}_gates"] = gdln.gates
        arrays[f"{model}_input_masks"] = gdln.input_masks
        arrays[f"{model}_output_masks"] = gdln.output_masks
    return arrays


def _measured_pathway_singular_values(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The compact ReLN's pathway maps (units grouped by the contexts they are on in, as recorded
    by :func:`reln.relns.unit_gated.fit_gate_schedules`), as singular values by pathway name."""
    reln = run.trajectories.get("reln")
    sets = run.metrics.get("reln", {}).get("pathway_sets")
    if reln is None or not sets or reln.pathway_maps is None:
        return {}
    values = np.linalg.svd(np.asarray(reln.pathway_maps, np.float64), compute_uv=False)
    return {
        "{" + ",".join(str(c + 1) for c in contexts) + "}": (reln.snapshot_epochs, values[:, :, p])
        for p, contexts in enumerate(sets)
    }


def run_outputs(run: Run, formats: Sequence[str] = ("png",)) -> dict:
    """File name -> writer, for :func:`reln.experiment.io.write_all`: ``config.json``,
    ``results.npz``, ``metrics.json`` and every figure in each of ``formats`` (PNG by default;
    ``("png", "pdf")`` adds vector files for print; ``()`` draws none)."""
    formats = check_figure_formats(formats) if formats else ()
    from reln.experiment.provenance import environment

    env = environment(run.config.train.x64)
    config = config_to_dict(run.config) | {"reln_version": package_version(), "environment": env}
    writers = {
        "config.json": json_writer(config),
        "results.npz": npz_writer(_arrays(run)),
        "metrics.json": json_writer(run.metrics | {"environment": env}),
    }
    for stem, figure in (run_figures(run) if formats else {}).items():
        writers |= figure_writers(stem, figure, formats)
    return writers


def run_figures(run: Run) -> dict:
    """File stem -> matplotlib figure, every figure of a run (drawn from what the run holds)."""
    from reln.viz.plots import (
        MODEL_LABELS, gating_course_figure, layer_structure_figure, loss_figure, loss_split_figure, phase_structure_figure, predicted_structure_figure,
        representation_figures, singular_value_figure, structure_figure,
    )

    figures = {}
    figures["loss"] = loss_figure(
        {m: t.loss for m, t in run.trajectories.items()},
        title=f"{run.config.name}: {run.task.name}",
        linear_floor=run.task.loss_linear_floor,
        plateaus={"start, ½‖Y‖² (small init)": run.task.loss_initial},
        seeds=list(run.config.train.seeds),
        # deep networks learn in sharp steps whose timing varies by seed: a real run, not the mean
        bold="nearest" if len(run.config.relu.hidden) > 1 else "mean",
        closed_forms=run.closed_forms,
    )
    parts = _loss_parts(run)
    if len(parts) > 1:
        figures["loss_split"] = loss_split_figure(
            parts, title=f"{run.config.name}: where each model learns, the loss a linear map can remove and the loss only gating can",
            linear_floor=run.task.loss_linear_floor)
    course = run.metrics.get("relu", {}).get("gating_course")
    if course:
        figures["gating"] = gating_course_figure(
            course, title=f"{run.config.name}: how the ReLU's units gate (first hidden layer): leaving contexts, or items inside them",
        )
    layers = run.metrics.get("relu", {}).get("layers")
    if layers:
        figures["layers"] = (layer_structure_figure(
            layers, run.task.n_contexts,
            title=f"{run.config.name}: where the gating lives, ReLU units by the contexts they are active in",
        ))
    for model, gdln in run.gdlns.items():
        trajectory = run.trajectories[model]
        if trajectory.singular_values is not None:
            figures[f"{model}_singular_values"] = (singular_value_figure(
                trajectory.snapshot_epochs, trajectory.singular_values, list(gdln.names),
                title=f"{run.config.name}: {MODEL_LABELS.get(model, model)}, singular values of each pathway's map",
            ))
    theory = run.trajectories.get("theory")
    if theory is not None and theory.singular_values is not None:
        figures["theory_singular_values"] = (singular_value_figure(
            theory.snapshot_epochs, theory.singular_values, run.metrics["theory"]["pathways"],
            title=f"{run.config.name}: singular values of each identified pathway, predicted by the theory (solid) "
            "and measured in the trained ReLN (dashed)",
            measured=_measured_pathway_singular_values(run), measured_label="ReLN (dashed)",
        ))
    identified_model = next((m for m in ("reln", "replay") if m in run.metrics and "unassigned_share" in run.metrics[m]), None)
    if run.metrics.get("reln", {}).get("phases"):
        figures["reln_phases"] = (phase_structure_figure(
            run.metrics["reln"]["phases"],
            title=f"{run.config.name}: the compact ReLN's pathways in each gate phase (seed {run.config.train.seeds[0]})",
        ))
    prediction = run.trajectories.get("prediction")
    if prediction is not None:
        measured = _measured_pathway_singular_values(run)
        figures["prediction_singular_values"] = (singular_value_figure(
            prediction.snapshot_epochs, prediction.singular_values,
            [p["name"] for p in run.metrics["prediction"]["pathways"]],
            title=f"{run.config.name}: singular values of each predicted pathway (task and init law only)"
            + (", beside the compact ReLN's pathway of the same contexts (dashed)" if measured else ""),
            measured=measured, measured_label="compact ReLN (dashed)",
        ))
    predictions = {m: run.metrics[m]["pathways"] for m in ("prediction", "prediction_seeded") if m in run.metrics}
    if predictions and "pathways" in run.metrics.get("reln", {}):
        figures["predicted_structure"] = predicted_structure_figure(
            run.metrics["reln"]["pathways"], predictions,
            title=f"{run.config.name}: the ReLN predicted before training beside the one identified after it",
        )
    if run.identifications is not None and identified_model:
        structure = structure_figure(
            run.metrics[identified_model]["pathways"], run.task.n_contexts,
            title=f"{run.config.name}: ReLN identified from the ReLU network",
        )
        figures["structure"] = structure
    # Outputs, data, MDS and RDM figures of the first seed; a GDLN's by its final gates.
    gates = {m: (g.gates, g.input_masks, g.output_masks) for m, g in run.gdlns.items()}
    for model, final in run.final_gates.items():  # the gates each identified model ended with
        if final is not None and model in run.trajectories and model not in run.gdlns:
            gates[model] = (final, None, None)
    for stem, figure in representation_figures(
        run.task, run.trajectories, gates, name=run.config.name, seed=run.config.train.seeds[0]
    ).items():
        figures[stem] = figure
    return figures
