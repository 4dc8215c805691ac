"""The ``reln`` command line: ``reln run``, ``reln sweep``, ``reln reproduce`` and ``reln presets``
(DESIGN.md, "The run contract").

Bad input never shows a traceback: it prints one line ``reln: error: ...`` on stderr and exits
with status 2; an interrupted run exits with 130 and writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click
import numpy as np

from reln.experiment.config import MODELS, load_config, preset_names, with_overrides, with_values
from reln.errors import RelnError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Train ReLU networks and the gated deep linear networks (ReLNs) that imitate them."""


def _parse_seeds(text: str | None, option: str = "--seeds") -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise RelnError(f"{option} must be comma-separated integers such as 0,1,2, got '{text}'") from None
    if not seeds:
        raise RelnError(f"{option} must be comma-separated integers such as 0,1,2, got '{text}'")
    return seeds


def _parse_values(items) -> dict:
    """``--set TABLE.KEY=VALUE`` options as ``{"TABLE.KEY": value}``, each VALUE read as a TOML value
    (``4``, ``0.5``, ``"ring"``, ``[300]``; a bare word is taken as a string)."""
    import tomllib

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise RelnError(f"--set takes TABLE.KEY=VALUE, e.g. --set prediction_seeded.passes=4; got '{item}'")
        try:
            values[key.strip()] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            if not text.strip().replace("-", "").replace("_", "").isalnum():
                raise RelnError(f"--set {key.strip()}: '{text.strip()}' is not a TOML value "
                                "(numbers as 4 or 0.5, lists as [300], strings as ring or \"ring\")") from None
            values[key.strip()] = text.strip()
    return values


def _parse_models(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise RelnError(f"--models takes a comma-separated subset of {','.join(MODELS)}, got '{text}'")
    return models


@contextlib.contextmanager
def _status(enabled: bool, message: str):
    """A spinner with ``message`` on stderr while a step without a count runs (nothing off a terminal)."""
    if not enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


@contextlib.contextmanager
def _progress_bars(enabled: bool):
    """Yield a progress factory drawing rich bars on stderr, or ``None`` when not on a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description:>17}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    ) as bars:

        def factory(model: str, total: int):
            task_id = bars.add_task(model, total=total)
            return lambda done, _total: bars.update(task_id, completed=done)

        yield factory


def _summary(metrics: dict) -> str:
    """A short table of the run's headline numbers."""
    from reln.gates.schedule import describe_reads

    width = max([9] + [len(model) for model in metrics])
    lines = [f"{'model':<{width}} {'seed':>5} {'ep(0.5)':>8} {'ep(0.1)':>8} {'final loss':>11} {'max gap':>8} {'run s':>7}  reads from the ReLU run"]
    timing = []
    for model, m in metrics.items():
        if "loss_final" not in m or not isinstance(m["loss_final"], list):
            continue  # the task, or a section without per-seed curves
        gaps = m.get("gap_to_relu", {}).get("max")
        reads = describe_reads(m.get("reads_from_relu"))
        for i, final in enumerate(m["loss_final"]):
            gap = f"{gaps[i]:.4f}" if gaps else "-"
            ep50, ep10 = ("never" if e is None else e for e in (m["epoch_below"]["0.5"][i], m["epoch_below"]["0.1"][i]))
            lines.append(
                f"{model:<{width}} {i:>5} {str(ep50):>8} {str(ep10):>8} {final:>11.4g} {gap:>8} {m['seconds'][i]:>7.2f}"
                + (f"  {reads}" if i == 0 and reads else "")
            )
        timing.append(
            f"{model}: {len(m['loss_final'])} seed(s) in {m['wall_seconds']:.1f} s wall "
            f"(compilation {m['compile_seconds']:.1f} s)"
        )
        split = m.get("gap_split")
        if split:  # where the largest miss lies (docs/theory.md §5.7)
            parts = []
            for part in ("linear", "gated"):
                i = max(range(len(split[part])), key=split[part].__getitem__)
                side = "behind" if split[f"{part}_signed"][i] > 0 else "ahead"
                parts.append(f"{part} part {split[part][i]:.4f} ({side}, epoch {split[f'{part}_epoch'][i]}, seed {i})")
            timing.append(f"{model}: largest gap by part: " + ", ".join(parts))
        errors = (m.get("feedback") or {}).get("share_error_max_by_pass")
        if errors:  # the seeded prediction's fed-back field, pass by pass (docs/theory.md §5.8)
            timing.append(f"{model}: largest share error against the ReLU's, pass 0..{len(errors) - 1}: "
                          + ", ".join(f"{e:.3f}" for e in errors))
    return "\n".join(lines + timing)


@app.command(short_help="Predict the ReLN and the loss curve from the task and the init law, training nothing.")
@click.argument("preset_or_config")
@click.option("--epochs", type=int, help="Length of the predicted curve [default: the config's].")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: results/NAME-prediction].")
@click.option("--formats", default="none", show_default=True,
              help="Figures to draw: none, or comma-separated formats (png, pdf, svg).")
@click.option("--set", "values", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Set a config key, VALUE as TOML writes it (repeatable), e.g. --set 'relu.hidden=[300]'.")
@click.option("--quiet", is_flag=True, help="No summary.")
def predict(preset_or_config, epochs, out, formats, values, quiet) -> None:
    """Predict, from the task, the ReLU's width, init law and learning rate alone (no network is
    trained and JAX is not imported), the ReLN of PRESET_OR_CONFIG: its pathways and weight shares
    and its loss curve (docs/theory.md §5.7). Writes config.json, metrics.json and results.npz, and
    with --formats png the loss, singular-value and dataset figures (drawing them takes longer
    than the prediction)."""
    from reln.experiment.experiments import run_experiment, run_outputs
    from reln.experiment.io import check_figure_formats, write_all

    formats = () if formats.strip().lower() == "none" else check_figure_formats(formats)
    config = with_overrides(with_values(load_config(preset_or_config), _parse_values(values)), epochs=epochs,
                            models=("prediction",))
    result = run_experiment(config)
    written = write_all(out or Path("results") / f"{config.name}-prediction", run_outputs(result, formats))
    if not quiet:
        shares = ", ".join(f"{p['name']} {p['weight_share']:.3f}" for p in result.metrics["prediction"]["pathways"])
        print(f"predicted pathways (weight share): {shares}")
        print(_summary({"prediction": result.metrics["prediction"]}))
        print(f"wrote {', '.join(p.name for p in written)} to {written[0].parent}")


@app.command(short_help="Train the models of a preset or TOML config and write the results.")
@click.argument("preset_or_config")
@click.option("--seeds", help="Comma-separated seeds, e.g. 0,1,2 [default: the config's].")
@click.option("--epochs", type=int, help="Number of gradient steps [default: the config's].")
@click.option("--models", help=f"Comma-separated subset of {','.join(MODELS)} [default: the config's].")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: results/NAME].")
@click.option("--x64/--x32", default=None, help="Train in float64 [default: the config's].")
@click.option("--allow-dead", is_flag=True, default=None,
              help="Keep the numbers of a model whose units all died or whose loss ended above its start.")
@click.option("--formats", default="png", show_default=True,
              help="Comma-separated figure formats: png, pdf, svg (e.g. png,pdf for print).")
@click.option("--set", "values", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Set a config key, VALUE as TOML writes it (repeatable), e.g. --set prediction_seeded.passes=4 "
                   "or --set 'relu.hidden=[300]'.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def run(preset_or_config, seeds, epochs, models, out, x64, allow_dead, formats, values, quiet) -> None:
    """Train the models of PRESET_OR_CONFIG (a preset name or a .toml path) and write
    config.json, results.npz, metrics.json and the figures (PNG; --formats png,pdf adds PDF): loss,
    dataset, outputs, mds, rdm, the identified ReLN's structure and each model's singular values."""
    from reln.experiment.io import check_figure_formats  # NumPy only: no JAX before the config is checked

    formats = check_figure_formats(formats)
    config = with_overrides(  # before the heavy imports: a bad config answers at once
        with_values(load_config(preset_or_config), _parse_values(values)),
        seeds=_parse_seeds(seeds), epochs=epochs, models=_parse_models(models), x64=x64, allow_dead=allow_dead,
    )
    from reln.experiment.experiments import run_experiment, run_outputs
    from reln.experiment.io import check_output_folder, write_all
    from reln.experiment.resources import check_resources

    out_dir = out or Path("results") / config.name
    check_output_folder(out_dir)
    check_resources(config, out_dir)
    bars = not quiet and sys.stderr.isatty()
    with _progress_bars(bars) as progress:
        result = run_experiment(config, progress)
    with _status(bars, "drawing and writing the figures and files"):
        written = write_all(out_dir, run_outputs(result, formats))
    if not quiet:
        print(_summary(result.metrics))
        print(f"wrote {', '.join(p.name for p in written)} to {out_dir}")


@app.command(short_help="Sweep the number of contexts, or any config keys on a Dask cluster (--grid).")
@click.argument("preset_or_config")
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2,...",
              help="A dotted config key and its values, e.g. train.lr=1e-3,3e-3 (repeat for a product grid).")
@click.option("--contexts", default="2,3,4,5,6,7,8", show_default=True,
              help="Without --grid: comma-separated values of K for the context sweep.")
@click.option("--models", help="With --grid: models each point trains [default: relu,reln,theory]. Without: "
                              "relu, and reln or theory to measure the compact ReLN's and its theory's gap at each K.")
@click.option("--metric", default="reln.gap_max", show_default=True, help="With --grid: the column the figures map.")
@click.option("--level", default=0.05, show_default=True, type=float,
              help="With --grid: the value of the metric marked as the picture's boundary.")
@click.option("--workers", type=int, help="With --grid: local Dask worker processes [default: the cores].")
@click.option("--scheduler", metavar="ADDRESS", help="With --grid: a running Dask scheduler, e.g. tcp://host:8786.")
@click.option("--no-figures", is_flag=True, help="Write only the table.")
@click.option("--reduced", is_flag=True, help="A sweep preset's small version: two values per key, 300 epochs, seed 0.")
@click.option("--seeds", help="Comma-separated seeds [default: the config's].")
@click.option("--epochs", type=int, help="Number of gradient steps [default: the config's].")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: results/NAME-sweep].")
@click.option("--quiet", is_flag=True, help="No progress and no summary.")
def sweep(preset_or_config, grids, contexts, models, metric, level, workers, scheduler, no_figures, reduced, seeds,
          epochs, out, quiet) -> None:
    """Without --grid: train the ReLU network of PRESET_OR_CONFIG for each number of contexts and
    measure how much of its weight is mixed-selective and how fast it leaves the linear plateau
    (sweep.json, sweep.png).

    With --grid: every combination of the keys' values, once per seed, each (point, seed) a task
    on a Dask cluster (a local one by default); sweep.csv and sweep.parquet hold one row per run
    and seed (grid values, crossing epochs, final losses, every model's gap to the ReLU,
    selectivity shares, seconds), and the figures map the metric. Finished rows in OUT/rows are
    reused, so an interrupted sweep resumes.

    PRESET_OR_CONFIG may also be a sweep preset (`validity`, the map of where the ReLN picture
    holds) or a sweep file with [[maps]]: each map is a grid sweep into OUT/MAP, and
    OUT/validity.json holds where each key's median gap first passes the level."""
    from reln.experiment.validity import is_sweep

    if is_sweep(preset_or_config):
        _validity_sweep(preset_or_config, reduced, workers, scheduler, no_figures, out, quiet)
        return
    if grids:
        _grid_sweep(preset_or_config, grids, models, metric, level, workers, scheduler, no_figures, seeds, epochs,
                    out, quiet)
        return
    from reln.experiment.io import check_output_folder, figure_writer, json_writer, write_all
    from reln.viz.plots import sweep_figure
    from reln.experiment.sweep import contexts_sweep

    values = _parse_seeds(contexts, "--contexts")
    chosen = _parse_models(models) or ("relu",)
    if not set(chosen) <= {"relu", "reln", "theory"} or "relu" not in chosen:
        raise click.BadParameter("the context sweep trains relu, and optionally reln and theory", param_hint="--models")
    config = with_overrides(load_config(preset_or_config), seeds=_parse_seeds(seeds), epochs=epochs, models=chosen)
    check_output_folder(out or Path("results") / f"{config.name}-sweep")
    report = None if quiet else (lambda K: print(f"K = {K} ...", file=sys.stderr))
    entries = contexts_sweep(config, values, progress=report)
    out_dir = out or Path("results") / f"{config.name}-sweep"
    figure = sweep_figure(entries, title=f"{config.name}: structured mixed selectivity against the number of contexts")
    write_all(out_dir, {"sweep.json": json_writer(entries), "sweep.png": figure_writer(figure)})
    if not quiet:
        for e in entries:
            gaps = "".join(f"; {name} max gap {max(e[key]['max']):.3f}" for key, name in (("compact_reln", "reln"),
                                                                                   ("theory", "theory")) if key in e)
            print(f"K={e['contexts']}: mixed {np.mean(e['mixed']):.3f}, common {np.mean(e['common']):.3f}, "
                  f"modular {np.mean(e['modular']):.3f}; below linear floor at epoch {e['epoch_below_linear_floor']}"
                  + gaps)
        print(f"wrote sweep.json, sweep.png to {out_dir}")


def _grid_sweep(preset_or_config, grids, models, metric, level, workers, scheduler, no_figures, seeds, epochs, out,
                quiet) -> None:
    """``reln sweep --grid``: the grid on Dask, the table, the figures, a one-line summary."""
    import time

    from reln.experiment.compile_cache import compilation_cache_folder
    from reln.experiment.distributed import run_sweep
    from reln.experiment.grid import boundary, parse_grid_option

    grid = [parse_grid_option(g) for g in grids]
    config = with_overrides(
        load_config(preset_or_config), seeds=_parse_seeds(seeds), epochs=epochs,
        models=_parse_models(models) or ("relu", "reln", "theory"),
    )
    if "relu" not in config.models:
        raise RelnError("a grid sweep measures models against the ReLU network: include relu in --models")
    out_dir = out or Path("results") / f"{config.name}-sweep"
    started = time.perf_counter()
    with _sweep_bar(not quiet and sys.stderr.isatty()) as progress:
        rows = run_sweep(config, grid, out_dir, workers=workers, scheduler=scheduler,
                         compile_cache=compilation_cache_folder(), progress=progress)
    written = ["sweep.json", "sweep.csv", "sweep.parquet"]
    if not no_figures:
        from reln.viz.grid_figures import grid_figures
        from reln.experiment.io import figure_writer

        for name, figure in grid_figures(rows, [k for k, _ in grid], metric, level=level, title=config.name).items():
            figure_writer(figure)(out_dir / name)
            written.append(name)
    if not quiet:
        failed = sum(r["status"] != "ok" for r in rows)
        print(f"{len(rows)} runs ({failed} failed) in {time.perf_counter() - started:.1f} s")
        for key, _ in grid:
            edge = boundary(rows, key, metric, level)
            print(f"{key}: median {metric} " + ", ".join(f"{v}: {m:.3g}" for v, m in edge["medians"].items())
                  + f"; first past {level:g}: {edge['first_past']}")
        print(f"wrote {', '.join(written)} to {out_dir}")


def _validity_sweep(name, reduced, workers, scheduler, no_figures, out, quiet) -> None:
    """``reln sweep validity``: every map of a sweep preset, its figures and its boundaries."""
    import time

    from reln.experiment.compile_cache import compilation_cache_folder
    from reln.experiment.validity import load_sweep, reduced as reduce_spec, run_validity, validity_figures

    spec = load_sweep(name)
    spec = reduce_spec(spec) if reduced else spec
    out_dir = out or Path("results") / spec.name
    started = time.perf_counter()
    with _sweep_bar(not quiet and sys.stderr.isatty()) as bar:
        summary = run_validity(spec, out_dir, workers=workers, scheduler=scheduler,
                               compile_cache=compilation_cache_folder(),
                               progress=None if bar is None else (lambda map_name: bar))
    if not no_figures:
        from reln.experiment.io import figure_writer

        for path, figure in validity_figures(spec, out_dir).items():
            figure_writer(figure)(path)
    if not quiet:
        print(f"{spec.name}: {sum(m['runs'] for m in summary['maps'].values())} runs in "
              f"{time.perf_counter() - started:.1f} s")
        for map_name, m in summary["maps"].items():
            for key, columns in m["boundaries"].items():
                past = ", ".join(f"{c.split('.')[0]} {e['first_past']}" for c, e in columns.items())
                print(f"  {map_name}: {key}: first value past {spec.level:g}: {past}")
        print(f"wrote {out_dir}")


@contextlib.contextmanager
def _sweep_bar(enabled: bool):
    """A rich bar over a sweep's tasks on stderr, or no progress off a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bars:
        task_id = bars.add_task("sweep", total=None)
        yield lambda done, total: bars.update(task_id, completed=done, total=total)


@app.command(short_help="Run every paper experiment and the context sweep; write a report page.")
@click.option("--seeds", help="Comma-separated seeds for every experiment [default: each preset's].")
@click.option("--only", help="Comma-separated subset of the experiments, e.g. contexts-diff,xor.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("results") / "reproduce", show_default=True,
              help="Output folder.")
@click.option("--quiet", is_flag=True, help="No progress.")
def reproduce(seeds, only, out, quiet) -> None:
    """Run every experiment of the paper (contexts-diff, contexts-3/4/5, depth, xor) and the sweep
    over the number of contexts, each into OUT/NAME as `reln run` writes it, then write
    OUT/index.html. Experiments whose results are already in OUT with the same config are reused."""
    import time

    from reln.experiment.reproduce import reproduce as run_all

    start = time.perf_counter()
    say = None if quiet else (lambda name, status: print(f"{name}: {status}", file=sys.stderr))
    with _progress_bars(not quiet and sys.stderr.isatty()) as progress:
        outcomes = run_all(
            out, seeds=_parse_seeds(seeds), only=None if only is None else [n.strip() for n in only.split(",") if n.strip()],
            progress=say, run_progress=progress,
        )
    if not quiet:
        for o in outcomes:
            print(f"{o.name:<16} {'cached' if o.cached else 'trained':<8} {o.seconds:6.1f} s")
        print(f"wrote {out / 'index.html'} in {time.perf_counter() - start:.1f} s")


@app.command()
def presets() -> None:
    """List the presets shipped with reln."""
    for name in preset_names():
        print(f"{name:<16} {load_config(name).description}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` (the output folder's swap
    or clean-up, :func:`reln.experiment.io.write_all`) runs before the process exits."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reln`` console script; returns the exit status."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from reln.experiment.compile_cache import compilation_cache_folder, use_compilation_cache

        use_compilation_cache(compilation_cache_folder())
        app.main(args=argv, prog_name="reln", standalone_mode=False)
    except RelnError as error:
        print(f"reln: error: {error}", file=sys.stderr)
        return 2
    except click.ClickException as error:
        print(f"reln: error: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort) as error:
        print("reln: interrupted; the output folder was left as it was", file=sys.stderr)
        terminated = isinstance(error, Terminated) or isinstance(error.__cause__, Terminated)  # click wraps it in Abort
        return 143 if terminated else 130
    except Exception as error:  # a bug, not bad input: one line unless asked for the traceback
        if os.environ.get("RELN_DEBUG"):
            raise
        print(f"reln: internal error: {type(error).__name__}: {error} (set RELN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
