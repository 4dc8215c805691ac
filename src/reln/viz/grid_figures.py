"""Figures of a grid sweep's table: a metric over one key (lines, one per model) or two (a map).

Medians over seeds (and over any other keys of the grid) are shown, with the seeds' range as a
band in line plots. A failed run (diverged, died) counts as past every level and is drawn as a
cross. The level where the picture is said to break (a gap of ``level`` of ``L(0)``) is a dashed
line, or the outline of the cells past it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reln.experiment.grid import STATUS_OK, hashable, value_order  # noqa: E402
from reln.viz.plots import MODEL_COLORS, MODEL_LABELS, model_color  # noqa: E402


def _values(rows: Sequence[dict], key: str) -> list:
    return sorted({hashable(row[key]) for row in rows}, key=value_order)


def _cell(rows: Sequence[dict], metric: str, **where) -> list[float]:
    """The metric of every row matching ``where`` (failed rows as ``inf``)."""
    out = []
    for row in rows:
        if all(hashable(row[k]) == v for k, v in where.items()):
            value = row.get(metric) if row.get("status") == STATUS_OK else None
            out.append(math.inf if value is None else float(value))
    return out


def _label(value) -> str:
    if isinstance(value, tuple):
        return "×".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.3g}"
    if value is None:
        return "full"
    return str(value)


def _is_log(values: list) -> bool:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) == len(values) and len(numbers) > 2 and min(numbers) > 0 and max(numbers) / min(numbers) >= 20


def grid_line_figure(rows: Sequence[dict], key: str, metrics: Sequence[str], *, level: float, title: str) -> plt.Figure:
    """Each metric (``"{model}.gap_max"``) against one grid key: median over seeds, their range
    as a band, failed runs as crosses on the top edge, ``level`` dashed.

    >>> rows = [{"w": w, "seed": s, "status": "ok", "reln.gap_max": 0.01 * w} for w in (1, 2) for s in (0, 1)]
    >>> grid_line_figure(rows, "w", ["reln.gap_max"], level=0.05, title="t").axes[0].get_xlabel()
    'w'
    """
    values = _values(rows, key)
    x = np.arange(len(values)) if not _is_log(values) else np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    top = level
    for metric in metrics:
        model = metric.split(".")[0]
        cells = [_cell(rows, metric, **{key: v}) for v in values]
        finite = [[c for c in cell if math.isfinite(c)] for cell in cells]
        med = np.array([np.median(c) if c else np.nan for c in finite])
        low = np.array([min(c) if c else np.nan for c in finite])
        high = np.array([max(c) if c else np.nan for c in finite])
        color = MODEL_COLORS.get(model) or model_color(model)
        ax.plot(x, med, "o-", color=color, lw=1.5, ms=4, label=f"{MODEL_LABELS.get(model, model)}: {metric.split('.', 1)[1]}")
        ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0)
        top = max(top, np.nanmax(high) if np.isfinite(high).any() else top)
        failed = [xi for xi, cell in zip(x, cells) if any(not math.isfinite(c) for c in cell)]
        if failed:
            ax.plot(failed, [top * 1.05] * len(failed), "x", color=color, ms=8, mew=2, clip_on=False)
    ax.axhline(level, color="0.3", ls="--", lw=1, label=f"level {level:g}")
    if _is_log(values):
        ax.set_xscale("log")
    else:
        ax.set_xticks(x, [_label(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel("gap to the ReLU (fraction of L(0))")
    ax.set_ylim(0, top * 1.12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, framealpha=0.95, loc="upper left")
    ax.set_title(title, fontsize=10)
    return fig


def grid_map_figure(rows: Sequence[dict], keys: tuple[str, str], metric: str, *, level: float, title: str) -> plt.Figure:
    """The median of ``metric`` over the first two keys as a map (columns: ``keys[0]``), each cell
    written out, cells past ``level`` outlined, failed cells crossed.

    >>> rows = [{"a": a, "b": b, "seed": 0, "status": "ok", "m": a * b} for a in (1, 2) for b in (1, 3)]
    >>> grid_map_figure(rows, ("a", "b"), "m", level=2.5, title="t").axes[0].get_xlabel()
    'a'
    """
    xs, ys = _values(rows, keys[0]), _values(rows, keys[1])
    grid = np.full((len(ys), len(xs)), np.nan)
    failed = np.zeros_like(grid, dtype=bool)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            cell = _cell(rows, metric, **{keys[0]: x, keys[1]: y})
            finite = [c for c in cell if math.isfinite(c)]
            failed[i, j] = len(finite) < len(cell)
            grid[i, j] = np.median(finite) if finite and not failed[i, j] else np.nan
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 2.6, 0.62 * len(ys) + 1.9), layout="constrained")
    shown = np.where(np.isfinite(grid), grid, np.nan)
    vmax = max(level * 2, float(np.nanmax(shown))) if np.isfinite(shown).any() else level * 2
    image = ax.imshow(shown, cmap="viridis_r", vmin=0, vmax=vmax, aspect="auto", origin="lower")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if failed[i, j]:
                ax.text(j, i, "×", ha="center", va="center", fontsize=14, color="#b2182b")
                continue
            value = grid[i, j]
            if np.isfinite(value):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.55 * vmax else "black")
            if not np.isfinite(value) or value > level:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#b2182b", lw=1.8))
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys], fontsize=8)
    ax.set_xlabel(keys[0])
    ax.set_ylabel(keys[1])
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label(f"{metric} (median over seeds)", fontsize=8)
    ax.set_title(f"{title}\noutlined: past {level:g}; ×: training failed", fontsize=9)
    return fig


def grid_figures(rows: Sequence[dict], grid_keys: Sequence[str], metric: str, *, level: float, title: str) -> dict:
    """``{file name: figure}``: one map per metric model over the first two keys, or lines over one.

    With one key: ``sweep-lines.png`` of every ``*.gap_max`` column. With two or more:
    ``sweep-map-{model}.png`` of ``metric`` and of the same statistic for the other models.
    """
    gap_columns = sorted({c for row in rows for c in row if c.endswith(metric.split(".", 1)[1])},
                         key=lambda c: (c != metric, c))
    if len(grid_keys) == 1:
        return {"sweep-lines.png": grid_line_figure(rows, grid_keys[0], gap_columns or [metric], level=level, title=title)}
    return {
        f"sweep-map-{column.split('.')[0]}.png": grid_map_figure(
            rows, (grid_keys[0], grid_keys[1]), column, level=level, title=f"{title}: {column}")
        for column in gap_columns or [metric]
    }
