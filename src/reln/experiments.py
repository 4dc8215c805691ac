"""Run an experiment from its config: build the task, train the models, measure, write.

``run_experiment`` returns a :class:`Run` (plain data); ``run_outputs`` turns it into the files of
the run contract (DESIGN.md): ``config.json``, ``results.npz``, ``metrics.json`` and ``loss.png``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import jax
import numpy as np

from reln.analysis import crossing_epochs, gap_to_reference, unit_weight_shares
from reln.config import PathwayConfig, RunConfig, config_to_dict
from reln.fit import fit_gdln, fit_relu
from reln.errors import RelnError
from reln.gdln import GDLN, Pathway, build_gdln
from reln.io import figure_writer, json_writer, npz_writer
from reln.plots import loss_figure
from reln.tasks import Task, contextual_task
from reln.train import Progress, Trajectory

ProgressFactory = Callable[[str, int], Progress]


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything a run produced, before it is written."""

    config: RunConfig
    task: Task
    trajectories: dict[str, Trajectory]
    gdln: GDLN | None
    metrics: dict


def build_task(config: RunConfig) -> Task:
    """The task of a config's ``[task]`` table."""
    t = config.task
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


def build_reln(config: RunConfig, task: Task) -> GDLN:
    """The GDLN of a config's explicit ``[[reln.pathways]]`` list."""
    return build_gdln([_pathway(p) for p in config.reln.pathways], task)


def package_version() -> str:
    try:
        return version("reln")
    except PackageNotFoundError:
        return "unknown"


def run_experiment(config: RunConfig, progress: ProgressFactory | None = None) -> Run:
    """Train every model the config asks for, on every seed, and measure them.

    Args:
        config: a validated :class:`RunConfig`.
        progress: ``(model name, total epochs) -> callback(done, total)``, for progress bars.
    """
    task = build_task(config)
    gdln = build_reln(config, task) if "reln" in config.models else None
    train = config.train
    common = dict(seeds=train.seeds, lr=train.lr, epochs=train.epochs, x64=train.x64)
    total = train.epochs * len(train.seeds)
    trajectories = {}
    with jax.enable_x64(train.x64):
        if "relu" in config.models:
            trajectories["relu"] = fit_relu(
                task, config.relu.hidden, config.relu.init_std,
                snapshot_every=config.relu.snapshot_every,
                progress=progress("relu", total) if progress else None, **common,
            )
        if gdln is not None:
            trajectories["reln"] = fit_gdln(
                task, gdln, rule=config.reln.rule, snapshot_every=config.reln.snapshot_every,
                progress=progress("reln", total) if progress else None, **common,
            )
    return Run(config, task, trajectories, gdln, compute_metrics(task, trajectories, gdln))


def _curve_metrics(trajectory: Trajectory) -> dict:
    return {
        "loss_final": trajectory.loss[:, -1].tolist(),
        "epoch_below": crossing_epochs(trajectory.loss),
        "seconds": trajectory.seconds.tolist(),
        "compile_seconds": trajectory.compile_seconds,
        "wall_seconds": trajectory.wall_seconds,
    }


def _relu_context_shares(task: Task, relu: Trajectory) -> list[np.ndarray]:
    """Per seed, ``{contexts: weight share}`` of the ReLU's first hidden layer at the last epoch."""
    gates, sizes = relu.snapshots["gates_0"][:, -1], relu.snapshots["unit_weight_0"][:, -1]
    return [unit_weight_shares(g, w, task) for g, w in zip(gates, sizes)]


def compute_metrics(task: Task, trajectories: dict[str, Trajectory], gdln: GDLN | None) -> dict:
    """The ``metrics.json`` document (DESIGN.md, "The run contract")."""
    metrics: dict = {
        "task": {
            "name": task.name, "P": task.P, "n_in": task.n_in, "n_out": task.n_out,
            "items": task.n_items, "contexts": task.n_contexts,
            "loss_initial": task.loss_initial, "loss_linear_floor": task.loss_linear_floor,
        }
    }
    relu = trajectories.get("relu")
    shares = None
    if relu is not None:
        shares = _relu_context_shares(task, relu)
        patterns = sorted(set().union(*shares), key=lambda s: -np.mean([d.get(s, 0) for d in shares]))
        metrics["relu"] = _curve_metrics(relu) | {
            "context_weight_shares": [
                {"contexts": sorted(p), "weight_share": [d.get(p, 0.0) for d in shares]}
                for p in patterns
            ],
        }
    if gdln is not None:
        reln = trajectories["reln"]
        pathways = []
        for name, contexts, inputs, widths in zip(gdln.names, gdln.contexts, gdln.inputs, gdln.widths):
            per_seed = None if shares is None or contexts is None else [d.get(frozenset(contexts), 0.0) for d in shares]
            pathways.append({
                "name": name,
                "contexts": None if contexts is None else list(contexts),
                "inputs": inputs,
                "units": int(widths.sum()),
                "weight_share": None if per_seed is None else float(np.mean(per_seed)),
                "weight_share_seeds": per_seed,
            })
        metrics["reln"] = {"pathways": pathways} | _curve_metrics(reln)
        if relu is not None:
            metrics["reln"]["gap_to_relu"] = gap_to_reference(reln.loss, relu.loss)
    return metrics


def _arrays(run: Run) -> dict[str, np.ndarray]:
    """The contents of ``results.npz``: ``seeds``, ``X``, ``Y``; per model ``{model}_loss``
    ``(seeds, epochs + 1)``, ``{model}_snapshot_epochs``, every snapshot but hidden activity as
    ``{model}_{name}`` ``(seeds, snapshots, ...)``, final weights ``{model}_final_W{l}``; and the
    ReLN's gates and masks."""
    arrays = {"seeds": np.array(run.config.train.seeds), "X": run.task.X, "Y": run.task.Y}
    for model, trajectory in run.trajectories.items():
        arrays[f"{model}_loss"] = trajectory.loss
        arrays[f"{model}_snapshot_epochs"] = trajectory.snapshot_epochs
        for key, value in trajectory.snapshots.items():
            if not key.startswith("hidden_"):  # 4x the rest; gates and unit sizes summarise it
                arrays[f"{model}_{key}"] = value
        for l, weights in enumerate(trajectory.final_params):
            arrays[f"{model}_final_W{l}"] = weights
    if run.gdln is not None:
        arrays["reln_gates"] = run.gdln.gates
        arrays["reln_input_masks"] = run.gdln.input_masks
        arrays["reln_output_masks"] = run.gdln.output_masks
    return arrays


def run_outputs(run: Run) -> dict:
    """File name -> writer, for :func:`reln.io.write_all`."""
    config = config_to_dict(run.config) | {"reln_version": package_version()}
    figure = loss_figure(
        {m: t.loss for m, t in run.trajectories.items()},
        title=f"{run.config.name}: {run.task.name}",
        linear_floor=run.task.loss_linear_floor,
    )
    return {
        "config.json": json_writer(config),
        "results.npz": npz_writer(_arrays(run)),
        "metrics.json": json_writer(run.metrics),
        "loss.png": figure_writer(figure),
    }
