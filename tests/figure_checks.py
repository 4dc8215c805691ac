"""Checks of a drawn matplotlib figure: text boxes that overlap, and axes that show nothing.

Shared by the figure tests. Only what is drawn counts: tick labels of ticks inside the view, titles,
axis labels, legend and annotation texts, each by its extent on the renderer.
"""

from __future__ import annotations

import itertools

from matplotlib.text import Text


def _in_view(axis, tick) -> bool:
    low, high = sorted(axis.get_view_interval())
    span = high - low
    return low - 1e-9 * span <= tick.get_loc() <= high + 1e-9 * span


def drawn_texts(fig) -> list[Text]:
    """Every visible, non-empty text of the figure that is drawn."""
    texts = [t for t in fig.texts]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if tick.get_visible() and _in_view(axis, tick):
                    texts += [label for label in (tick.label1, tick.label2) if label.get_visible()]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            texts += [legend.get_title(), *legend.get_texts()]
    for legend in fig.legends:
        texts += [legend.get_title(), *legend.get_texts()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def overlapping_texts(fig, allow=lambda a, b: False) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap (``allow(a, b)`` exempts a pair by design)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t, t.get_window_extent(renderer)) for t in drawn_texts(fig)]
    boxes = [(t, b) for t, b in boxes if b.width > 0 and b.height > 0]
    return [(a.get_text(), b.get_text()) for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
            if ba.overlaps(bb) and not allow(a, b)]


def empty_axes(fig) -> list[str]:
    """Titles (or indices) of visible axes with nothing drawn in them."""
    return [ax.get_title() or str(i) for i, ax in enumerate(fig.axes)
            if ax.get_visible() and ax.axison and not (ax.lines or ax.images or ax.collections or ax.patches or ax.texts)]
