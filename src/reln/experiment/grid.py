"""A sweep over any config keys: the grid, its points, and the tidy row each (point, seed) yields.

A grid is a list of ``(key, values)``, each key a dotted config path such as ``train.lr`` or
``relu.init_std`` (the ``[table] key`` of a config file). Its points are the Cartesian product of
the values; every point runs once per seed of the base config, and each (point, seed) is one
independent task (:mod:`reln.experiment.distributed` sends them to a Dask cluster). A task yields one *row*:
the grid values, the seed, the ReLU's crossing epochs and final loss, every model's gap to the
ReLU (``|L - L_ReLU| / L_ReLU(0)``, max and mean over epochs), the ReLU's selectivity shares and the
seconds it took. A run that diverges or whose network dies is a result of the map, not a crash:
its row carries ``status`` and no numbers.

Nothing here trains or imports JAX: the grid is plain data, and :func:`run_point` is the only
function that calls the runner.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import statistics
import time
import tomllib
from collections.abc import Sequence

from reln.experiment.config import RunConfig, config_to_dict, with_values
from reln.errors import RelnError

Grid = list[tuple[str, list]]

STATUS_OK = "ok"


def parse_grid_option(text: str) -> tuple[str, list]:
    """``"KEY=V1,V2,..."`` -> ``(key, [v1, v2, ...])``, each value read as a TOML value.

    Commas inside brackets belong to a value, so ``relu.hidden=[200],[200,200]`` has two values.

    >>> parse_grid_option("train.lr=1e-3,3e-3")
    ('train.lr', [0.001, 0.003])
    >>> parse_grid_option("relu.hidden=[50],[50,50]")
    ('relu.hidden', [[50], [50, 50]])
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or "." not in key or not values.strip():
        raise RelnError(f"--grid needs KEY=V1,V2,... with KEY a dotted config key such as train.lr, got {text!r}")
    parts, depth, current = [], 0, ""
    for char in values:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if any(not p.strip() for p in parts):
        raise RelnError(f"--grid {key}: an empty value in {values!r}")
    return key, [_toml_value(p.strip()) for p in parts]


def _toml_value(text: str):
    """A TOML value (number, boolean, list, quoted string), or the bare text as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def grid_points(grid: Grid) -> list[dict]:
    """Every combination of the grid's values, in row-major order (the last key varies fastest).

    >>> grid_points([("train.lr", [1, 2]), ("relu.init_std", [0.1])])
    [{'train.lr': 1, 'relu.init_std': 0.1}, {'train.lr': 2, 'relu.init_std': 0.1}]
    """
    keys = [k for k, _ in grid]
    if len(set(keys)) != len(keys):
        raise RelnError(f"a grid key appears twice: {keys}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


def point_config(base: RunConfig, point: dict, seed: int) -> RunConfig:
    """The config of one (point, seed): the base with the point's values and the one seed.

    ``train.seeds`` in a point means that seed (a grid over seeds is the same as ``--seeds``).

    >>> from reln.experiment.config import load_config
    >>> point_config(load_config("contexts-diff"), {"train.lr": 0.002}, 1).train.seeds
    (1,)
    """
    values = {k: v for k, v in point.items() if k != "train.seeds"}
    config = with_values(base, values)
    return with_values(config, {"train.seeds": [int(seed)]})


def point_seeds(base: RunConfig, point: dict) -> list[int]:
    """The seeds a point runs: its own ``train.seeds`` value, or the base config's.

    >>> from reln.experiment.config import load_config
    >>> point_seeds(load_config("contexts-diff"), {"train.seeds": 4}), point_seeds(load_config("xor"), {})
    ([4], [0, 1, 2])
    """
    if "train.seeds" in point:
        value = point["train.seeds"]
        return [int(s) for s in (value if isinstance(value, list) else [value])]
    return list(base.train.seeds)


def task_key(config: RunConfig) -> str:
    """A name for a (point, seed) result that changes whenever its resolved config does, so a
    resumed sweep reuses exactly the finished tasks.

    >>> from reln.experiment.config import load_config
    >>> base = load_config("contexts-diff")
    >>> task_key(base) == task_key(load_config("contexts-diff")), task_key(base) == task_key(point_config(base, {"train.lr": 0.002}, 0))
    (True, False)
    """
    text = json.dumps(config_to_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def metrics_row(metrics: dict, models: Sequence[str]) -> dict:
    """The numbers of one single-seed run's ``metrics.json`` that a sweep table keeps.

    Columns: ``relu.ep50``, ``relu.ep10`` (first epochs below 0.5 and 0.1 of ``L(0)``, empty when
    never), ``relu.loss_final``, ``relu.{common,mixed,modular}`` (weight shares of the identified
    units, docs/theory.md §3.2) and, per other model, ``{model}.gap_max``, ``{model}.gap_mean``,
    ``{model}.loss_final``.

    >>> metrics_row({"relu": {"loss_final": [0.5]}, "reln": {"gap_to_relu": {"max": [0.02], "mean": [0.01]}}},
    ...             ["relu", "reln"])["reln.gap_max"]
    0.02
    """
    relu = metrics.get("relu", {})
    row = {
        "relu.ep50": _first(relu.get("epoch_below", {}).get("0.5")),
        "relu.ep10": _first(relu.get("epoch_below", {}).get("0.1")),
        "relu.loss_final": _first(relu.get("loss_final")),
    }
    for kind in ("common", "mixed", "modular"):
        row[f"relu.{kind}"] = _first(relu.get("selectivity", {}).get(kind))
    for model in models:
        if model == "relu" or model not in metrics:
            continue
        gap = metrics[model].get("gap_to_relu", {})
        row[f"{model}.gap_max"] = _first(gap.get("max"))
        row[f"{model}.gap_mean"] = _first(gap.get("mean"))
        row[f"{model}.loss_final"] = _first(metrics[model].get("loss_final"))
    return row


def _first(values):
    return None if not values else values[0]


def run_point(config: RunConfig, point: dict, seed: int, key: str | None = None) -> dict:
    """Train one (point, seed) and return its row; a training failure becomes the row's status.

    This is the function a sweep's workers run. It imports the runner when called, so a worker
    loads JAX once and the driver not at all. ``key`` is the row's name as the driver computed it
    (:func:`task_key`); a worker does not recompute it, so a row always lands where the driver
    looks for it.
    """
    import dataclasses

    from reln.errors import ModelFailed
    from reln.experiment.experiments import run_experiment

    began = time.perf_counter()
    row = {"key": key or task_key(config), **point, "seed": int(seed)}
    failed: dict = {}
    models = config.models
    while True:
        try:
            run = run_experiment(dataclasses.replace(config, models=models))
            break
        except ModelFailed as error:  # one model failed: keep the others' numbers, say which failed
            if error.model == "relu" or error.model not in models:
                return row | {"status": _line(error), "seconds": time.perf_counter() - began}
            failed[f"{error.model}.status"] = _line(error)
            models = tuple(m for m in models if m != error.model)
        except Exception as error:  # noqa: BLE001 - any other failure is this point's result, not the sweep's
            return row | {"status": f"{type(error).__name__}: {_line(error)}", "seconds": time.perf_counter() - began}
    return row | {"status": STATUS_OK, **metrics_row(run.metrics, config.models), **failed,
                  "seconds": time.perf_counter() - began}


def _line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0]


def boundary(rows: list[dict], key: str, metric: str, level: float, at: dict | None = None) -> dict:
    """Per value of ``key``, whether the median of ``metric`` over seeds passes ``level``; failed
    runs count as past it.

    Args:
        rows: the sweep's rows.
        key: the grid key to walk along.
        metric: the column, e.g. ``"reln.gap_max"``.
        level: the boundary's level.
        at: other keys held at these values (rows elsewhere are left out); keys not given are
            pooled into the median.

    Returns ``{"medians": {value: median}, "first_past": value or None, "level": level}``, the
    medians ordered by value and ``first_past`` the smallest value whose median exceeds ``level``.

    >>> rows = [{"w": 1, "m": 0.01, "status": "ok"}, {"w": 2, "m": 0.2, "status": "ok"}]
    >>> boundary(rows, "w", "m", 0.05)["first_past"]
    2
    """
    by_value: dict = {}
    at = at or {}
    for row in rows:
        if any(hashable(row.get(k)) != hashable(v) for k, v in at.items()):
            continue
        value = row.get(metric) if row.get("status") == STATUS_OK else math.inf
        by_value.setdefault(hashable(row[key]), []).append(math.inf if value is None else value)
    medians = {v: statistics.median(ms) for v, ms in sorted(by_value.items(), key=lambda kv: value_order(kv[0]))}
    past = [v for v, m in medians.items() if m > level]
    return {"medians": medians, "first_past": past[0] if past else None, "level": level}


def hashable(value):
    """A grid value as a dict key: a list (``relu.hidden = [200, 200]``) as a tuple.

    >>> hashable([200, 200]), hashable(0.1)
    ((200, 200), 0.1)
    """
    return tuple(value) if isinstance(value, list) else value


def value_order(value):
    """Sort key of grid values: numbers by value, then anything else by its text."""
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))
