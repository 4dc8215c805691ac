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
