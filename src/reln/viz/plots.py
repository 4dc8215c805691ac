"""Matplotlib figures (Agg backend, no LaTeX). Each function returns a Figure; io saves it.

Colours are fixed per model across every figure, so a reader learns them once.
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reln.identification.analysis import GATING_WEIGHT  # noqa: E402
from reln.identification.course import GATING_SIZES  # noqa: E402

MODEL_COLORS = {
    "relu": "#222222", "reln": "#d1495b", "replay": "#9a9a9a", "paper_reln": "#edae49", "modular": "#66a182",
    "theory": "#2e86ab", "prediction": "#7fbf3f", "prediction_seeded": "#3d7a1f",
}
# Selectivity classes of units (how many contexts a unit serves) have colours of their own, never a
# model's or a context's, so that red always means the compact ReLN and black the ReLU network.
SELECTIVITY_COLORS = {"common": "#8c564b", "mixed": "#17becf", "modular": "#bcbd22", "silent": "0.85"}
# Models without a fixed colour (candidate GDLNs of a config) take these, in the order they come.
EXTRA_COLORS = ("#7b3294", "#008837", "#e66101", "#5e3c99", "#a6611a", "#0571b0")


def model_color(model: str, models: list[str] | tuple[str, ...] = ()) -> str:
    """The fixed colour of a built-in model; a candidate's from :data:`EXTRA_COLORS` by its rank
    among the non-built-in ``models`` of the figure (so one figure never repeats a colour)."""
    if model in MODEL_COLORS:
        return MODEL_COLORS[model]
    extra = [m for m in models if m not in MODEL_COLORS]
    rank = extra.index(model) if model in extra else 0
    return EXTRA_COLORS[rank % len(EXTRA_COLORS)]


MODEL_LABELS = {
    "relu": "ReLU network", "reln": "compact ReLN", "replay": "replay of the ReLU's gates",
    "paper_reln": "paper's hand-made ReLN",
    "modular": "modular GDLN", "theory": "theory", "prediction": "prediction (task and init law only)",
    "prediction_seeded": "prediction (field, seed's init)",
}


def loss_figure(
    losses: dict[str, np.ndarray],
    *,
    title: str,
    linear_floor: float | None = None,
    seeds: list[int] | None = None,
    plateaus: dict[str, float] | None = None,
    bold: str = "mean",
    closed_forms: dict[str, np.ndarray] | None = None,
) -> plt.Figure:
    """Loss curves on linear and log scales: every seed faint, the seed mean bold.

    Args:
        losses: model name -> ``(n_seeds, epochs + 1)``.
        title: figure title (the task).
        linear_floor: the least loss of a linear map, drawn as a dashed line: only gating goes
            below it.
        seeds: seed numbers, for the legend.
        plateaus: more loss levels to mark, label -> level (e.g. the start ``1/2 ||Y||^2`` of a
            small initialisation, or a theory's plateau), drawn as dotted lines named in the
            legend of the log panel.
        bold: ``"mean"`` draws the seed mean bold; ``"nearest"`` draws bold the seed whose curve is
            nearest the mean (least mean squared distance), the paper's style for the depth
            figure: a real run, whose sharp steps a mean over seeds would smear.
        closed_forms: label -> one loss curve ``(epochs + 1,)`` in closed form, drawn thin and
            dash-dotted in the theory's colour (e.g. the linear phase from the task alone).
    """
    if bold not in ("mean", "nearest"):
        raise ValueError(f"bold must be 'mean' or 'nearest', got {bold!r}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    # ~2000 points per curve are more than the panel has pixels; drawing (and the PDF) stays fast
    keep = {model: _plot_epochs(curves.shape[1]) for model, curves in losses.items()}
    losses = {model: np.asarray(curves)[:, keep[model]] for model, curves in losses.items()}
    for ax, scale in zip(axes, ("linear", "log")):
        for model, curves in losses.items():
            color = model_color(model, list(losses))
            epochs = keep[model]
            for curve in curves:
                ax.plot(epochs, curve, color=color, alpha=0.25, lw=0.8)
            label = MODEL_LABELS.get(model, model)
            if bold == "nearest":
                nearest = nearest_to_mean(curves)
                n = f" (bold: seed {seeds[nearest] if seeds else nearest})" if len(curves) > 1 else ""
                ax.plot(epochs, curves[nearest], color=color, lw=1.8, label=label + n)
            else:  # the seed count is said once, in the panel title
                ax.plot(epochs, curves.mean(axis=0), color=color, lw=1.8, label=label)
        for label, curve in (closed_forms or {}).items():
            epochs = _plot_epochs(len(curve))
            ax.plot(epochs, np.asarray(curve)[epochs], color=MODEL_COLORS["theory"], ls="-.", lw=1.2, label=label)
        if linear_floor is not None:
            ax.axhline(linear_floor, color="0.5", ls="--", lw=1, label=f"best linear map ({linear_floor:.2f})")
        for k, (name, level) in enumerate((plateaus or {}).items()):
            ax.axhline(level, color=str(0.35 + 0.15 * (k % 3)), ls=":", lw=1.2, label=f"{name} ({level:.3g})")
        ax.set_yscale(scale)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss  ½‖Ŷ − Y‖²")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    n_plateaus = len(plateaus or {})
    split = len(handles) - n_plateaus
    # deep runs: the bold-seed labels are long and the middle of the panel is full of steps
    # an opaque box: the start line and the grid must not run through the labels
    box = {"frameon": True, "framealpha": 0.92, "edgecolor": "0.8"}
    axes[0].legend(handles[:split], labels[:split], **box, **({"loc": "upper right", "bbox_to_anchor": (1, 0.93), "fontsize": 8} if bold == "nearest" else {"fontsize": 9}))
    if n_plateaus:
        axes[1].legend(handles[split:], labels[split:], **box, fontsize=8, loc="lower left")
    axes[1].set_title("log scale", fontsize=10)
    n_seeds = max((len(c) for c in losses.values()), default=1)
    seeds_note = ("; faint: every seed, bold: the seed nearest the mean" if bold == "nearest"
                  else f"; bold: mean of {n_seeds} seeds, faint: each seed" if n_seeds > 1 else "")
    axes[0].set_title("linear scale" + seeds_note, fontsize=10)
    fig.suptitle(title)
    return fig


def loss_split_figure(parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *, title: str,
                      linear_floor: float | None = None) -> plt.Figure:
    """Each model's loss split into the part a linear map can remove and the part only gating can
    (:func:`reln.identification.analysis.loss_split`, docs/theory.md §5.7), on log scales.

    A linear network's gated part stays at the best linear map's loss (``linear_floor``, dashed);
    a model follows the ReLU where the ReLU's own curves are, part by part.

    Args:
        parts: model -> ``(snapshot_epochs, linear (rows, snapshots), gated (rows, snapshots))``.
        title: the figure's title.
        linear_floor: the best linear map's loss.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    names = ("linear part  ½‖E P_X‖²  (a linear map can remove it)", "gated part  ½‖E (I − P_X)‖²  (only gating removes it)")
    for k, (ax, name) in enumerate(zip(axes, names)):
        for model, (epochs, *values) in parts.items():
            color = model_color(model, list(parts))
            rows = np.asarray(values[k])
            for row in rows if len(rows) > 1 else ():
                ax.plot(epochs, row, color=color, alpha=0.25, lw=0.8)
            ax.plot(epochs, rows.mean(axis=0), color=color, lw=1.8, label=MODEL_LABELS.get(model, model))
        if k == 1 and linear_floor is not None:
            ax.axhline(linear_floor, color="0.5", ls="--", lw=1, label=f"best linear map ({linear_floor:.2f})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1].legend(frameon=True, framealpha=0.92, edgecolor="0.8", fontsize=8, loc="lower left")
    fig.suptitle(title)
    return fig


def _plot_epochs(n: int, points: int = 2000) -> np.ndarray:
    """About ``points`` evenly spaced epochs of ``0..n-1``, always with the first and the last."""
    stride = max(1, n // points)
    return np.unique(np.append(np.arange(0, n, stride), n - 1))


def nearest_to_mean(curves: np.ndarray) -> int:
    """Index of the row of ``curves`` ``(n, T)`` with the least mean squared distance to the row mean."""
    curves = np.asarray(curves, dtype=float)
    return int(np.argmin(((curves - curves.mean(axis=0)) ** 2).mean(axis=1)))


def _present_mean(rows, axis: int = 0) -> np.ndarray:
    """Mean over seeds of ``rows`` (``None``: missing, e.g. never reached), ``nan`` where every seed
    is missing; without NumPy's empty-slice warning."""
    values = np.array([[np.nan if v is None else v for v in row] for row in rows], float)
    counted = np.isfinite(values).sum(axis=axis)
    return np.where(counted > 0, np.nansum(values, axis=axis) / np.maximum(counted, 1), np.nan)


def gating_course_figure(course: dict, *, title: str) -> plt.Figure:
    """How the ReLU's units gate over training (docs/theory.md §3.2): above, weight shares by the
    number of contexts served, the within-context coverage and the loss; below, how many pathways
    hold most of the weight with whole-context gates and with the units' own per-sample gates;
    against epoch (log scale).

    Where the common share falls while the coverage stays near 1, units leave whole contexts (the
    ReLN's picture); where the coverage falls while the common share stays, they turn off on items
    inside the contexts they keep, and the per-sample count rises far above the context count.

    Args:
        course: from :func:`reln.identification.course.gating_course`; every seed faint, the mean bold.
    """
    epochs = np.asarray(course["epochs"], float)
    sizes = all(key in course for key in GATING_SIZES)
    fig, axes = plt.subplots(2 if sizes else 1, 1, figsize=(8, 6.6 if sizes else 4.2), sharex=True,
                             constrained_layout=True, squeeze=False, gridspec_kw={"height_ratios": [3, 2][:1 + sizes]})
    ax = axes[0, 0]
    lines = (("common", SELECTIVITY_COLORS["common"], "-", "common share (every context)"),
             ("mixed", SELECTIVITY_COLORS["mixed"], "-", "mixed share (several, not all)"),
             ("modular", SELECTIVITY_COLORS["modular"], "-", "modular share (one context)"),
             ("within_context_coverage", "k", ":", "within-context coverage"),
             ("loss", "0.55", "--", "loss / L(0)"))
    for key, color, style, label in lines:
        for seed in course[key]:
            ax.plot(epochs, np.array(seed, float), style, color=color, alpha=0.3, lw=0.8)
        # a checkpoint with no identified unit has no coverage
        ax.plot(epochs, _present_mean(course[key]), style, color=color, lw=2, label=label)
    ax.set_xscale("log")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06 if sizes else -0.16), ncol=3, frameon=False,
              fontsize=8)  # below: never on data
    ax.set_title(title, fontsize=10)
    if sizes:
        low = axes[1, 0]
        for key, color, label in ((GATING_SIZES[0], SELECTIVITY_COLORS["mixed"], "whole-context gates"),
                                  (GATING_SIZES[1], "k", "the units' own per-sample gates")):
            for seed in course[key]:
                low.plot(epochs, np.array(seed, float), color=color, alpha=0.3, lw=0.8)
            low.plot(epochs, _present_mean(course[key]), color=color, lw=2, label=label)
        if any(v and v > 0 for key in GATING_SIZES for seed in course[key] for v in seed):
            low.set_yscale("log")  # from one pathway to hundreds
            low.set_ylim(0.8, None)
        low.set_ylabel(f"pathways holding {GATING_WEIGHT:.0%}\nof the weight")
        low.grid(alpha=0.3, which="both")
        low.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False, fontsize=8)
    axes[-1, 0].set_xlabel("epoch")
    return fig


def layer_structure_figure(layers: list[dict], n_contexts: int, *, title: str, min_share: float = 0.005) -> plt.Figure:
    """Where the gating lives in a deep ReLU network: per hidden layer, the share of unit weight
    in each context pattern (the contexts where a unit is active), and the selectivity classes.

    Args:
        layers: the ``relu.layers`` entries of ``metrics.json``: ``layer``, ``pathways``
            (``contexts``, ``weight_share`` per seed, from the identification) and ``selectivity``.
        n_contexts: K.
        min_share: patterns below this mean share in every layer are pooled into "other".
    """
    patterns: dict[tuple, list] = {}
    for i, layer in enumerate(layers):
        for p in layer["pathways"]:
            patterns.setdefault(tuple(p["contexts"]), [None] * len(layers))[i] = p["weight_share"]
    def mean(v):
        return float(np.mean(v)) if v is not None else 0.0
    rows = sorted(
        (c for c, v in patterns.items() if max(mean(x) for x in v) >= min_share),
        key=lambda c: (-len(c), c),
    )
    n_layers = len(layers)
    fig, axes = plt.subplots(
        1, n_layers + 2, figsize=(2.2 + 2.6 * n_layers + 3.2, 1.4 + 0.3 * len(rows)),
        gridspec_kw={"width_ratios": [0.35 * n_contexts] + [3] * n_layers + [3.2]}, constrained_layout=True,
    )
    grid, bars, summary = axes[0], axes[1:-1], axes[-1]
    cells = np.zeros((len(rows), n_contexts))
    for r, c in enumerate(rows):
        cells[r, list(c)] = 1
    grid.imshow(cells, cmap="Greys", vmin=0, vmax=1.4, aspect="auto")
    grid.set_xticks(range(n_contexts), [str(c + 1) for c in range(n_contexts)])
    grid.set_yticks(range(len(rows)), ["{" + ",".join(str(k + 1) for k in c) + "}" for c in rows])
    grid.set_xlabel("context")
    grid.set_title("active in", fontsize=10)
    for ax, layer, i in zip(bars, layers, range(n_layers)):
        values = [patterns[c][i] for c in rows]
        shares = [mean(v) for v in values]
        colors = [SELECTIVITY_COLORS["common"] if len(c) == n_contexts else SELECTIVITY_COLORS["mixed" if len(c) > 1 else "modular"]
                  for c in rows]
        ax.barh(range(len(rows)), shares, color=colors, alpha=0.75)
        for r, v in enumerate(values):
            if v is not None and len(v) > 1:
                ax.plot(v, [r] * len(v), "o", color="black", ms=2.5)
            right = max([shares[r]] + list(v if v is not None else []))
            ax.text(right + 0.03, r, f"{shares[r]:.1%}", va="center", fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_yticks([])
        ax.set_xlim(0, 1.18)
        ax.set_xlabel("share of unit weight")
        ax.set_title(f"hidden layer {layer['layer']}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    kinds = [k for k in ("common", "mixed", "modular", "silent") if any(k in layer["selectivity"] for layer in layers)]
    kind_colors = SELECTIVITY_COLORS
    left = np.zeros(n_layers)
    for kind in kinds:
        width = np.array([np.mean(layer["selectivity"].get(kind, [0.0])) for layer in layers])
        summary.barh(range(n_layers), width, left=left, color=kind_colors[kind], alpha=0.8, label=kind)
        for i, (w, l0) in enumerate(zip(width, left)):
            if w >= 0.06:
                summary.text(l0 + w / 2, i, f"{w:.0%}", ha="center", va="center", fontsize=7, color="white" if kind != "silent" else "black")
        left += width
    summary.set_yticks(range(n_layers), [f"layer {layer['layer']}" for layer in layers])
    summary.set_ylim(n_layers + 0.4, -0.5)  # a free row at the bottom for the legend
    summary.set_xlim(0, 1)
    summary.set_xlabel("share of unit weight (seed mean)")
    summary.set_title("selectivity", fontsize=10)
    summary.legend(frameon=False, fontsize=7, loc="lower center", ncol=len(kinds), handlelength=1, columnspacing=0.8)
    fig.suptitle(title, fontsize=11)
    return fig


def structure_figure(pathways: list[dict], n_contexts: int, *, title: str) -> plt.Figure:
    """The identified ReLN: one row per pathway, a filled cell per context it is open in, and
    its share of the ReLU's unit weight (mean over seeds, the seeds as dots).

    Args:
        pathways: the ``pathways`` entries of ``metrics.json`` (``contexts``, ``weight_share``,
            ``weight_share_seeds``); drawn in :func:`pathway_order`.
        n_contexts: K.
    """
    shown = [p for p in pathways if p["weight_share"] is not None]
    rows = [p for p in shown if p["weight_share"] >= 0.002] or shown[:1]
    omitted = sum(p["weight_share"] for p in shown if p not in rows)
    rows = [rows[i] for i in pathway_order([p.get("name", "") for p in rows])]  # the order of every figure
    height = 1.2 + 0.32 * len(rows)
    fig, (grid, bars) = plt.subplots(
        1, 2, figsize=(4 + 0.5 * n_contexts, height), sharey=True,
        gridspec_kw={"width_ratios": [0.45 * n_contexts, 3]}, constrained_layout=True,
    )
    cells = np.zeros((len(rows), n_contexts))
    for r, p in enumerate(rows):
        cells[r, p["contexts"]] = 1
    grid.imshow(cells, cmap="Greys", vmin=0, vmax=1.4, aspect="auto")
    grid.set_xticks(range(n_contexts), [str(c + 1) for c in range(n_contexts)])
    grid.set_yticks(range(len(rows)), ["{" + ",".join(str(c + 1) for c in p["contexts"]) + "}" for p in rows])
    grid.set_xlabel("context")
    grid.set_title("open in", fontsize=10)
    shares = [p["weight_share"] for p in rows]
    bars.barh(range(len(rows)), shares, color=MODEL_COLORS["reln"], alpha=0.8)
    for r, p in enumerate(rows):
        seeds = p.get("weight_share_seeds") or []
        bars.plot(seeds, [r] * len(seeds), "o", color="black", ms=3)
    note = f"\n(+{len(shown) - len(rows)} below 0.2%, {omitted:.2%} in all)" if omitted else ""
    bars.set_xlabel("share of ReLU unit weight" + note)
    bars.set_xlim(0, max(1e-3, max(shares)) * 1.15)
    bars.grid(axis="x", alpha=0.3)
    bars.set_title("weight share (bars: mean, dots: seeds)", fontsize=10)
    fig.suptitle(title, fontsize=11)
    return fig


def predicted_structure_figure(identified: list[dict], predicted: dict[str, list[dict]], *, title: str) -> plt.Figure:
    """Weight share per pathway (context set), identified from the trained ReLU network beside
    each prediction's; seeds as dots. Pathways in :func:`pathway_order`; a set one side lacks
    has share 0 there.

    Args:
        identified: ``metrics.json`` → ``reln.pathways`` (``name``, ``weight_share_seeds``).
        predicted: model -> its ``pathways`` (``name``, ``weight_share`` and, per seed, ``weight_share_seeds``).

    >>> fig = predicted_structure_figure([{"name": "{1,2}", "weight_share_seeds": [0.6]}],
    ...                                  {"prediction": [{"name": "{1,2}", "weight_share": 0.5}]}, title="t")
    >>> fig.axes[0].get_ylabel()
    'share of weight'
    """
    def shares(pathways):
        return {p["name"]: p.get("weight_share_seeds") or [p["weight_share"]] for p in pathways}

    sides = {"relu": shares(identified)} | {m: shares(p) for m, p in predicted.items()}
    names = []
    for side in sides.values():
        names += [n for n in side if n not in names and max(side[n]) >= 0.005]
    names = [names[i] for i in pathway_order(names)]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names) * max(1, len(sides) / 2), 3.6), layout="constrained")
    width = 0.8 / len(sides)
    for k, (model, side) in enumerate(sides.items()):
        x = np.arange(len(names)) + (k - (len(sides) - 1) / 2) * width
        values = [side.get(n, [0.0]) for n in names]
        label = "identified from the ReLU run" if model == "relu" else MODEL_LABELS.get(model, model)
        ax.bar(x, [np.mean(v) for v in values], width * 0.92, color=MODEL_COLORS.get(model, "0.5"), alpha=0.85,
               label=label)
        for xi, v in zip(x, values):
            ax.plot([xi] * len(v), v, ".", color="black", ms=3)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_xlabel("pathway (open in contexts)")
    ax.set_ylabel("share of weight")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(sides), frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def phase_structure_figure(phases: list[dict], *, title: str, seed_index: int = 0, max_sets: int = 12) -> plt.Figure:
    """The compact ReLN over time: the units of each context set in every gate phase (one seed).

    Args:
        phases: ``metrics.json`` → ``reln.phases`` (start, read, units per context set per seed).
        seed_index: which seed's counts to draw.
        max_sets: at most this many bars per phase; with more context sets (five contexts have 31)
            the smaller ones are drawn as one grey bar, so the legend fits beside the axes.
    """
    names = []
    for phase in phases:
        for name in phase["units_per_seed"][seed_index]:
            if name not in names:
                names.append(name)
    names = [names[i] for i in pathway_order(names)]
    counts = np.array([[phase["units_per_seed"][seed_index].get(n, 0) for n in names] for phase in phases], float)
    counts = counts.reshape(len(phases), len(names))
    if len(names) > max_sets:  # the largest sets (by their most units in any phase) by name, the rest as one bar
        keep = np.sort(np.argsort(-counts.max(axis=0), kind="stable")[: max_sets - 1])
        rest = np.setdiff1d(np.arange(len(names)), keep)
        counts = np.column_stack([counts[:, keep], counts[:, rest].sum(axis=1)])
        names = [names[i] for i in keep] + [f"{len(rest)} other sets"]
    fig, ax = plt.subplots(figsize=(9, 3.6), constrained_layout=True)
    left = np.zeros(len(phases))
    colors = plt.cm.cividis(np.linspace(0.0, 0.9, max(len(names), 2)))  # pathways: a palette no model uses
    if names and names[-1].endswith("other sets"):
        colors[len(names) - 1] = (0.85, 0.85, 0.85, 1.0)
    for j, name in enumerate(names):
        ax.bar(range(len(phases)), counts[:, j], bottom=left, color=colors[j], label=name, width=0.8,
               edgecolor="white", linewidth=0.3)
        left += counts[:, j]
    labels = [f"{p['start']}" + ("" if p["read"] else "*") for p in phases]
    ax.set_xticks(range(len(phases)), labels, rotation=60, fontsize=8)
    ax.set_xlabel("phase start (epoch; * = gates derived from the task and the init, not read)")
    ax.set_ylabel("units")
    ax.legend(title="open in contexts", fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=True)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=11)
    return fig


def pathway_order(names: list[str]) -> list[int]:
    """Indices that put pathways in the one order every figure uses: by context set, the
    all-context pathway first, then larger sets before smaller, then by their 1-based contexts;
    names that are not context sets (``"{1,2}"``) keep their order, after the sets.

    >>> pathway_order(["{2}", "{1,3}", "{1,2,3}", "{1}"])
    [2, 1, 3, 0]
    """
    def key(i: int):
        name = names[i]
        if name.startswith("{") and name.endswith("}") and name[1:-1].replace(",", "").isdigit():
            contexts = tuple(int(c) for c in name[1:-1].split(","))
            return (0, -len(contexts), contexts, i)
        return (1, (), (), i)

    return sorted(range(len(names)), key=key)


def singular_value_figure(
    epochs: np.ndarray,
    singular_values: np.ndarray,
    names: list[str],
    *,
    title: str,
    top: int = 4,
    measured: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    measured_label: str = "measured",
) -> plt.Figure:
    """Singular values of every pathway's end-to-end map over training, one panel per pathway.

    Args:
        epochs: ``(snapshots,)``.
        singular_values: ``(seeds, snapshots, pathways, k)``; seeds faint, their mean bold.
        names: a label per pathway.
        top: how many of the largest singular values to draw.
        measured: pathway name -> ``(epochs, (seeds, snapshots, k))`` of another model's pathway
            of the same name (e.g. the trained ReLN's, beside the theory's), drawn dashed (mean
            over seeds) in the same colours.
    """
    order = pathway_order(list(names))
    names = [names[i] for i in order]
    singular_values = np.asarray(singular_values)[:, :, order]
    n = len(names)
    columns = min(n, 4)
    rows = -(-n // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.4 * rows), sharex=True, sharey=True,
        squeeze=False, constrained_layout=True,
    )
    colors = plt.cm.viridis(np.linspace(0, 0.85, top))
    for p, ax in enumerate(axes.flat):
        if p >= n:
            ax.axis("off")
            continue
        for k in range(min(top, singular_values.shape[-1])):
            for seed in singular_values[:, :, p, k]:
                ax.plot(epochs, seed, color=colors[k], alpha=0.25, lw=0.7)
            ax.plot(epochs, singular_values[:, :, p, k].mean(axis=0), color=colors[k], lw=1.5, label=f"σ{k + 1}")
            if measured and names[p] in measured:
                at, values = measured[names[p]]
                ax.plot(at, np.asarray(values)[:, :, k].mean(axis=0), color=colors[k], lw=1.2, ls="--",
                        label=measured_label if k == min(top, singular_values.shape[-1]) - 1 else None)
        ax.set_title(f"pathway {names[p]}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("singular value")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=8)  # off the data
    fig.suptitle(title, fontsize=11)
    return fig


def _half_loss_panel(ax, K: np.ndarray, halves: list[dict]) -> None:
    """How the units gate as the loss first halves: the common share and the within-context
    coverage against K (seeds that never halve are left out)."""
    for kind, style, label in (("common", "o-", "common share (on in every context)"),
                               ("within_context_coverage", "^:", "within-context coverage")):
        color = SELECTIVITY_COLORS["common"] if kind == "common" else "k"
        ax.plot(K, _present_mean([h[kind] for h in halves], axis=1), style, color=color, label=label)
    ax.set_xlabel("number of contexts K")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("as the loss first halves: units leave contexts,\nor turn off on items inside them", fontsize=10)


def sweep_figure(entries: list[dict], *, title: str) -> plt.Figure:
    """Selectivity and the speed of the context-specific phase against the number of contexts.

    Args:
        entries: from :func:`reln.experiment.sweep.contexts_sweep`.
    """
    K = np.array([e["contexts"] for e in entries])
    halves = all("at_half_loss" in e for e in entries)
    sizes = halves and all(key in e["at_half_loss"] for e in entries for key in GATING_SIZES)
    panels = 2 + halves + sizes
    fig, axes = plt.subplots(1, panels, figsize=(5.4 * panels, 4), constrained_layout=True)
    shares, speed = axes[:2]
    styles = {"mixed": (SELECTIVITY_COLORS["mixed"], "mixed-selective (several, not all)"),
              "common": (SELECTIVITY_COLORS["common"], "common (all contexts)"),
              "modular": (SELECTIVITY_COLORS["modular"], "modular (one context)")}
    for kind, (color, label) in styles.items():
        values = np.array([e[kind] for e in entries])
        shares.plot(K, values.mean(axis=1), "o-", color=color, label=label)
        for k, seeds in zip(K, values):
            shares.plot([k] * len(seeds), seeds, ".", color=color, alpha=0.4)
    if all("predicted_mixed" in e for e in entries):
        shares.plot(K, [e["predicted_mixed"] for e in entries], "--", color=SELECTIVITY_COLORS["mixed"], lw=1.5,
                    label="mixed, predicted from the task and init law")
    if all("predicted_mixed_seeded" in e for e in entries):
        shares.plot(K, [np.mean(e["predicted_mixed_seeded"]) for e in entries], "-.", color=SELECTIVITY_COLORS["mixed"],
                    lw=1.5, label="mixed, predicted from each seed's initial units")
    if all("within_context_coverage" in e for e in entries):
        shares.plot(K, _present_mean([e["within_context_coverage"] for e in entries], axis=1), "k:", marker="^",
                    label="within-context coverage")
    shares.set_xlabel("number of contexts K")
    shares.set_ylabel("share of ReLU unit weight")
    shares.set_ylim(-0.02, 1.02)
    shares.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, fontsize=8)  # below: never on data
    shares.grid(alpha=0.3)
    note = "\n(at K = 2 an all-but-one unit serves one context: modular)" if K.min() <= 2 else ""
    shares.set_title("who serves the contexts" + note, fontsize=10)
    for key, style, label in (
        ("epoch_below_linear_floor", "o-", "loss below the best linear map"),
        ("epoch_below_half_linear_floor", "s--", "below half of it"),
    ):
        crossed = [[v for v in e[key] if v is not None] for e in entries]  # None: never crossed
        speed.plot(K, [np.mean(c) if c else np.nan for c in crossed], style, color=MODEL_COLORS["relu"], label=label)
    if all("epoch_gated_below" in e and "predicted_epoch_gated_below" in e for e in entries):
        for level, marker in (("0.95", "v"), ("0.5", "D")):  # the gated part (docs/theory.md §5.7)
            crossed = [[v for v in e["epoch_gated_below"][level] if v is not None] for e in entries]
            speed.plot(K, [np.mean(c) if c else np.nan for c in crossed], marker=marker, ls=":", color=MODEL_COLORS["relu"],
                       label=f"gated part below {level} of its plateau")
            speed.plot(K, [np.nan if e["predicted_epoch_gated_below"][level] is None else e["predicted_epoch_gated_below"][level]
                           for e in entries], marker=marker, ls=":", mfc="none", color=MODEL_COLORS["prediction"],
                       label=f"task-only prediction, below {level}")
    speed.set_xlabel("number of contexts K")
    speed.set_ylabel("epoch")
    speed.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, fontsize=8)
    speed.grid(alpha=0.3)
    speed.set_title("context-specific phase (only gating goes below the linear floor)", fontsize=10)
    if halves:
        _half_loss_panel(axes[2], K, [e["at_half_loss"] for e in entries])
    if sizes:
        _gating_size_panel(axes[3], K, [e["at_half_loss"] for e in entries])
    fig.suptitle(title)
    return fig


def _gating_size_panel(ax, K: np.ndarray, halves: list[dict]) -> None:
    """How small a GDLN holds the ReLU as the loss first halves: the fewest pathways carrying
    80% of the weight with whole-context and with per-sample gates, against K (docs/theory.md §3.2)."""
    for key, style, color, label in ((GATING_SIZES[0], "o-", SELECTIVITY_COLORS["mixed"], "whole-context gates"),
                                     (GATING_SIZES[1], "s-", "k", "the units' own per-sample gates")):
        for k, h in zip(K, halves):
            present = [v for v in h[key] if v is not None]
            ax.plot([k] * len(present), present, ".", color=color, alpha=0.4)
        ax.plot(K, _present_mean([h[key] for h in halves], axis=1), style, color=color, label=label)
    if any(v for h in halves for v in h[GATING_SIZES[1]] if v is not None):
        ax.set_yscale("log")
    ax.set_xlabel("number of contexts K")
    ax.set_ylabel(f"pathways holding {GATING_WEIGHT:.0%} of the weight")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.set_title("as the loss first halves: how small a GDLN\nholds the ReLU network", fontsize=10)


# --- Outputs, data and representations -------------------------------------------------------

# Contexts have their own palette (colour-blind-safe "Dark2"), apart from the model colours.
CONTEXT_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def context_color(c: int) -> str:
    """Colour of context ``c`` (0-based) in every representation figure."""
    return CONTEXT_COLORS[c % len(CONTEXT_COLORS)]


def _signed_sqrt_norm(limit: float):
    """A colour norm centred at zero that stretches small magnitudes (``sign(v) sqrt(|v|)``), so
    negative, zero and positive entries stay apart even when small: white is exactly zero."""
    from matplotlib.colors import FuncNorm

    def forward(v):
        return np.sign(v) * np.sqrt(np.abs(v))

    def inverse(v):
        return np.sign(v) * v**2

    return FuncNorm((forward, inverse), vmin=-limit, vmax=limit)


VALUE_CMAP = "RdBu_r"  # negative blue, zero white, positive red


def _value_image(ax, matrix: np.ndarray, limit: float):
    return ax.imshow(matrix, cmap=VALUE_CMAP, norm=_signed_sqrt_norm(limit), aspect="auto", interpolation="nearest")


def _context_groups(context: np.ndarray) -> list[tuple[int, int, int]]:
    """``(context, first sample, last sample + 1)`` for each run of equal contexts."""
    edges = np.flatnonzero(np.diff(context)) + 1
    starts, stops = np.r_[0, edges], np.r_[edges, len(context)]
    return [(int(context[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def _sample_axis(ax, context: np.ndarray, *, labels: bool = True, axis: str = "x", line_color: str = "0.15") -> None:
    """Samples grouped by context: separators between groups, ``context c`` (1-based) centred
    under each group."""
    groups = _context_groups(context)
    for _, a, _ in groups[1:]:
        (ax.axvline if axis == "x" else ax.axhline)(a - 0.5, color=line_color, lw=1.0)
    ticks = [(a + b - 1) / 2 for _, a, b in groups]
    names = [f"ctx {c + 1}" if len(groups) > 4 else f"context {c + 1}" for c, _, _ in groups] if labels else []
    if axis == "x":
        ax.set_xticks(ticks, names if labels else [""] * len(ticks), fontsize=8)
        ax.tick_params(axis="x", length=0)
    else:
        ax.set_yticks(ticks, names if labels else [""] * len(ticks), fontsize=8)
        ax.tick_params(axis="y", length=0)


def _row_blocks(ax, blocks, *, labels: bool = True) -> None:
    """Output rows grouped into blocks (common, context 1, ...): separators and block names."""
    blocks = list(blocks or [])
    for _, start, _ in blocks[1:]:
        ax.axhline(start - 0.5, color="0.15", lw=0.8)
    ticks = [(a + b - 1) / 2 for _, a, b in blocks]
    ax.set_yticks(ticks, [name for name, _, _ in blocks] if labels else [""] * len(ticks), fontsize=8)
    ax.tick_params(axis="y", length=0)


def figure_epochs(loss: np.ndarray, snapshot_epochs: np.ndarray, fractions=(0.9, 0.5, 0.1)) -> list[int]:
    """Epochs worth showing: the first snapshot epochs at which ``loss`` (one seed) has fallen
    below each fraction of its initial value (leaving the first plateau, halfway, nearly done),
    and the last epoch. Fractions never reached are skipped; duplicates dropped."""
    epochs = np.asarray(snapshot_epochs)
    chosen = []
    for f in fractions:
        below = np.flatnonzero(loss < f * loss[0])
        if below.size:
            chosen.append(int(epochs[np.searchsorted(epochs, below[0]).clip(0, len(epochs) - 1)]))
    chosen.append(int(epochs[-1]))
    return sorted(set(chosen))


def output_figure(
    outputs: dict[str, tuple[np.ndarray, np.ndarray]],
    target: np.ndarray,
    context: np.ndarray,
    *,
    title: str,
    output_blocks=None,
) -> plt.Figure:
    """Network outputs ``(n_out, P)`` at a few epochs, the target at the right of every row.

    A model recorded at several epochs gets a row of its own, one column per epoch; models known
    at their final epoch only share a row ("final epoch"), one panel each. One diverging colour
    map for every panel (blue negative, white zero, red positive; symmetric limits shared by all
    panels; small values stretched, see :func:`_signed_sqrt_norm`), samples grouped by context,
    output rows by block.

    Args:
        outputs: model -> ``(epochs (k,), matrices (k, n_out, P))``, ``k >= 1``.
        target: ``Y`` ``(n_out, P)``.
        context: ``(P,)`` context of every sample.
        output_blocks: ``(name, start, stop)`` row blocks of ``Y``.
    """
    timelines = {m: v for m, v in outputs.items() if len(v[0]) > 1}
    finals = {m: v for m, v in outputs.items() if len(v[0]) == 1}
    columns = sorted({int(e) for epochs, _ in timelines.values() for e in epochs})
    n_cols = max(len(columns), 1 if finals else 0, min(len(finals), 4))
    # rows: ("timeline", model) or ("final", [models])
    rows: list[tuple[str, object]] = [("timeline", m) for m in timelines]
    packed = list(finals)
    rows += [("final", packed[i: i + n_cols]) for i in range(0, len(packed), n_cols)]
    limit = max([float(np.abs(target).max())] + [float(np.abs(m).max()) for _, m in outputs.values()] + [1e-12])
    n_out, P = target.shape
    width = min(2.0, max(1.0, 0.07 * P + 0.4))
    height = min(2.8, max(0.9, 0.04 * n_out + 0.5))
    fig, axes = plt.subplots(
        len(rows), n_cols + 1, figsize=(2.3 + width * (n_cols + 1), 0.9 + (height + 0.25) * len(rows)),
        squeeze=False, constrained_layout=True,
    )
    last_row = len(rows) - 1
    for r, (kind, what) in enumerate(rows):
        if kind == "timeline":
            epochs, matrices = timelines[what]
            by_epoch = {int(e): m for e, m in zip(epochs, matrices)}
            panels = [(None if e not in by_epoch else by_epoch[e], f"epoch {e}" if r == 0 else None, None)
                      for e in columns]
            label, color = MODEL_LABELS.get(what, what), MODEL_COLORS.get(what, "black")
        else:
            # a narrow panel's title wraps to its width (about 12 characters an inch at this size)
            panels = [(finals[m][1][0], textwrap.fill(MODEL_LABELS.get(m, m), max(8, int(12 * width)))
                       + f"\nepoch {int(finals[m][0][0])}", MODEL_COLORS.get(m, "black")) for m in what]
            label, color = "final epoch", "black"
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(panels):
                ax.axis("off")
                continue
            matrix, panel_title, panel_color = panels[c]
            if matrix is None:
                ax.set_facecolor("0.95")
                ax.text(0.5, 0.5, "not\nrecorded", ha="center", va="center", fontsize=8, color="0.4",
                        transform=ax.transAxes)
                ax.set_xlim(-0.5, P - 0.5)
                ax.set_ylim(n_out - 0.5, -0.5)
            else:
                _value_image(ax, matrix, limit)
            _sample_axis(ax, context, labels=r == last_row)
            _row_blocks(ax, output_blocks, labels=c == 0)
            if panel_title:
                ax.set_title(panel_title, fontsize=9 if width > 1.2 else 8, color=panel_color or "black")
        target_ax = axes[r, -1]
        _value_image(target_ax, target, limit)
        _sample_axis(target_ax, context, labels=r == last_row)
        _row_blocks(target_ax, output_blocks, labels=False)
        if r == 0 or kind == "final":
            target_ax.set_title("target Y", fontsize=9, fontweight="bold")
        axes[r, 0].set_ylabel(label, color=color, fontsize=10, fontweight="bold", labelpad=4)
    image = axes[0, -1].images[0]
    bar = fig.colorbar(image, ax=axes[:, -1], shrink=0.8, aspect=30, pad=0.02)
    ticks = [v for v in (-limit, -0.25, 0.0, 0.25, limit) if abs(v) <= limit]
    bar.set_ticks(ticks, labels=[f"{v:.2g}" for v in ticks])
    bar.ax.tick_params(labelsize=8)
    bar.set_label("output value (colour ∝ sign·√|value|)", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def dataset_figure(task, *, title: str) -> plt.Figure:
    """The dataset as the paper's Figure 3 draws it: inputs ``X`` above targets ``Y``, one column
    per sample, samples grouped by context (numbered from 1), rows labelled (items, contexts;
    common and per-context target blocks). Same colour map as the output figure.

    Args:
        task: a :class:`reln.tasks.Task` (``X``, ``Y``, ``context``, ``item``, ``item_inputs``,
            ``output_blocks``).
    """
    X, Y, context = np.asarray(task.X), np.asarray(task.Y), np.asarray(task.context)
    limit = float(max(np.abs(X).max(), np.abs(Y).max(), 1e-12))
    P = X.shape[1]
    width = min(9.0, max(4.0, 0.22 * P + 2.0))
    height = min(9.0, max(3.0, 0.09 * (X.shape[0] + Y.shape[0]) + 1.6))
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(width, height), sharex=True, constrained_layout=True,
        gridspec_kw={"height_ratios": [max(X.shape[0], 3), max(Y.shape[0], 3)]},
    )
    image = _value_image(top, X, limit)
    _value_image(bottom, Y, limit)
    items = np.asarray(task.item_inputs, bool)
    n_items = int(items.sum())
    if 0 < n_items < X.shape[0]:
        top.axhline(n_items - 0.5, color="0.15", lw=0.8)
        names = [("items", 0, n_items), ("contexts", n_items, X.shape[0])]
        _row_blocks(top, names)
    top.set_title("input X (item one-hot, context one-hot)", fontsize=10)
    _sample_axis(top, context, labels=False)
    _row_blocks(bottom, task.output_blocks)
    _sample_axis(bottom, context)
    bottom.set_title("target Y", fontsize=10)
    # the item of every sample, 1-based, as minor ticks
    bottom.set_xticks(np.arange(P), minor=True)
    if P <= 48:
        bottom.set_xticklabels([str(int(i) + 1) for i in task.item], minor=True, fontsize=6)
        bottom.tick_params(axis="x", which="minor", pad=1, length=2)
        bottom.tick_params(axis="x", which="major", pad=10)
    bottom.set_xlabel("sample (item number; grouped by context)", fontsize=9)
    bar = fig.colorbar(image, ax=[top, bottom], shrink=0.6, aspect=30, pad=0.02)
    bar.ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def panel_columns(n: int, widest: int = 4) -> int:
    """Columns for ``n`` equal panels: one row up to ``widest``, else the fewest rows of at most
    ``widest`` with the last row as full as it can be (7 panels: 4 + 3, not 3 + 3 + 1).

    >>> [panel_columns(n) for n in (1, 3, 4, 5, 7, 9)]
    [1, 3, 4, 3, 4, 3]
    """
    if n <= widest:
        return max(n, 1)
    rows = -(-n // widest)
    return -(-n // rows)


def _coinciding(points: np.ndarray, context: np.ndarray, radius: float) -> list[list[int]]:
    """Groups of samples of one context whose points lie within ``radius`` of the group's first
    (greedy, in sample order): drawn as one dot so that item labels never overlap."""
    groups: list[list[int]] = []
    for p in range(len(points)):
        for group in groups:
            q = group[0]
            if context[q] == context[p] and np.hypot(*(points[p] - points[q])) <= radius:
                group.append(p)
                break
        else:
            groups.append([p])
    return groups


def _push_labels_apart(fig) -> None:
    """Place each group label (an annotation offset from its dot) inside its panel where its box
    overlaps no other text of the figure: its outward offset first, then turned by growing angles
    and pushed further."""
    from matplotlib.text import Annotation

    fig.draw_without_rendering()  # the layout, so the boxes below are where the file will have them
    renderer = fig.canvas.get_renderer()
    turns = np.radians([0, 40, -40, 80, -80, 120, -120, 180])
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        for label in [t for t in ax.texts if isinstance(t, Annotation)]:
            others = [t.get_window_extent(renderer) for other_ax in fig.axes for t in other_ax.texts if t is not label]
            x, y = label.xyann
            for radius in (1.0, 1.6, 2.3):
                free = None
                for turn in turns:
                    c, s_ = np.cos(turn), np.sin(turn)
                    label.xyann = (radius * (c * x - s_ * y), radius * (s_ * x + c * y))
                    box = label.get_window_extent(renderer)
                    inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                    if inside and not any(box.overlaps(o) for o in others):
                        free = label.xyann
                        break
                if free is not None:
                    break
            else:
                label.xyann = (x, y)  # nowhere free nearby: keep the outward place


def mds_figure(
    trajectories: dict[str, tuple[np.ndarray, np.ndarray]],
    context: np.ndarray,
    item: np.ndarray,
    *,
    title: str,
    notes: dict[str, str] | None = None,
) -> plt.Figure:
    """MDS trajectories of hidden representations: one panel per model.

    Each sample is a line from its first to its last snapshot, coloured by context; dots grow
    and darken with time; the last snapshot is a large dot with the item number (1-based). A
    model with a single snapshot (final parameters only) is drawn as dots. Samples of a context
    whose last points nearly coincide share one dot, labelled with all their items.

    Args:
        trajectories: model -> ``(epochs (T,), points (T, P, 2))``.
        context, item: ``(P,)`` 0-based context and item of every sample.
        notes: model -> a note for its panel title.
    """
    notes = notes or {}
    n = len(trajectories)
    columns = panel_columns(n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 5.2 * rows + 0.6), squeeze=False,
                             constrained_layout=True)
    big = len(context) <= 40
    for ax, (model, (epochs, points)) in zip(axes.flat, trajectories.items()):
        T = points.shape[0]
        fade = np.linspace(0.15, 0.9, T) if T > 1 else np.array([0.9])
        sizes = np.linspace(6, 22, T) if T > 1 else np.array([22.0])
        for p in range(points.shape[1]):
            color = context_color(int(context[p]))
            if T > 1:
                ax.plot(points[:, p, 0], points[:, p, 1], color=color, lw=0.8, alpha=0.5, zorder=1)
                ax.scatter(points[:-1, p, 0], points[:-1, p, 1], s=sizes[:-1], color=color, alpha=fade[:-1],
                           linewidths=0, zorder=2)
        # last snapshot: samples of a context that (nearly) coincide share one dot and one label
        extent = float(np.ptp(points.reshape(-1, 2), axis=0).max()) or 1.0
        origin = points[0].mean(axis=0)  # the representations grow outwards from here
        placed: list[tuple[float, float]] = []  # label anchors so far: coinciding ones stack
        for members in _coinciding(points[-1], context, 0.045 * extent):
            color = context_color(int(context[members[0]]))
            x, y = points[-1, members].mean(axis=0)
            stack = sum(np.hypot(x - px, y - py) <= 0.045 * extent for px, py in placed)
            placed.append((x, y))
            ax.scatter(x, y, s=110 if big else 30, color=color, edgecolors="white", linewidths=0.6, zorder=3)
            if not big:
                continue
            names = sorted(int(item[p]) + 1 for p in members)
            if len(names) == 1:
                ax.text(x, y, str(names[0]), ha="center", va="center", fontsize=6.5, color="white",
                        fontweight="bold", zorder=4)
            else:
                outward = np.array([x, y]) - origin  # label beyond the dot, where the paths do not go
                outward = outward / (np.hypot(*outward) or 1.0)
                offset = 11 * outward + np.array([0.0, -10.0 * stack]) * (1 if outward[1] <= 0 else -1)
                ax.annotate(",".join(map(str, names)), (x, y), xytext=tuple(offset), textcoords="offset points",
                            ha="center", va="center", fontsize=7, color=color, fontweight="bold", zorder=4)
        span = f"epochs {int(epochs[0])} … {int(epochs[-1])}, {T} snapshots" if T > 1 else f"epoch {int(epochs[-1])}"
        note = "\n" + textwrap.fill(notes[model], 48) if model in notes else ""  # within the panel's width
        ax.set_title(f"{MODEL_LABELS.get(model, model)}\n{span}{note}", fontsize=9,
                     color=MODEL_COLORS.get(model, "black"))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.margins(0.08)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="-", lw=0.8, color=context_color(c), label=f"context {c + 1}")
               for c in sorted(set(int(c) for c in context))]
    handles.append(Line2D([], [], marker="o", ls="", color="0.6", ms=3, label="earlier (small, faint)"))
    handles.append(Line2D([], [], marker="o", ls="", color="0.3", ms=9, label="last (item number)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2 * columns + 1), frameon=False,
               fontsize=8)
    fig.suptitle(title, fontsize=11)
    _push_labels_apart(fig)  # last: the layout above moves every text
    return fig


def rdm_figure(
    rdms: dict[str, np.ndarray],
    context: np.ndarray,
    *,
    title: str,
    metric: str = "1 − Pearson r",
    notes: dict[str, str] | None = None,
) -> plt.Figure:
    """Representational dissimilarity matrices ``(P, P)``, one panel per model, on one colour
    scale (``0`` to the largest entry), samples grouped by context on both axes.

    Args:
        rdms: model (or e.g. ``"target"``) -> ``(P, P)``.
        metric: the distance, for the colour bar.
        notes: model -> a note for its panel title.
    """
    notes = notes or {}
    n = len(rdms)
    columns = panel_columns(n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns + 0.8, 3.4 * rows + 0.5), squeeze=False,
                             constrained_layout=True)
    top = max(float(np.max(d)) for d in rdms.values()) or 1.0
    image = None
    for k, (ax, (model, matrix)) in enumerate(zip(axes.flat, rdms.items())):
        image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=top, interpolation="nearest")
        _sample_axis(ax, context, axis="x", line_color="white", labels=k + columns >= n)  # no panel below
        _sample_axis(ax, context, axis="y", line_color="white", labels=k % columns == 0)
        label = MODEL_LABELS.get(model, model)
        note = f"\n{notes[model]}" if model in notes else ""
        ax.set_title(label + note, fontsize=9, color=MODEL_COLORS.get(model, "black"))
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.75, aspect=30, pad=0.02)
        bar.set_label(metric, fontsize=9)
        bar.ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def representation_figures(
    task,
    trajectories: dict,
    gdln_gates: dict[str, tuple],
    *,
    name: str,
    seed: int = 0,
    mds_snapshots: int = 12,
) -> dict[str, plt.Figure]:
    """The output, dataset, MDS and RDM figures of a run, for its first seed (index 0).

    Where each picture comes from:

    * ReLU network: its snapshots (``output``, and the last of its ``layers``), at the
      epochs of :func:`figure_epochs` for the outputs, every snapshot (subsampled) for MDS.
    * GDLN models (``gdln_gates``): the hidden layer computed from the final parameters with the
      gates in force at the end (:func:`reln.viz.representation.gdln_hidden`,
      :func:`reln.models.gated.gated_hidden`), since GDLN runs keep no hidden snapshots;
      an MDS trajectory when the run records its hidden ``layers`` (the unit-gated ReLNs do);
      the output at the chosen epochs from its ``output`` snapshots when the trajectory has them,
      else at the final epoch from the final parameters. With no hidden trajectory they have an
      RDM panel but no MDS panel: a single final-epoch embedding, on axes of its own, says
      less than the RDM does.
    * Other models (e.g. a theory without weights) are left out.

    Args:
        task: the :class:`reln.tasks.Task`.
        trajectories: model -> :class:`reln.training.train.Trajectory` (seeds on axis 0).
        gdln_gates: GDLN model -> ``(gates, input_masks or None, output_masks or None)`` of its
            final epoch, for its first seed: ``gates`` is ``(p, P)`` for stacked pathways, or a
            list of ``(units_l, P)`` per hidden layer for a unit-gated network (ReLU-shaped
            weights, :func:`reln.models.gated.gated_hidden`).
        name: the run's name, for titles.
        seed: the seed number of index 0, for titles.

    Returns:
        ``{"outputs": ..., "dataset": ..., "mds": ..., "rdm": ...}`` (without ``mds`` and ``rdm``
        when no model has a hidden representation).
    """
    from reln.models.gated import gated_hidden
    from reln.viz import representation as rep

    X, Y = np.asarray(task.X, np.float64), np.asarray(task.Y, np.float64)
    outputs, hidden, mds_notes, trajectories_2d = {}, {}, {}, {}
    relu = trajectories.get("relu")
    columns = None
    if relu is not None and relu.output is not None:
        snap = np.asarray(relu.snapshot_epochs)
        # columns on the epochs every model with output snapshots has, so no panel is off-epoch
        grid = snap
        for model in gdln_gates:
            if model in trajectories and trajectories[model].output is not None:
                grid = np.intersect1d(grid, trajectories[model].snapshot_epochs)
        columns = figure_epochs(np.asarray(relu.loss[0]), grid if len(grid) else snap)
        picks = np.searchsorted(snap, columns)
        outputs["relu"] = (snap[picks], np.asarray(relu.output[0])[picks])
        if relu.layers:
            layers = relu.layers[-1].hidden[0]  # (snapshots, units, P)
            hidden["relu"] = np.asarray(layers[-1], np.float64)
            path = rep.mds_trajectory(layers, n_snapshots=mds_snapshots)
            trajectories_2d["relu"] = (snap[path.indices], path.points)
            n_layers = len(relu.layers)
            mds_notes["relu"] = f"hidden layer {n_layers} of {n_layers}; 2-D fit: Stress-1 {path.stress:.2f}"
    for model in [m for m in trajectories if m in gdln_gates]:  # the run's order of models
        gates, input_masks, output_masks = gdln_gates[model]
        trajectory = trajectories[model]
        weights = [np.asarray(w[0]) for w in trajectory.final_params]
        if weights[0].ndim == 2:  # ReLU-shaped weights, gated unit by unit: gates per hidden layer
            layer_gates = list(gates) if isinstance(gates, (list, tuple)) else [gates]
            hidden[model] = gated_hidden([w.astype(np.float64) for w in weights], X,
                                         [np.asarray(g, np.float64) for g in layer_gates])[-1]
            final = weights[-1].astype(np.float64) @ hidden[model]
        else:  # stacked pathways; a one-hidden-layer schedule may come as a list of one layer
            gates = gates[0] if isinstance(gates, (list, tuple)) else gates
            hidden[model] = rep.gdln_hidden(weights, gates, X, input_masks)
            final = rep.gdln_output(weights, gates, X, input_masks, output_masks)
        snap = np.asarray(trajectory.snapshot_epochs)
        if trajectory.layers:  # a model that records its hidden layers (a unit-gated ReLN) gets MDS
            path = rep.mds_trajectory(trajectory.layers[-1].hidden[0], n_snapshots=mds_snapshots)
            trajectories_2d[model] = (snap[path.indices], path.points)
            mds_notes[model] = f"last hidden layer; 2-D fit: Stress-1 {path.stress:.2f}"
        picks = None if columns is None else np.unique(np.searchsorted(snap, columns).clip(0, len(snap) - 1))
        if picks is not None and trajectory.output is not None:
            outputs[model] = (snap[picks], np.asarray(trajectory.output[0])[picks])
        else:
            outputs[model] = (np.array([trajectory.loss.shape[1] - 1]), final[None])
    figures = {"dataset": dataset_figure(task, title=f"{name} data: {task.name}")}
    if outputs:
        figures["outputs"] = output_figure(
            outputs, Y, np.asarray(task.context), output_blocks=task.output_blocks,
            title=f"{name}: network outputs Ŷ at chosen epochs, seed {seed} (first seed)",
        )
    if "relu" in trajectories_2d:  # every other picture turned onto the ReLU's, to compare by eye
        for model in [m for m in trajectories_2d if m != "relu"]:
            epochs_2d, points = trajectories_2d[model]
            trajectories_2d[model] = (epochs_2d, rep.align_to(trajectories_2d["relu"][1], points))
            mds_notes[model] = mds_notes.get(model, "") + "; turned onto the ReLU's (Procrustes)"
    if trajectories_2d:
        figures["mds"] = mds_figure(
            trajectories_2d, np.asarray(task.context), np.asarray(task.item), notes=mds_notes,
            title=f"{name}: MDS of hidden representations\nover training (Euclidean), seed {seed} (first seed)",
        )
    if hidden:
        rdms = {model: rep.rdm(h) for model, h in hidden.items()} | {"target Y": rep.rdm(Y)}
        figures["rdm"] = rdm_figure(
            rdms, np.asarray(task.context), notes={m: "last hidden layer, final epoch" for m in hidden},
            title=f"{name}: representational dissimilarity (1 − Pearson r), seed {seed} (first seed)",
        )
    return figures
