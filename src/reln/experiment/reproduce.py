"""Reproduce the paper: run every experiment preset, the context sweep, and write a report page.

``reproduce`` is the engine of ``reln reproduce``. Each experiment is a preset (an experiment is a
config, never a script) written to ``OUT/NAME/`` exactly as ``reln run`` writes it; the context
sweep goes to ``OUT/contexts-sweep/``; the page to ``OUT/index.html`` (:mod:`reln.viz.report`).

Results are cached by configuration and code: an experiment whose folder holds a ``config.json``
with the config it would write (the fully resolved config and the package version), made by the
same package source (its hash), and whose ``manifest.json`` matches every file in the folder
(names, sizes, SHA-256; nothing more, nothing less) is not trained again, only drawn into the
page. Changing any setting, seed, version or line of the package, or touching a result file,
retrains it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from reln.experiment.config import RunConfig, config_to_dict, load_config, with_overrides
from reln.errors import RelnError
from reln.experiment.io import check_output_folder, figure_writer, json_writer, verify_manifest, write_all, write_files
from reln.experiment.provenance import environment, source_hash

PAPER_EXPERIMENTS = ("contexts-diff", "contexts-3", "contexts-4", "contexts-5", "depth", "depth-3", "xor", "digits-contexts")
"""The presets of the paper's experiments (docs/theory.md §7), in the order of the report; depth-3
for the depth claim at a matched stage (one, two, three hidden layers), and one beyond the paper:
the same question on real images (docs/theory.md §4.6)."""

VALIDITY_NAME = "validity"
"""The validity map (a sweep preset, :mod:`reln.experiment.validity`): resumable row by row, so a second
reproduction reuses every finished run."""

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
    from reln.experiment.experiments import package_version

    return json.loads(json.dumps(config_to_dict(config) | {"reln_version": package_version()}))


def is_cached(folder: Path, config: RunConfig) -> bool:
    """True when ``folder`` holds a complete, untouched result of exactly this config, package
    version and package source: ``config.json`` matches, and ``manifest.json`` lists exactly the
    files there with their sizes and hashes, written by the same source."""
    manifest = verify_manifest(folder)
    if manifest is None or manifest.get("source_hash") != source_hash():
        return False
    try:
        written = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(written, dict) or (written.pop("environment", None) or {}).get("source_hash") != source_hash():
        return False
    return written == _resolved(config)


def _run_preset(config: RunConfig, folder: Path, progress) -> None:
    from reln.experiment.experiments import run_experiment, run_outputs

    run = run_experiment(config, progress)
    write_all(folder, run_outputs(run))


def _run_sweep(config: RunConfig, contexts: Sequence[int], folder: Path) -> None:
    from reln.viz.plots import sweep_figure
    from reln.experiment.sweep import contexts_sweep

    entries = contexts_sweep(config, contexts)
    figure = sweep_figure(entries, title=f"{SWEEP_BASE}: structured mixed selectivity against the number of contexts")
    writers = {"sweep.json": json_writer(entries), "sweep.png": figure_writer(figure)}
    writers["config.json"] = json_writer(_resolved(config) | {"environment": environment(config.train.x64)})
    write_all(folder, writers)


def sweep_config(seeds: Sequence[int] | None, contexts: Sequence[int] = SWEEP_CONTEXTS) -> RunConfig:
    """The context sweep's config: the ``contexts-3`` ReLU, the values of K kept in the name."""
    config = with_overrides(load_config(SWEEP_BASE), seeds=None if seeds is None else tuple(seeds),
                            models=("relu", "reln", "theory"))
    return dataclasses.replace(
        config, name=SWEEP_NAME,
        description=f"ReLU of {SWEEP_BASE} for K = {', '.join(map(str, contexts))} contexts",
        question="Is structured mixed selectivity amplified with more contexts? The same ReLU (width, init, "
        "context scale fixed) for every K: the weight share of units on in several but not all contexts, and "
        "how soon the loss passes the best linear map; and how closely the compact ReLN and its theory follow the "
        "ReLU at each K. (docs/theory.md §1, §5.3, §8.)",
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
        run_progress: the progress factory passed to :func:`reln.experiment.experiments.run_experiment`.

    Returns:
        One :class:`Outcome` per experiment, in the order of the report.
    """
    from reln.viz.report import report_page

    names = list(PAPER_EXPERIMENTS) + [SWEEP_NAME, VALIDITY_NAME]
    if only is not None:
        unknown = [n for n in only if n not in names]
        if not only:
            raise RelnError(f"--only needs at least one experiment; choose from {', '.join(names)}")
        if unknown:
            raise RelnError(f"unknown experiment(s) {unknown} for --only; choose from {', '.join(names)}")
        names = [n for n in names if n in only]
    say = progress or (lambda name, status: None)
    out = Path(out)
    for name in names:  # before any training: every folder must be new, empty or a reln result
        if name == VALIDITY_NAME:
            from reln.experiment.distributed import check_sweep_folder

            check_sweep_folder(out / name)
        else:
            check_output_folder(out / name)
    outcomes = []
    for name in names:
        folder = out / name
        if name == VALIDITY_NAME:
            start = time.perf_counter()
            say(name, "running")
            _run_validity(folder, seeds)
            say(name, "done")
            outcomes.append(Outcome(name, folder, False, time.perf_counter() - start))
            continue
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
    from reln.experiment.claims import score_claims

    claims = score_claims(out)
    write_files(out, {"claims.json": lambda path: path.write_text(json.dumps(claims, indent=1))})  # the page reads it
    write_files(out, {"index.html": lambda path: path.write_text(report_page(out, [o.name for o in outcomes]))})
    return outcomes


def _run_validity(folder: Path, seeds: Sequence[int] | None, spec=None) -> None:
    """The validity map into ``folder``, its finished rows reused; its figures redrawn."""
    from reln.experiment.compile_cache import compilation_cache_folder
    from reln.experiment.validity import load_sweep, run_validity, validity_figures

    spec = spec or load_sweep(VALIDITY_NAME)
    if seeds is not None:
        spec = dataclasses.replace(spec, seeds=tuple(seeds))
    run_validity(spec, folder, compile_cache=compilation_cache_folder())
    for path, figure in validity_figures(spec, folder).items():
        figure_writer(figure)(path)
