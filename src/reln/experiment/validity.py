"""The validity map: several grid sweeps of one base experiment, each over the limits the paper
states (init scale × learning rate, batch size, width, learning rate × batch size), and where the
ReLN picture breaks.

A validity map is a *sweep preset* (``presets/sweeps/NAME.toml``)::

    description = "..."
    base = "contexts-diff"          # a run preset or config
    models = ["relu", "reln", "theory"]
    metric = "reln.gap_max"         # the column whose level marks the boundary
    level = 0.05
    [[maps]]
    name = "init-lr"
    grid = { "relu.init_std" = [...], "train.lr" = [...] }

Each map is one :func:`reln.experiment.distributed.run_sweep` into ``OUT/NAME``; the boundary of each key is
the first value whose median ``metric`` passes ``level`` (:func:`reln.experiment.grid.boundary`), written
with every map's medians to ``OUT/validity.json`` (docs/theory.md §9).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import tomllib
from pathlib import Path

from reln.errors import RelnError

SWEEP_KEYS = {"description", "base", "models", "metric", "level", "seeds", "epochs", "maps"}


@dataclasses.dataclass(frozen=True)
class GridMap:
    """One map of a validity sweep: a name and its grid ``((key, values), ...)``."""

    name: str
    grid: tuple[tuple[str, tuple], ...]


@dataclasses.dataclass(frozen=True)
class ValiditySpec:
    """A sweep preset: the base experiment, the models each point trains, the metric and level
    that mark the boundary, optional seeds and epochs replacing the base's, and the maps."""

    name: str
    description: str
    base: str
    maps: tuple[GridMap, ...]
    models: tuple[str, ...] = ("relu", "reln", "theory")
    metric: str = "reln.gap_max"
    level: float = 0.05
    seeds: tuple[int, ...] | None = None
    epochs: int | None = None


def sweep_preset_names() -> list[str]:
    """The sweep presets shipped with reln.

    >>> "validity" in sweep_preset_names()
    True
    """
    folder = importlib.resources.files("reln") / "presets" / "sweeps"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def is_sweep(name_or_path: str) -> bool:
    """Whether the argument names a sweep preset or a sweep file (one with ``[[maps]]``).

    >>> is_sweep("validity"), is_sweep("contexts-diff")
    (True, False)
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        try:
            return "maps" in tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError):
            return False
    return name_or_path in sweep_preset_names()


def load_sweep(name_or_path: str) -> ValiditySpec:
    """A sweep preset by name, or a sweep file by path.

    >>> spec = load_sweep("validity")
    >>> [m.name for m in spec.maps]
    ['init-lr', 'batch', 'width', 'lr-batch']
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, name = path.read_text(), path.stem
    elif name_or_path in sweep_preset_names():
        text = (importlib.resources.files("reln") / "presets" / "sweeps" / f"{name_or_path}.toml").read_text()
        name = name_or_path
    else:
        raise RelnError(f"unknown sweep '{name_or_path}'; sweep presets: {', '.join(sweep_preset_names())}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RelnError(f"sweep {name}: not valid TOML: {error}") from error
    return spec_from_dict(data, name)


def spec_from_dict(data: dict, name: str) -> ValiditySpec:
    """Validate a sweep preset's table (unknown keys, empty maps, repeated names are errors).

    >>> spec_from_dict({"base": "xor", "maps": [{"name": "lr", "grid": {"train.lr": [1e-3, 1e-2]}}]}, "mine").maps
    (GridMap(name='lr', grid=(('train.lr', (0.001, 0.01)),)),)
    """
    unknown = set(data) - SWEEP_KEYS
    if unknown:
        raise RelnError(f"sweep {name}: unknown key(s) {sorted(unknown)}; known: {sorted(SWEEP_KEYS)}")
    if "base" not in data or not data.get("maps"):
        raise RelnError(f"sweep {name} needs base = PRESET_OR_CONFIG and at least one [[maps]] table")
    maps = []
    for i, table in enumerate(data["maps"]):
        if set(table) != {"name", "grid"} or not isinstance(table["grid"], dict) or not table["grid"]:
            raise RelnError(f"sweep {name}: [[maps]] #{i + 1} needs name = \"...\" and grid = {{ KEY = [V1, ...] }}")
        grid = []
        for key, values in table["grid"].items():
            if not isinstance(values, list) or not values:
                raise RelnError(f"sweep {name}, map {table['name']}: {key} needs a non-empty list of values")
            grid.append((key, tuple(values)))
        maps.append(GridMap(str(table["name"]), tuple(grid)))
    names = [m.name for m in maps]
    if len(set(names)) != len(names):
        raise RelnError(f"sweep {name}: map names repeat: {names}")
    return ValiditySpec(
        name=name, description=str(data.get("description", "")), base=str(data["base"]), maps=tuple(maps),
        models=tuple(data.get("models", ValiditySpec.models)), metric=str(data.get("metric", ValiditySpec.metric)),
        level=float(data.get("level", ValiditySpec.level)),
        seeds=None if data.get("seeds") is None else tuple(int(s) for s in data["seeds"]),
        epochs=None if data.get("epochs") is None else int(data["epochs"]),
    )


def reduced(spec: ValiditySpec, *, values: int = 2, epochs: int = 300, seeds: tuple[int, ...] = (0,)) -> ValiditySpec:
    """A small version of a sweep for tests and a first look: each key's first and last values
    (``values`` of them, spread over the list), fewer epochs, fewer seeds.

    >>> small = reduced(load_sweep("validity"))
    >>> all(len(v) <= 2 for m in small.maps for _, v in m.grid), small.epochs
    (True, 300)
    """
    def spread(v: tuple) -> tuple:
        if len(v) <= values:
            return v
        picks = sorted({round(i * (len(v) - 1) / (values - 1)) for i in range(values)}) if values > 1 else [0]
        return tuple(v[i] for i in picks)

    maps = tuple(GridMap(m.name, tuple((k, spread(v)) for k, v in m.grid)) for m in spec.maps)
    return dataclasses.replace(spec, maps=maps, epochs=epochs, seeds=seeds)


def run_validity(spec: ValiditySpec, out_dir: Path, *, progress=None, client=None, **cluster) -> dict:
    """Run every map of ``spec`` into ``out_dir/MAP`` (resumable, as :func:`reln.experiment.distributed.run_sweep`)
    and write ``out_dir/validity.json``; returns its contents.

    Args:
        spec: the sweep preset.
        out_dir: the output folder.
        progress: ``(map name) -> callback(done, total)``, or ``None``.
        client: a running ``dask.distributed.Client`` to use instead of starting a cluster.
        cluster: ``workers``, ``scheduler``, ``compile_cache`` of :func:`reln.experiment.distributed.run_sweep`;
            one cluster serves every map.
    """
    import contextlib
    import json
    import time

    from reln.experiment.config import load_config, with_overrides
    from reln.experiment.distributed import check_sweep_folder, dask_client, finished_rows, run_sweep, sweep_tasks
    from reln.experiment.grid import task_key

    base = with_overrides(load_config(spec.base), seeds=spec.seeds, epochs=spec.epochs, models=spec.models)
    grids = {m.name: [(k, list(v)) for k, v in m.grid] for m in spec.maps}
    check_sweep_folder(out_dir)
    pending = False
    for name, grid in grids.items():  # each map's finished rows read once
        done = finished_rows(out_dir / name)
        pending = pending or any(task_key(config) not in done for _, _, config in sweep_tasks(base, grid))
    compile_cache = cluster.pop("compile_cache", None)
    tables, walls = {}, {}
    # one cluster for every map (none when every row is already there)
    if client is not None or not pending:
        opened = contextlib.nullcontext(client)
    else:
        opened = dask_client(**cluster)
    with opened as client:
        for name, grid in grids.items():
            began = time.perf_counter()
            tables[name] = run_sweep(
                base, grid, out_dir / name, compile_cache=compile_cache, client=client,
                progress=None if progress is None else progress(name),
            )
            walls[name] = time.perf_counter() - began
    summary = summarize(spec, tables, base)
    for name, wall in walls.items():  # this invocation's wall time: reused rows cost nothing
        summary["maps"][name]["wall_seconds_this_run"] = wall
    (out_dir / "validity.json").write_text(json.dumps(summary, indent=1))
    return summary


def base_values(base, keys) -> dict:
    """The base config's value of each dotted key (a one-element tuple as its element), so that
    a map walks each key with the others at the base experiment's setting.

    >>> from reln.experiment.config import load_config
    >>> base_values(load_config("contexts-diff"), ["train.lr", "relu.hidden"])
    {'train.lr': 0.001, 'relu.hidden': 700}
    """
    values = {}
    for key in keys:
        table, _, field = key.partition(".")
        value = getattr(getattr(base, table), field)
        values[key] = value[0] if isinstance(value, tuple) and len(value) == 1 else value
    return values


def summarize(spec: ValiditySpec, tables: dict[str, list[dict]], base=None) -> dict:
    """``validity.json``: per map and key, the medians over seeds of every model's ``gap_max``
    along that key, the other keys of the map held at the base experiment's values when the grid
    has them (pooled otherwise), and the first value past the level; the failed runs; seconds."""
    from reln.experiment.grid import boundary

    out = {"sweep": spec.name, "base": spec.base, "metric": spec.metric, "level": spec.level, "maps": {}}
    for grid_map in spec.maps:
        rows = tables[grid_map.name]
        columns = sorted({c for r in rows for c in r if c.endswith(".gap_max")})
        out["maps"][grid_map.name] = {
            "grid": {k: list(v) for k, v in grid_map.grid},
            "runs": len(rows),
            "failed": [{k: r.get(k) for k, _ in grid_map.grid} | {"seed": r["seed"], "status": r["status"]}
                       for r in rows if r["status"] != "ok"],
            "boundaries": {
                key: {column: _jsonable(boundary(rows, key, column, spec.level, _held(grid_map, key, base)))
                      for column in columns}
                for key, _ in grid_map.grid
            },
            "held": {key: _held(grid_map, key, base) for key, _ in grid_map.grid},
            "seconds": sum(r.get("seconds", 0.0) for r in rows),
        }
    return out


def _held(grid_map: GridMap, key: str, base) -> dict:
    """The other keys of the map at the base config's values, where the grid has those values."""
    if base is None:
        return {}
    others = [k for k, _ in grid_map.grid if k != key]
    values = base_values(base, others)
    return {k: values[k] for k, v in grid_map.grid if k in values and values[k] in v}


def _jsonable(edge: dict) -> dict:
    """Tuples as lists, and a median of failed runs (infinite) as ``None``."""
    return {"medians": [[list(v) if isinstance(v, tuple) else v, m if math.isfinite(m) else None]
                        for v, m in edge["medians"].items()],
            "first_past": list(edge["first_past"]) if isinstance(edge["first_past"], tuple) else edge["first_past"],
            "level": edge["level"]}


def validity_figures(spec: ValiditySpec, out_dir: Path) -> dict:
    """``{path: figure}``: each map's figures (:func:`reln.viz.grid_figures.grid_figures`) in its folder,
    from the tables the sweep wrote."""
    import json

    from reln.viz.grid_figures import grid_figures

    figures = {}
    for grid_map in spec.maps:
        folder = out_dir / grid_map.name
        rows = json.loads((folder / "sweep.json").read_text())
        keys = [k for k, _ in grid_map.grid]
        title = f"{spec.base}: {grid_map.name}"
        for name, figure in grid_figures(rows, keys, spec.metric, level=spec.level, title=title).items():
            figures[folder / name] = figure
    return figures
