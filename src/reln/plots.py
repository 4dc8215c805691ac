"""Matplotlib figures (Agg backend, no LaTeX). Each function returns a Figure; io saves it.

Colours are fixed per model across every figure, so a reader learns them once.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MODEL_COLORS = {
    "relu": "#222222", "reln": "#d1495b", "reference": "#edae49", "modular": "#66a182", "theory": "#2e86ab",
}
MODEL_LABELS = {
    "relu": "ReLU network", "reln": "ReLN (identified)", "reference": "paper's hand-made ReLN",
    "modular": "modular GDLN", "theory": "theory",
}


def loss_figure(
    losses: dict[str, np.ndarray],
    *,
    title: str,
    linear_floor: float | None = None,
    seeds: list[int] | None = None,
) -> plt.Figure:
    """Loss curves on linear and log scales: every seed faint, the seed mean bold.

    Args:
        losses: model name -> ``(n_seeds, epochs + 1)``.
        title: figure title (the task).
        linear_floor: the least loss of a linear map, drawn as a dashed line: only gating goes
            below it.
        seeds: seed numbers, for the legend.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, scale in zip(axes, ("linear", "log")):
        for model, curves in losses.items():
            color = MODEL_COLORS.get(model, None)
            epochs = np.arange(curves.shape[1])
            for curve in curves:
                ax.plot(epochs, curve, color=color, alpha=0.25, lw=0.8)
            n = f" (mean of {len(curves)} seeds)" if len(curves) > 1 else ""
            ax.plot(epochs, curves.mean(axis=0), color=color, lw=1.8, label=MODEL_LABELS.get(model, model) + n)
        if linear_floor is not None:
            ax.axhline(linear_floor, color="0.5", ls="--", lw=1, label=f"best linear map ({linear_floor:.2f})")
        ax.set_yscale(scale)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss  ½‖Ŷ − Y‖²")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False)
    axes[1].set_title("log scale", fontsize=10)
    axes[0].set_title("linear scale", fontsize=10)
    fig.suptitle(title)
    return fig


def structure_figure(pathways: list[dict], n_contexts: int, *, title: str) -> plt.Figure:
    """The identified ReLN: one row per pathway, a filled cell per context it is open in, and
    its share of the ReLU's unit weight (mean over seeds, the seeds as dots).

    Args:
        pathways: the ``pathways`` entries of ``metrics.json`` (``contexts``, ``weight_share``,
            ``weight_share_seeds``), largest first.
        n_contexts: K.
    """
    shown = [p for p in pathways if p["weight_share"] is not None]
    rows = [p for p in shown if p["weight_share"] >= 0.002] or shown[:1]
    omitted = sum(p["weight_share"] for p in shown if p not in rows)
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


def singular_value_figure(
    epochs: np.ndarray, singular_values: np.ndarray, names: list[str], *, title: str, top: int = 4
) -> plt.Figure:
    """Singular values of every pathway's end-to-end map over training, one panel per pathway.

    Args:
        epochs: ``(snapshots,)``.
        singular_values: ``(seeds, snapshots, pathways, k)``; seeds faint, their mean bold.
        names: a label per pathway.
        top: how many of the largest singular values to draw.
    """
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
        ax.set_title(f"pathway {names[p]}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("singular value")
    axes.flat[0].legend(frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def sweep_figure(entries: list[dict], *, title: str) -> plt.Figure:
    """Selectivity and the speed of the context-specific phase against the number of contexts.

    Args:
        entries: from :func:`reln.sweep.contexts_sweep`.
    """
    K = np.array([e["contexts"] for e in entries])
    fig, (shares, speed) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    styles = {"mixed": ("#d1495b", "mixed-selective (several, not all)"), "common": ("#222222", "common (all contexts)"),
              "modular": ("#66a182", "modular (one context)")}
    for kind, (color, label) in styles.items():
        values = np.array([e[kind] for e in entries])
        shares.plot(K, values.mean(axis=1), "o-", color=color, label=label)
        for k, seeds in zip(K, values):
            shares.plot([k] * len(seeds), seeds, ".", color=color, alpha=0.4)
    shares.set_xlabel("number of contexts K")
    shares.set_ylabel("share of ReLU unit weight")
    shares.set_ylim(-0.02, 1.02)
    shares.legend(frameon=False)
    shares.grid(alpha=0.3)
    shares.set_title("who serves the contexts", fontsize=10)
    if K.min() <= 2:
        shares.annotate("K = 2: an all-but-one unit\nserves one context (modular)", (2, 0.02),
                        xytext=(2.15, 0.12), fontsize=8, color="0.35")
    for key, style, label in (
        ("epoch_below_linear_floor", "o-", "loss below the best linear map"),
        ("epoch_below_half_linear_floor", "s--", "below half of it"),
    ):
        crossed = [[v for v in e[key] if v is not None] for e in entries]  # None: never crossed
        speed.plot(K, [np.mean(c) if c else np.nan for c in crossed], style, color="#2e86ab", label=label)
    speed.set_xlabel("number of contexts K")
    speed.set_ylabel("epoch")
    speed.legend(frameon=False)
    speed.grid(alpha=0.3)
    speed.set_title("context-specific phase (only gating goes below the linear floor)", fontsize=10)
    fig.suptitle(title)
    return fig
