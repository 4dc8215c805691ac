"""Typed, validated run configurations: TOML files and the presets shipped with the package.

A run configuration has one table per stage of the data flow: ``[task]`` builds the data, ``[relu]``
the ReLU network, ``[train]`` the optimisation, ``[identify]`` how pathways are read from the
trained network; and one table per model kind, holding only what that model uses: ``[reln]`` the
ReLN identified from the ReLU run (its gating and schedule rule, :class:`RelnConfig`), ``[replay]``
the replay of the ReLU's own gates (:class:`reln.gates.replay.ReplayOptions`), ``[prediction_seeded]``
how the seeded prediction feeds its error back (:class:`reln.theory.field.FieldFeedback`), and an explicit GDLN
each for ``[paper_reln]``, ``[modular]`` and ``[candidates.NAME]`` (:class:`GdlnConfig`). Every key
is checked: an unknown key, a key that does not apply to its model, a wrong type or an impossible
value raises :class:`~reln.errors.RelnError` naming the key and the fix.

Presets are TOML files in ``reln/presets``; ``reln presets`` lists them. An experiment is a config,
never a script.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import tomllib
from pathlib import Path
from typing import Any

from reln.errors import RelnError
from reln.gates.compact import CompactRule
from reln.gates.replay import KINK_RULES, ReplayOptions
from reln.theory.field import FieldFeedback

MODELS = ("relu", "reln", "replay", "paper_reln", "modular", "theory", "prediction", "prediction_seeded")
TASK_KINDS = ("contexts", "xor", "digits")
GATINGS = ("compact", "fixed")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(value, key: str) -> str:
    """A run, preset or model name: data, never a path (it names files and folders).

    Args:
        value: the name.
        key: what it is, for the error message.

    Returns:
        The name, when it is 1-64 letters, digits, ``_``, ``-`` or ``.``, starts with a letter or
        digit and holds no ``..``.
    """
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise RelnError(
            f"{key} {value!r} is not a valid name: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (no '/', '..' or spaces)"
        )
    return value


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """``[task]``: see :func:`reln.tasks.contextual_task`."""

    kind: str = "contexts"
    items: int = 8
    contexts: int = 3
    structures: str | tuple = "hierarchy"
    common: str | tuple = "hierarchy"
    context_scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class ReluConfig:
    """``[relu]``: hidden widths, init std (one, or one per weight matrix), snapshot interval.

    Snapshots hold the hidden gate pattern, unit sizes and output every ``snapshot_every`` epochs.
    """

    hidden: tuple[int, ...] = (700,)
    init_std: float | tuple[float, ...] = 0.005 / 700
    snapshot_every: int = 100


@dataclasses.dataclass(frozen=True)
class PathwayConfig:
    """``[[reln.pathways]]``: one pathway; see :class:`reln.models.pathways.Pathway`.

    ``contexts`` is ``"all"`` or a list of 0-based context indices; ``gate`` instead gives a 0/1
    value per sample (samples ordered context-major: ``c * items + i``).
    """

    contexts: str | tuple[int, ...] = "all"
    gate: tuple[float, ...] | None = None
    inputs: str = "all"
    hidden: tuple[int, ...] = (100,)
    init_std: float | tuple[float, ...] = 1e-5
    name: str = ""


@dataclasses.dataclass(frozen=True)
class GdlnConfig:
    """An explicit GDLN: ``[paper_reln]``, ``[modular]``, ``[candidates.NAME]``, or ``[reln]`` given
    a list of ``[[reln.pathways]]``.

    Attributes:
        pathways: the pathways (:class:`PathwayConfig`), at least one.
        rule: ``"total"`` (gradient descent on the total loss) or ``"staged"`` (the paper's staged
            rule, :func:`reln.models.pathways.check_rule`).
        snapshot_every: epochs between snapshots of the pathway maps.
    """

    pathways: tuple[PathwayConfig, ...] = ()
    rule: str = "total"
    snapshot_every: int = 10


@dataclasses.dataclass(frozen=True)
class RelnConfig:
    """``[reln]``: the ReLN identified from the ReLU run and built from its own units
    (:mod:`reln.relns.imitate`, docs/theory.md §5).

    Attributes:
        gating: ``"compact"`` (a handful of phases of whole-context gates, the early ones derived
            from the task and the initial weights; ``schedule`` is its rule) or ``"fixed"`` (each
            unit open on its final identified context set from ``t = 0``; no schedule).
        schedule: the compact rule, ``[reln.schedule]`` (:class:`reln.gates.CompactRule`);
            ``None`` for fixed gating.
    """

    gating: str = "compact"
    schedule: CompactRule | None = CompactRule()


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """``[train]``: learning rate, epochs, seeds, float64; ``allow_dead`` keeps the
    numbers of a model whose hidden units all died or whose loss ended above its start (an error
    otherwise, :func:`reln.experiment.experiments.check_learned`).

    ``batch_size`` (omitted: full batch, the paper's setting) trains the ReLU network by mini-batch
    SGD, ``ceil(P / batch_size)`` updates per epoch (:class:`reln.training.train.MiniBatch`), and every
    trained model with it: the GDLN models, and the compact, fixed and replayed ReLNs on the ReLU's
    own batches (the batch order of each run seed), as do the seeded prediction's units in their
    field. The theories and the task-only prediction take the deterministic part of such an epoch,
    ``ceil(P / batch_size)`` gradient steps of ``lr / ceil(P / batch_size)`` (:meth:`epoch_updates`;
    docs/theory.md §2.2, §9)."""

    lr: float = 1e-3
    epochs: int = 8001
    batch_size: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    x64: bool = False
    allow_dead: bool = False

    def epoch_updates(self, P: int) -> int:
        """Updates per epoch on ``P`` samples: ``ceil(P / batch_size)``, one for full batch
        (docs/theory.md §2.2); the theory and the predictions take as many steps an epoch.

        >>> TrainConfig(batch_size=5).epoch_updates(24), TrainConfig().epoch_updates(24)
        (5, 1)
        """
        if self.batch_size is None or self.batch_size >= P:
            return 1
        return -(-P // int(self.batch_size))


@dataclasses.dataclass(frozen=True)
class IdentifyConfig:
    """``[identify]``: how pathways are read from a trained ReLU network
    (:func:`reln.identification.identify.identify`, docs/theory.md §3.2).

    Attributes:
        activity_threshold: a unit is active on a sample where its activity exceeds this fraction
            of its own peak.
        min_unit_weight: units whose ``||w_in|| ||w_out||`` is below this fraction of the largest
            are left unassigned.
    """

    activity_threshold: float = 1e-3
    min_unit_weight: float = 1e-2


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole run: what to build, train and compare.

    Besides ``relu``, ``reln``, ``paper_reln`` and ``modular``, a config may name any number of
    explicit GDLNs as ``[candidates.NAME]`` tables (e.g. competing ReLNs of the XOR task); each
    becomes a model ``NAME``. ``[paper]`` holds the reference implementation's numbers
    (docs/theory.md §7) as ``{model: {metric: [low, high]}}``, shown beside ours in the report.
    """

    name: str = "run"
    description: str = ""
    question: str = ""  # what the experiment tests, for the report
    models: tuple[str, ...] | None = None  # default: relu, reln, and paper_reln when configured
    task: TaskConfig = TaskConfig()
    relu: ReluConfig = ReluConfig()
    identify: IdentifyConfig = IdentifyConfig()
    reln: RelnConfig | GdlnConfig = RelnConfig()  # identified from the ReLU run, or explicit pathways
    replay: ReplayOptions = ReplayOptions()  # the ReLU's own gates replayed, a diagnostic
    prediction_seeded: FieldFeedback = FieldFeedback()  # the seeded prediction's field fed back
    paper_reln: GdlnConfig | None = None  # an explicit GDLN to compare: the paper's hand-made ReLN
    modular: GdlnConfig | None = None  # the strictly modular control; built automatically if absent
    candidates: dict[str, GdlnConfig] = dataclasses.field(default_factory=dict)  # more explicit GDLNs
    train: TrainConfig = TrainConfig()
    paper: dict = dataclasses.field(default_factory=dict)  # the reference implementation's numbers


def identified(config: RunConfig) -> bool:
    """Whether the config's ``reln`` model is identified from the ReLU run (not explicit pathways)."""
    return isinstance(config.reln, RelnConfig)


def gdln_table(config: RunConfig, model: str) -> GdlnConfig:
    """The table configuring an explicit GDLN model (defaults for a modular control without one)."""
    if model in config.candidates:
        return config.candidates[model]
    tables = {"paper_reln": config.paper_reln, "modular": config.modular or GdlnConfig()}
    if not identified(config):
        tables["reln"] = config.reln
    return tables[model]


def gdln_models(config: RunConfig) -> tuple[str, ...]:
    """The explicit GDLN models a config asks for, in a fixed order: reln (given explicit
    pathways), paper_reln, modular, candidates."""
    models = ("paper_reln", "modular", *config.candidates) if identified(config) else ("reln", "paper_reln", "modular", *config.candidates)
    return tuple(m for m in models if m in config.models)


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def _build(cls, table: Any, where: str):
    """Instantiate a config dataclass from a TOML table, rejecting unknown keys."""
    if not isinstance(table, dict):
        raise RelnError(f"[{where}] must be a table, got {type(table).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise RelnError(
            f"unknown key(s) {', '.join(unknown)} in [{where}]; known keys: {', '.join(sorted(known))}"
        )
    return cls(**{k: _as_tuple(v) for k, v in table.items()})


def _check_type(value, types, key: str, hint: str) -> None:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise RelnError(f"{key} must be {hint}, got {value!r}")
    if not isinstance(value, types):
        raise RelnError(f"{key} must be {hint}, got {value!r}")


def _as_widths(value, key: str) -> tuple[int, ...]:
    widths = value if isinstance(value, tuple) else (value,)
    for w in widths:
        _check_type(w, int, key, "a positive integer or a list of them")
        if w < 1:
            raise RelnError(f"{key} must be positive, got {w}")
    if not widths:
        raise RelnError(f"{key} needs at least one hidden width")
    return tuple(widths)


def _as_stds(value, key: str):
    stds = value if isinstance(value, tuple) else (value,)
    for s in stds:
        _check_type(s, (int, float), key, "a number or a list of numbers")
        if not s >= 0 or s == float("inf"):
            raise RelnError(f"{key} must be finite and >= 0, got {s!r}")
    return float(value) if not isinstance(value, tuple) else tuple(float(s) for s in value)


def _validate(config: RunConfig) -> RunConfig:
    """Check types and values that can be checked without building anything; normalise lists."""
    task, relu, train = config.task, config.relu, config.train
    if task.kind not in TASK_KINDS:
        raise RelnError(f"[task] kind '{task.kind}' is not known; use one of {', '.join(TASK_KINDS)}")
    _check_type(task.items, int, "[task] items", "an integer")
    _check_type(task.contexts, int, "[task] contexts", "an integer")
    _check_type(task.context_scale, (int, float), "[task] context_scale", "a number")
    relu = dataclasses.replace(
        relu,
        hidden=_as_widths(relu.hidden, "[relu] hidden"),
        init_std=_as_stds(relu.init_std, "[relu] init_std"),
    )
    _check_type(relu.snapshot_every, int, "[relu] snapshot_every", "a positive integer")
    for key in ("activity_threshold", "min_unit_weight"):
        value = getattr(config.identify, key)
        _check_type(value, (int, float), f"[identify] {key}", "a number in [0, 1)")
        if not 0 <= value < 1:
            raise RelnError(f"[identify] {key} must be in [0, 1), got {value}")
    reln = config.reln
    if isinstance(reln, RelnConfig):
        _check_reln(reln)
    else:
        reln = _validate_gdln(reln, "reln")
    paper_reln = None if config.paper_reln is None else _validate_gdln(config.paper_reln, "paper_reln")
    modular = None if config.modular is None else _validate_gdln(config.modular, "modular")
    _check_type(train.lr, (int, float), "[train] lr", "a positive number")
    _check_type(train.x64, bool, "[train] x64", "true or false")
    _check_type(train.allow_dead, bool, "[train] allow_dead", "true or false")
    _check_type(train.epochs, int, "[train] epochs", "a positive integer")
    if train.batch_size is not None:
        _check_type(train.batch_size, int, "[train] batch_size", "a positive integer (leave it out for full batch)")
        if train.batch_size < 1:
            raise RelnError(f"[train] batch_size must be a positive integer, got {train.batch_size}")
    if train.epochs < 1 or relu.snapshot_every < 1:
        raise RelnError("epochs and snapshot_every must be positive integers")
    if not 0 < train.lr < float("inf"):
        raise RelnError(f"[train] lr must be positive and finite, got {train.lr!r}")
    if isinstance(train.seeds, str):
        raise RelnError(f"[train] seeds must be a list of non-negative integers such as [0, 1], got {train.seeds!r}")
    seeds = train.seeds if isinstance(train.seeds, tuple) else (train.seeds,)
    for s in seeds:
        _check_type(s, int, "[train] seeds", "a list of non-negative integers")
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise RelnError(f"[train] seeds must be distinct non-negative integers, got {list(seeds)}")
    train = dataclasses.replace(train, seeds=tuple(seeds))
    models = config.models
    if models is None:
        models = ("relu", "reln") + (("paper_reln",) if paper_reln is not None else ())
    models = models if isinstance(models, tuple) else (models,)
    for m in models:
        _check_type(m, str, "models", "a list of model names such as [\"relu\", \"reln\"]")
    check_name(config.name, "run name")
    for name in config.candidates:
        check_name(name, "[candidates] model name")
    candidates = {name: _validate_gdln(table, f"candidates.{name}") for name, table in config.candidates.items()}
    for name in candidates:
        if name in MODELS:
            raise RelnError(f"[candidates.{name}]: '{name}' is a built-in model name; choose another")
    known = MODELS + tuple(candidates)
    unknown = [m for m in models if m not in known]
    if unknown or not models:
        raise RelnError(f"unknown model(s) {unknown}; choose from {', '.join(known)}")
    if "paper_reln" in models and paper_reln is None:
        raise RelnError("the 'paper_reln' model needs a [paper_reln] table with [[paper_reln.pathways]]")
    auto = isinstance(reln, RelnConfig)
    deep = len(relu.hidden) > 1
    if "theory" in models and auto:
        # the theory of a run is the flow of the compact ReLN of each ReLU seed
        if "relu" not in models:
            raise RelnError("the theory of an identified ReLN needs the ReLU run: add relu to the models "
                            "(or give an explicit [[reln.pathways]] list)")
        if deep:
            raise RelnError("the theory describes one-hidden-layer networks; drop 'theory' from the models")
    if ("prediction" in models or "prediction_seeded" in models) and deep:
        raise RelnError("the prediction describes one-hidden-layer networks; drop 'prediction' from the models")
    if "replay" in models and "relu" not in models:
        raise RelnError("the replay model replays the ReLU run's gates: add relu to the models")
    if "reln" in models and auto:
        if deep:
            raise RelnError("the ReLN of [reln] describes one hidden layer; for deep networks run the "
                            "'replay' model (the ReLU's own gates, every layer)")
        if "relu" not in models:
            raise RelnError("the ReLN of [reln] is identified from the ReLU run: add relu to the models "
                            "(or give an explicit [[reln.pathways]] list)")
    if auto and "relu" in models and {"reln", "theory", "replay"} & set(models) and relu.snapshot_every > 10:
        # the compact schedule, its theory and the replay read the ReLU's checkpoints at multiples
        # of 10 epochs (the replay per sample through its first drop); deep networks hold a large
        # array of checkpoints per seed for it
        relu = dataclasses.replace(relu, snapshot_every=10)
    replay = _validate_replay(config.replay, relu.snapshot_every)
    return dataclasses.replace(
        config, models=tuple(models), relu=relu, reln=reln, replay=replay, paper_reln=paper_reln, modular=modular,
        candidates=candidates, train=train,
    )


def _check_reln(reln: RelnConfig) -> None:
    """``[reln]``: a known gating, a schedule rule exactly when the gating is compact."""
    if reln.gating not in GATINGS:
        raise RelnError(f"[reln] gating must be one of {', '.join(GATINGS)}, got '{reln.gating}' "
                        "(the ReLU's own gates replayed are the 'replay' model, configured in [replay])")
    if reln.gating == "compact" and not isinstance(reln.schedule, CompactRule):
        raise RelnError("[reln] gating = 'compact' needs its schedule rule ([reln.schedule])")
    if reln.gating == "fixed" and reln.schedule is not None:
        raise RelnError("[reln.schedule] applies to gating = 'compact' only; fixed gating has no schedule")


def _validate_replay(replay: ReplayOptions, snapshot_every: int) -> ReplayOptions:
    """``[replay]``: every option's type and range; intervals on the ReLU's checkpoints."""
    if replay.gate_level not in ("context", "sample"):
        raise RelnError(f"[replay] gate_level must be 'context' or 'sample', got '{replay.gate_level}'")
    _check_type(replay.pin_kinks, bool, "[replay] pin_kinks", "true or false")
    _check_type(replay.kink_stiffness, (int, float), "[replay] kink_stiffness", "a number in (0, 1]")
    if not 0 < replay.kink_stiffness <= 1:
        raise RelnError(f"[replay] kink_stiffness must be in (0, 1], got {replay.kink_stiffness}")
    _check_type(replay.gate_threshold, (int, float), "[replay] gate_threshold", "a number in [0, 1)")
    if not 0 <= replay.gate_threshold < 1:
        raise RelnError(f"[replay] gate_threshold must be in [0, 1), got {replay.gate_threshold}")
    if replay.fine_until is not None:
        _check_type(replay.fine_until, int, "[replay] fine_until", "a non-negative integer epoch (or leave it out)")
    if replay.kink_rule not in KINK_RULES:
        raise RelnError(f"[replay] kink_rule must be one of {', '.join(KINK_RULES)}, got '{replay.kink_rule}'")
    if replay.kink_rule == "sliding" and replay.gate_level != "sample":
        raise RelnError("[replay] kink_rule = 'sliding' follows per-sample gates: it needs gate_level = 'sample'")
    _check_type(replay.slide_epochs, int, "[replay] slide_epochs", "a non-negative integer")
    if replay.slide_epochs < 0 or replay.slide_epochs % snapshot_every:
        raise RelnError(
            f"[replay] slide_epochs must be a non-negative multiple of the ReLU's snapshot_every "
            f"({snapshot_every}), got {replay.slide_epochs}"
        )
    if replay.regroup_every is not None:
        _check_type(replay.regroup_every, int, "[replay] regroup_every", "a positive integer")
        if replay.regroup_every < 1 or replay.regroup_every % snapshot_every:
            raise RelnError(
                f"[replay] regroup_every must be a positive multiple of the ReLU's snapshot_every "
                f"({snapshot_every}), got {replay.regroup_every}"
            )
    return replay


def _check_pathway(p: PathwayConfig, key: str) -> None:
    """A pathway's contexts are "all" or integer indices; its gate numbers, not all zero."""
    hint = '"all" or a non-empty list of 0-based integer context indices such as [0, 2]'
    if p.contexts != "all":
        if not isinstance(p.contexts, tuple) or not p.contexts:
            raise RelnError(f"{key} contexts must be {hint}, got {p.contexts!r}")
        for c in p.contexts:
            _check_type(c, int, f"{key} contexts", hint)
    if p.gate is not None:
        if not isinstance(p.gate, tuple):
            raise RelnError(f"{key} gate must be a list of 0/1 values, one per sample, got {p.gate!r}")
        for g in p.gate:
            _check_type(g, (int, float), f"{key} gate", "a list of 0/1 values, one per sample")
        if not any(g != 0 for g in p.gate):
            raise RelnError(f"{key} gate is 0 on every sample, so the pathway never learns; gate it on or remove it")


def _validate_gdln(table: GdlnConfig, name: str) -> GdlnConfig:
    """Check an explicit GDLN's table; normalise its pathway list."""
    _check_type(table.snapshot_every, int, f"[{name}] snapshot_every", "a positive integer")
    if table.snapshot_every < 1:
        raise RelnError(f"[{name}] snapshot_every must be a positive integer")
    if not table.pathways:
        raise RelnError(f"[{name}] needs a non-empty list of [[{name}.pathways]] tables")
    for i, p in enumerate(table.pathways):
        _check_pathway(p, f"[[{name}.pathways]] {i}")
    pathways = tuple(
        dataclasses.replace(
            p,
            hidden=_as_widths(p.hidden, f"[[{name}.pathways]] {i} hidden"),
            init_std=_as_stds(p.init_std, f"[[{name}.pathways]] {i} init_std"),
        )
        for i, p in enumerate(table.pathways)
    )
    return dataclasses.replace(table, pathways=pathways)


def config_from_dict(data: dict, name: str = "run") -> RunConfig:
    """Build and validate a :class:`RunConfig` from a parsed TOML/JSON document."""
    data = dict(data)
    if "theory" in data:
        raise RelnError("[theory] has no options: the theory integrates the compact ReLN of [reln] "
                        "(its schedule is [reln.schedule]); remove the table")
    tables = {
        "task": (TaskConfig, data.pop("task", {})),
        "relu": (ReluConfig, data.pop("relu", {})),
        "train": (TrainConfig, data.pop("train", {})),
        "identify": (IdentifyConfig, data.pop("identify", {})),
        "replay": (ReplayOptions, data.pop("replay", {})),
        "prediction_seeded": (FieldFeedback, data.pop("prediction_seeded", {})),
    }
    built = {key: _build(cls, table, key) for key, (cls, table) in tables.items()}
    built["reln"] = _reln_table(data.pop("reln", {}))
    for model in ("paper_reln", "modular"):
        table = data.pop(model, None)
        if table is not None:
            built[model] = _gdln_table(table, model)
    candidates = data.pop("candidates", {})
    if not isinstance(candidates, dict):
        raise RelnError("[candidates] must hold one table per candidate GDLN, e.g. [candidates.shared]")
    for candidate in candidates:  # before the tables are read: a bad name is the first thing to report
        check_name(candidate, "[candidates] model name")
    if "name" in data:
        raise RelnError(
            "top-level key 'name' is not a config key: a run is named after its config file or preset, "
            "and --out chooses its folder; remove the key"
        )
    check_name(name, "run name (the config file's name without .toml)")
    built["candidates"] = {name: _gdln_table(table, f"candidates.{name}") for name, table in candidates.items()}
    top = _build(RunConfig, {"name": name, **data}, "top level")
    return _validate(dataclasses.replace(top, **built))


def _gdln_table(table, name: str) -> GdlnConfig:
    """An explicit GDLN's table: its ``[[NAME.pathways]]`` list, ``rule`` and ``snapshot_every``."""
    if not isinstance(table, dict):
        raise RelnError(f"[{name}] must be a table, got {type(table).__name__}")
    table = dict(table)
    pathways = table.get("pathways")
    if not isinstance(pathways, list) or not pathways:
        raise RelnError(f"[{name}] needs a non-empty list of [[{name}.pathways]] tables (pathways = {pathways!r})")
    table["pathways"] = tuple(_build(PathwayConfig, p, f"{name}.pathways {i}") for i, p in enumerate(pathways))
    return _build(GdlnConfig, table, name)


_REPLAY_KEYS = {f.name for f in dataclasses.fields(ReplayOptions)}


def _reln_table(table) -> RelnConfig | GdlnConfig:
    """``[reln]``: an explicit GDLN when it lists ``[[reln.pathways]]``, else the identified ReLN
    (``gating`` and, for compact gating, the ``[reln.schedule]`` rule)."""
    if not isinstance(table, dict):
        raise RelnError(f"[reln] must be a table, got {type(table).__name__}")
    table = dict(table)
    if table.get("pathways", "auto") != "auto":
        if isinstance(table["pathways"], str):
            raise RelnError("[reln] pathways must be 'auto' or a non-empty list of [[reln.pathways]] tables")
        return _gdln_table(table, "reln")
    table.pop("pathways", None)
    misplaced = sorted(set(table) & _REPLAY_KEYS)
    if misplaced:
        raise RelnError(f"[reln] {', '.join(misplaced)}: options of the replay of the ReLU's own gates; "
                        "set them in [replay] (the compact ReLN's rule is [reln.schedule])")
    gating = table.get("gating", "compact")
    schedule = table.pop("schedule", None)
    if gating == "compact":
        if schedule is not None and not isinstance(schedule, dict):
            raise RelnError(f"[reln.schedule] must be a table, got {type(schedule).__name__}")
        try:
            table["schedule"] = _build(CompactRule, schedule or {}, "reln.schedule")
        except RelnError as error:
            message = str(error)
            raise RelnError(message if message.startswith("unknown key") else f"[reln.schedule] {message}") from None
    elif schedule is not None:
        raise RelnError("[reln.schedule] applies to gating = 'compact' only; fixed gating has no schedule")
    else:
        table["schedule"] = None
    return _build(RelnConfig, table, "reln")


def preset_names() -> list[str]:
    """Names of the presets shipped with the package.

    >>> "contexts-diff" in preset_names() and "xor" in preset_names()
    True
    """
    folder = importlib.resources.files("reln") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RelnError(f"{source} is not valid TOML: {error}") from None


def load_config(name_or_path: str) -> RunConfig:
    """A preset by name, or a TOML file by path.

    >>> config = load_config("contexts-diff")
    >>> config.task.contexts, config.relu.hidden, config.reln.gating
    (3, (700,), 'compact')
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file() or (path.exists() and name_or_path not in preset_names()):
        if not path.is_file():
            raise RelnError(f"config file '{name_or_path}' does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise RelnError(f"{path} is not UTF-8 text (byte {error.start}); save the config as UTF-8") from None
        data = _read_toml(text, str(path))
        if not data:
            raise RelnError(
                f"config file '{path}' is empty; it would run the full default silently. Give at least one "
                "table or key (e.g. [task]), or run a preset (reln presets lists them)"
            )
        return config_from_dict(data, name=path.stem)
    if name_or_path not in preset_names():
        raise RelnError(
            f"unknown preset '{name_or_path}'; presets: {', '.join(preset_names())} "
            "(or give a path to a .toml config)"
        )
    resource = importlib.resources.files("reln") / "presets" / f"{name_or_path}.toml"
    return config_from_dict(_read_toml(resource.read_text(), f"preset {name_or_path}"), name_or_path)


def with_overrides(config: RunConfig, **overrides) -> RunConfig:
    """Apply command-line overrides (``seeds``, ``epochs``, ``models``, ``x64``, ``allow_dead``)
    and re-validate.

    >>> config = with_overrides(load_config("contexts-3"), seeds=(0,), epochs=100, models=("relu", "reln"))
    >>> config.train.seeds, config.train.epochs, config.models
    ((0,), 100, ('relu', 'reln'))
    """
    train = config.train
    for key in ("seeds", "epochs", "x64", "allow_dead"):
        if overrides.get(key) is not None:
            train = dataclasses.replace(train, **{key: overrides[key]})
    config = dataclasses.replace(config, train=train)
    if overrides.get("models") is not None:
        config = dataclasses.replace(config, models=tuple(overrides["models"]))
    return _validate(config)


def with_values(config: RunConfig, values: dict) -> RunConfig:
    """Set dotted keys (``{"train.lr": 0.01, "relu.hidden": [200]}``) and re-validate.

    A key names a table of the config and one of its fields, as a config file writes
    ``[train] lr = 0.01``; a table within a table is one more step (``reln.schedule.late_phases``);
    lists become tuples. An unknown table or field is an error.

    >>> with_values(load_config("contexts-diff"), {"train.lr": 0.002}).train.lr
    0.002
    >>> with_values(load_config("contexts-diff"), {"reln.schedule.late_phases": 8}).reln.schedule.late_phases
    8
    """
    for key, value in values.items():
        path = key.split(".")
        if len(path) < 2 or not dataclasses.is_dataclass(getattr(config, path[0], None)):
            known = [f.name for f in dataclasses.fields(config) if dataclasses.is_dataclass(getattr(config, f.name))]
            raise RelnError(f"unknown config key '{key}': use TABLE.KEY with TABLE one of {', '.join(known)}")
        config = _set_path(config, path, tuple(value) if isinstance(value, list) else value, key)
    return _validate(config)


def _set_path(section, path: list[str], value, key: str):
    """``section`` with the field at ``path`` (one name per nested table) set to ``value``."""
    names = [f.name for f in dataclasses.fields(section)]
    if path[0] not in names:
        where = ".".join(key.split(".")[: len(key.split(".")) - len(path)]) or "top level"
        raise RelnError(f"unknown config key '{key}': [{where}] has {', '.join(names)}")
    if len(path) == 1:
        return dataclasses.replace(section, **{path[0]: value})
    inner = getattr(section, path[0])
    if not dataclasses.is_dataclass(inner):
        raise RelnError(f"unknown config key '{key}': '{path[0]}' is a value, not a table")
    return dataclasses.replace(section, **{path[0]: _set_path(inner, path[1:], value, key)})


def config_to_dict(config: RunConfig) -> dict:
    """The fully resolved configuration as plain JSON-ready data."""
    return dataclasses.asdict(config)
