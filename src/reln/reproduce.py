"""Reproduce the paper: run every experiment preset, the context sweep, and write a report page.

``reproduce`` is the engine of ``reln reproduce``. Each experiment is a preset (an experiment is a
config, never a script) written to ``OUT/NAME/`` exactly as ``reln run`` writes it; the context
sweep goes to ``OUT/contexts-sweep/``; the page to ``OUT/index.html`` (:mod:`reln.report`).

Results are cached by configuration: an experiment whose folder holds a ``config.json`` equal to
the one it would write (the fully resolved config and the package version) and every file listed
in it is not trained again, only drawn into the page. Changing any setting, seed or version
retrains it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from reln.config import RunConfig, config_to_dict, load_config, with_overrides
from reln.errors import RelnError
from reln.io import figure_writer, json_writer, write_all

PAPER_EXPERIMENTS = ("contexts-diff", "contexts-3", "contexts-4", "contexts-5", "depth", "xor")
"""The presets of the paper's experiments (docs/theory.md §7), in the order of the report."""

SWEEP_NAME = "contexts-sweep"
SWEEP_BASE = "contexts-3"
SWEEP_CONTEXTS = (2, 3, 4, 5, 6, 7, 8)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One experiment of a reproduction: where it was written and whether it was trained now."""

    name: str
    folder: Path
    cached: bool
    seconds: float


def _resolved(config: RunConfig) -> dict:
    from reln.experiments import package_version

    return json.loads(json.dumps(config_to_dict(config) | {"reln_version": package_version()}))


def is_cached(folder: Path, config: RunConfig) -> bool:
    """True when ``folder`` holds a complete result of exactly this config (and package version)."""
    manifest = folder / "config.json"
    if not manifest.is_file():
        return False
    try:
        written = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    files = written.pop("files", None)
    if written != _resolved(config) or not files:
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in files)


def _run_preset(config: RunConfig, folder: Path, progress) -> None:
    from reln.experiments import run_experiment, run_outputs

    run = run_experiment(config, progress)
    writers = run_outputs(run)
    # config.json goes last and lists every file, so an interrupted write is never taken as cached
    writers["config.json"] = json_writer(_resolved(config) | {"files": sorted(set(writers) - {"config.json"})})
    write_all(folder, writers)


def _run_sweep(config: RunConfig, contexts: Sequence[int], folder: Path) -> None:
    from reln.plots import sweep_figure
    from reln.sweep import contexts_sweep

    entries = contexts_sweep(config, contexts)
    figure = sweep_figure(entries, title=f"{SWEEP_BASE}: structured mixed selectivity against the number of contexts")
    writers = {"sweep.json": json_writer(entries), "sweep.png": figure_writer(figure)}
    writers["config.json"] = json_writer(_resolved(config) | {"files": sorted(set(writers))})
    write_all(folder, writers)


def sweep_config(seeds: Sequence[int] | None, contexts: Sequence[int] = SWEEP_CONTEXTS) -> RunConfig:
    """The context sweep's config: the ``contexts-3`` ReLU, the values of K kept in the name."""
    config = with_overrides(load_config(SWEEP_BASE), seeds=None if seeds is None else tuple(seeds), models=("relu",))
    return dataclasses.replace(
        config, name=SWEEP_NAME,
        description=f"ReLU of {SWEEP_BASE} for K = {', '.join(map(str, contexts))} contexts",
        question="Is structured mixed selectivity amplified with more contexts? The same ReLU (width, init, "
        "context scale fixed) for every K: the weight share of units on in several but not all contexts, and "
        "how soon the loss passes the best linear map. (docs/theory.md §1, §8.6.)",
    )


def reproduce(
    out: Path,
    *,
    seeds: Sequence[int] | None = None,
    only: Sequence[str] | None = None,
    progress: Callable[[str, str], None] | None = None,
    run_progress=None,
) -> list[Outcome]:
    """Run (or reuse) every paper experiment and the context sweep, then write ``index.html``.

    Args:
        out: the output folder.
        seeds: seeds for every experiment (default: each preset's).
        only: a subset of :data:`PAPER_EXPERIMENTS` and ``"contexts-sweep"``.
        progress: ``callback(name, status)`` with status ``"running"``, ``"cached"`` or ``"done"``.
        run_progress: the progress factory passed to :func:`reln.experiments.run_experiment`.

    Returns:
        One :class:`Outcome` per experiment, in the order of the report.
    """
    from reln.report import report_page

    names = list(PAPER_EXPERIMENTS) + [SWEEP_NAME]
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise RelnError(f"unknown experiment(s) {unknown} for --only; choose from {', '.join(names)}")
        names = [n for n in names if n in only]
    say = progress or (lambda name, status: None)
    out = Path(out)
    outcomes = []
    for name in names:
        folder = out / name
        if name == SWEEP_NAME:
            config = sweep_config(seeds)
        else:
            config = with_overrides(load_config(name), seeds=None if seeds is None else tuple(seeds))
        start = time.perf_counter()
        cached = is_cached(folder, config)
        if cached:
            say(name, "cached")
        else:
            say(name, "running")
            if name == SWEEP_NAME:
                _run_sweep(config, SWEEP_CONTEXTS, folder)
            else:
                _run_preset(config, folder, run_progress)
            say(name, "done")
        outcomes.append(Outcome(name, folder, cached, time.perf_counter() - start))
    write_all(out, {"index.html": lambda path: path.write_text(report_page(out, [o.name for o in outcomes]))})
    return outcomes
