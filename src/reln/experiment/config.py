"""Typed, validated run configurations: TOML files and the presets shipped with the package.

A run configuration (DESIGN.md, "The run contract") has four tables: ``[task]`` builds the data,
``[relu]`` the ReLU network, ``[reln]`` the gated deep linear network that should imitate it, and
``[train]`` the optimisation. Every key is checked: an unknown key, a wrong type or an impossible
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

MODELS = ("relu", "reln", "replay", "paper_reln", "modular", "theory", "prediction", "prediction_seeded")
TASK_KINDS = ("contexts", "xor", "digits")
GATINGS = ("compact", "switching", "fixed")
KINK_RULES = ("auto", "sliding", "band")  # reln.relns.unit_gated.layer_kink_rules
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
    """``[[reln.pathways]]``: one pathway; see :class:`reln.models.gdln.Pathway`.

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
class RelnConfig:
    """``[reln]`` (and ``[paper_reln]``): the pathways, the training rule, snapshot interval.

    ``pathways = "auto"`` identifies the ReLN from the ReLU run (:mod:`reln.identification.identify`) and builds
    it from the ReLU's own units (:mod:`reln.relns.imitate`): with ``gating = "switching"`` the gates
    follow the ReLU's checkpoints (``gate_threshold``: a unit is on for the samples where its
    pre-activation exceeds that fraction of its peak, and with ``pin_kinks`` its pre-activation
    is held where it lies within that band of zero, :func:`reln.gates.kinks.kink_gates`, in hidden
    layers past the first by a penalty that removes ``kink_stiffness`` of it per step,
    :func:`reln.gates.kinks.kink_penalty`;
    ``gate_level = "context"`` gates it on whole contexts instead; before that, the ReLU's own
    per-sample gates are followed until ``fine_until``, by default the ReLU's first drop,
    :func:`reln.relns.imitate.first_drop_epoch`, and after it they are read every ``regroup_every``
    epochs, by default 100: ``kink_rule = "band"``, the default for deep networks; for one hidden
    layer, ``"sliding"``: the ReLU's own per-sample gates every 10 epochs, with the pairs that have
    stayed within the band for ``slide_epochs`` held at their kink,
    :func:`reln.relns.imitate.sliding_schedule`); with ``"fixed"`` they are the final identified context sets.
    ``identify_threshold`` and ``min_unit_weight`` set the identification reported in
    ``metrics.json``. An explicit list of ``[[reln.pathways]]`` trains that GDLN instead.
    """

    pathways: str | tuple[PathwayConfig, ...] = "auto"
    rule: str = "total"
    snapshot_every: int = 10
    gating: str = "compact"
    gate_threshold: float = 0.1
    gate_level: str = "sample"
    pin_kinks: bool = True
    kink_stiffness: float = 0.02
    fine_until: int | None = None
    regroup_every: int | None = None
    kink_rule: str = "auto"
    slide_epochs: int = 200
    identify_threshold: float = 1e-3
    min_unit_weight: float = 1e-2


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """``[train]``: learning rate, epochs, seeds, float64; ``allow_dead`` keeps the
    numbers of a model whose hidden units all died or whose loss ended above its start (an error
    otherwise, :func:`reln.experiment.experiments.check_learned`).

    ``batch_size`` (omitted: full batch, the paper's setting) trains the ReLU network and the
    GDLN models by mini-batch SGD, ``ceil(P / batch_size)`` updates per epoch
    (:class:`reln.training.train.MiniBatch`); the compact ReLN, the theory and the prediction stay the
    full-batch gradient flow the theory describes, so their gap to the ReLU then measures what
    the batch noise changes (docs/theory.md §2.2, §9)."""

    lr: float = 1e-3
    epochs: int = 8001
    batch_size: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    x64: bool = False
    allow_dead: bool = False


@dataclasses.dataclass(frozen=True)
class TheoryConfig:
    """``[theory]``: the gates the switching theory (:func:`reln.theory.predict_switching`) reads
    from the ReLU's checkpoints, with ``[reln]``'s ``gate_threshold`` and ``fine_until``.

    Its own defaults differ from the switching ReLN's: the theory's units are balanced effective
    units, not the ReLU's, so a pair pinned at the ReLU's kink is not at the theory unit's kink.
    Gating per sample with pinned kinks tracks the ReLU worse than whole contexts on
    ``contexts-3`` and ends on a higher loss (held pairs leave a floor); with two contexts the two
    are alike (the report of ``reln reproduce`` shows them).
    """

    gate_level: str = "context"
    pin_kinks: bool = False


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
    reln: RelnConfig = RelnConfig()
    theory: TheoryConfig = TheoryConfig()
    replay: RelnConfig | None = None  # the ReLU's own gates replayed (gating "switching"), a diagnostic
    paper_reln: RelnConfig | None = None  # an explicit GDLN to compare: the paper's hand-made ReLN
    modular: RelnConfig | None = None  # the strictly modular control; built automatically if absent
    candidates: dict[str, RelnConfig] = dataclasses.field(default_factory=dict)  # more explicit GDLNs
    train: TrainConfig = TrainConfig()
    paper: dict = dataclasses.field(default_factory=dict)  # the reference implementation's numbers


def gdln_table(config: RunConfig, model: str) -> RelnConfig:
    """The table configuring an explicit GDLN model (defaults for a modular control without one)."""
    if model in config.candidates:
        return config.candidates[model]
    return {"reln": config.reln, "paper_reln": config.paper_reln, "modular": config.modular or RelnConfig()}[model]


def gdln_models(config: RunConfig) -> tuple[str, ...]:
    """The GDLN models a config asks for, in a fixed order: reln, paper_reln, modular, candidates."""
    return tuple(m for m in ("reln", "paper_reln", "modular", *config.candidates) if m in config.models)


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
    task, relu, reln, train = config.task, config.relu, config.reln, config.train
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
    reln = _validate_reln(reln, "reln")
    replay = _validate_reln(config.replay or RelnConfig(gating="switching"), "replay")
    if replay.gating != "switching" or replay.pathways != "auto":
        raise RelnError("[replay] replays the ReLU's own gates: leave out gating and pathways there")
    if config.theory.gate_level not in ("context", "sample"):
        raise RelnError(f"[theory] gate_level must be 'context' or 'sample', got '{config.theory.gate_level}'")
    _check_type(config.theory.pin_kinks, bool, "[theory] pin_kinks", "true or false")
    paper_reln = None if config.paper_reln is None else _validate_reln(config.paper_reln, "paper_reln")
    modular = None if config.modular is None else _validate_reln(config.modular, "modular")
    if modular is not None and modular.pathways == "auto":
        raise RelnError("[modular] needs an explicit [[modular.pathways]] list, or leave the table out")
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
    candidates = {name: _validate_reln(table, f"candidates.{name}") for name, table in config.candidates.items()}
    for name, table in candidates.items():
        if name in MODELS:
            raise RelnError(f"[candidates.{name}]: '{name}' is a built-in model name; choose another")
        if table.pathways == "auto":
            raise RelnError(f"[candidates.{name}] needs an explicit [[candidates.{name}.pathways]] list")
    known = MODELS + tuple(candidates)
    unknown = [m for m in models if m not in known]
    if unknown or not models:
        raise RelnError(f"unknown model(s) {unknown}; choose from {', '.join(known)}")
    if "paper_reln" in models and paper_reln is None:
        raise RelnError("the 'paper_reln' model needs a [paper_reln] table with [[paper_reln.pathways]]")
    if "paper_reln" in models and paper_reln.pathways == "auto":
        raise RelnError("[paper_reln] needs an explicit [[paper_reln.pathways]] list, not 'auto'")
    if "theory" in models and reln.pathways == "auto":
        # the theory of a run is the flow of the ReLN identified from each ReLU seed
        if "relu" not in models:
            raise RelnError("the theory of an identified ReLN needs the ReLU run: add relu to the models "
                            "(or give an explicit [[reln.pathways]] list)")
        if len(relu.hidden) > 1:
            raise RelnError("the theory describes one-hidden-layer networks; drop 'theory' from the models")
    if ("prediction" in models or "prediction_seeded" in models) and len(relu.hidden) > 1:
        raise RelnError("the prediction describes one-hidden-layer networks; drop 'prediction' from the models")
    if "replay" in models and "relu" not in models:
        raise RelnError("the replay model replays the ReLU run's gates: add relu to the models")
    if "reln" in models and reln.pathways == "auto":
        if reln.gating == "compact" and len(relu.hidden) > 1:
            raise RelnError("the compact ReLN describes one hidden layer; for deep networks run the "
                            "'replay' model (or [reln] gating = 'switching')")
        if "relu" not in models:
            raise RelnError("pathways = 'auto' identifies the ReLN from the ReLU run: add relu to the models")
        if reln.gating == "fixed" and len(relu.hidden) > 1:
            raise RelnError("gating = 'fixed' builds a one-hidden-layer ReLN; use gating = 'switching' for deep networks")
    reads_gates = ("reln" in models and reln.gating in ("switching", "compact")) or "theory" in models or "replay" in models
    if reln.pathways == "auto" and "relu" in models and reads_gates and relu.snapshot_every > 10:
        # the switching ReLN and the theory read the ReLU's per-sample gates every 10 epochs
        # through its first drop (at 100 both track the ReLU worse: depth, and the theory at two
        # contexts); deep networks hold a large array of checkpoints per seed for it
        relu = dataclasses.replace(relu, snapshot_every=10)
    for name, table in (("reln", reln), ("replay", replay)):
        if table.kink_rule not in KINK_RULES:
            raise RelnError(f"[{name}] kink_rule must be one of {', '.join(KINK_RULES)}, got '{table.kink_rule}'")
        if table.kink_rule == "sliding" and table.gate_level != "sample":
            raise RelnError(f"[{name}] kink_rule = 'sliding' follows per-sample gates: it needs gate_level = 'sample'")
        _check_type(table.slide_epochs, int, f"[{name}] slide_epochs", "a non-negative integer")
        if table.slide_epochs < 0 or table.slide_epochs % relu.snapshot_every:
            raise RelnError(
                f"[{name}] slide_epochs must be a non-negative multiple of the ReLU's snapshot_every "
                f"({relu.snapshot_every}), got {table.slide_epochs}"
            )
        if table.regroup_every is not None:
            _check_type(table.regroup_every, int, f"[{name}] regroup_every", "a positive integer")
            if table.regroup_every < 1 or table.regroup_every % relu.snapshot_every:
                raise RelnError(
                    f"[{name}] regroup_every must be a positive multiple of the ReLU's snapshot_every "
                    f"({relu.snapshot_every}), got {table.regroup_every}"
                )
    return dataclasses.replace(
        config, models=tuple(models), relu=relu, reln=reln, replay=replay, paper_reln=paper_reln, modular=modular,
        candidates=candidates, train=train,
    )


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


def _validate_reln(reln: RelnConfig, table: str) -> RelnConfig:
    """Check a ``[reln]`` or ``[paper_reln]`` table; normalise its pathway list."""
    if reln.fine_until is not None:
        _check_type(reln.fine_until, int, f"[{table}] fine_until", "a non-negative integer epoch (or leave it out)")
    _check_type(reln.snapshot_every, int, f"[{table}] snapshot_every", "a positive integer")
    if reln.snapshot_every < 1:
        raise RelnError(f"[{table}] snapshot_every must be a positive integer")
    if reln.gating not in GATINGS:
        raise RelnError(f"[{table}] gating must be one of {', '.join(GATINGS)}, got '{reln.gating}'")
    if reln.gate_level not in ("context", "sample"):
        raise RelnError(f"[{table}] gate_level must be 'context' or 'sample', got '{reln.gate_level}'")
    _check_type(reln.pin_kinks, bool, f"[{table}] pin_kinks", "true or false")
    _check_type(reln.kink_stiffness, (int, float), f"[{table}] kink_stiffness", "a number in (0, 1]")
    if not 0 < reln.kink_stiffness <= 1:
        raise RelnError(f"[{table}] kink_stiffness must be in (0, 1], got {reln.kink_stiffness}")
    for key in ("gate_threshold", "identify_threshold", "min_unit_weight"):
        value = getattr(reln, key)
        _check_type(value, (int, float), f"[{table}] {key}", "a number in [0, 1)")
        if not 0 <= value < 1:
            raise RelnError(f"[{table}] {key} must be in [0, 1), got {value}")
    if isinstance(reln.pathways, str):
        if reln.pathways != "auto":
            raise RelnError(f"[{table}] pathways must be 'auto' or a list of [[{table}.pathways]] tables")
        return reln
    for i, p in enumerate(reln.pathways):
        _check_pathway(p, f"[[{table}.pathways]] {i}")
    pathways = tuple(
        dataclasses.replace(
            p,
            hidden=_as_widths(p.hidden, f"[[{table}.pathways]] {i} hidden"),
            init_std=_as_stds(p.init_std, f"[[{table}.pathways]] {i} init_std"),
        )
        for i, p in enumerate(reln.pathways)
    )
    return dataclasses.replace(reln, pathways=pathways)


def config_from_dict(data: dict, name: str = "run") -> RunConfig:
    """Build and validate a :class:`RunConfig` from a parsed TOML/JSON document."""
    data = dict(data)
    tables = {
        "task": (TaskConfig, data.pop("task", {})),
        "relu": (ReluConfig, data.pop("relu", {})),
        "train": (TrainConfig, data.pop("train", {})),
        "theory": (TheoryConfig, data.pop("theory", {})),
    }
    built = {key: _build(cls, table, key) for key, (cls, table) in tables.items()}
    built["reln"] = _reln_table(data.pop("reln", {}), "reln")
    for model in ("replay", "paper_reln", "modular"):
        table = data.pop(model, None)
        if model == "replay" and isinstance(table, dict):
            table = {"gating": "switching", **table}
        if table is not None:
            built[model] = _reln_table(table, model)
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
    built["candidates"] = {name: _reln_table(table, f"candidates.{name}") for name, table in candidates.items()}
    top = _build(RunConfig, {"name": name, **data}, "top level")
    return _validate(dataclasses.replace(top, **built))


def _reln_table(table, name: str) -> RelnConfig:
    if not isinstance(table, dict):
        raise RelnError(f"[{name}] must be a table, got {type(table).__name__}")
    table = dict(table)
    pathways = table.get("pathways", "auto")
    if not isinstance(pathways, str):
        if not isinstance(pathways, list) or not pathways:
            raise RelnError(f"[{name}] pathways must be 'auto' or a non-empty list of [[{name}.pathways]] tables")
        table["pathways"] = tuple(
            _build(PathwayConfig, p, f"{name}.pathways {i}") for i, p in enumerate(pathways)
        )
    return _build(RelnConfig, table, name)


def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    folder = importlib.resources.files("reln") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RelnError(f"{source} is not valid TOML: {error}") from None


def load_config(name_or_path: str) -> RunConfig:
    """A preset by name, or a TOML file by path."""
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
    and re-validate."""
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
    ``[train] lr = 0.01``; lists become tuples. An unknown table or field is an error.

    >>> with_values(load_config("contexts-diff"), {"train.lr": 0.002}).train.lr
    0.002
    """
    sections: dict = {}
    for key, value in values.items():
        table, _, field = key.partition(".")
        section = getattr(config, table, None) if table else None
        if not dataclasses.is_dataclass(section) or "." in field:
            known = [f.name for f in dataclasses.fields(config) if dataclasses.is_dataclass(getattr(config, f.name))]
            raise RelnError(f"unknown config key '{key}': use TABLE.KEY with TABLE one of {', '.join(known)}")
        names = [f.name for f in dataclasses.fields(section)]
        if field not in names:
            raise RelnError(f"unknown config key '{key}': [{table}] has {', '.join(names)}")
        sections.setdefault(table, {})[field] = tuple(value) if isinstance(value, list) else value
    for table, fields in sections.items():
        config = dataclasses.replace(config, **{table: dataclasses.replace(getattr(config, table), **fields)})
    return _validate(config)


def config_to_dict(config: RunConfig) -> dict:
    """The fully resolved configuration as plain JSON-ready data."""
    return dataclasses.asdict(config)
