"""A real-data contextual task: the 8x8 digit images of scikit-learn under several labelings (docs/theory.md §4.6).

Items are digit classes, each represented by its mean image (the 8x8 images that ship with
scikit-learn, no download), scaled to unit norm so that the input scale matches the one-hot tasks.
Contexts are labelings of the same items; the targets follow the paper's layout: a common block
(the class identity, the same in every context) and one block per context, the one-hot of the
item's label under that context's labeling, zero outside its context. The inputs are the image
stacked on the scaled context one-hot.

Unlike the one-hot tasks the item inputs are correlated (mean images overlap), so Assumption 2.1
does not hold exactly; ``metrics.json`` → ``theory.assumption_2_1`` says by how much.
"""

from __future__ import annotations

import numpy as np

from reln.errors import RelnError
from reln.tasks import Task, contextual_task

# Each labeling: a name and the set of digit classes labelled 1 (the rest 0).
LABELINGS = (("parity", frozenset({1, 3, 5, 7, 9})), ("five or more", frozenset({5, 6, 7, 8, 9})),
             ("closed loop", frozenset({0, 6, 8, 9})))


def digit_class_means(classes: int) -> np.ndarray:
    """``(64, classes)`` the mean image of each digit class ``0..classes-1``, unit norm per class.

    >>> means = digit_class_means(10)
    >>> means.shape, bool(np.allclose(np.linalg.norm(means, axis=0), 1.0))
    ((64, 10), True)
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    means = np.stack([data.data[data.target == k].mean(axis=0) for k in range(classes)], axis=1)
    return means / np.linalg.norm(means, axis=0, keepdims=True)


def digits_task(classes: int = 10, contexts: int = 3, context_scale: float = 1.0) -> Task:
    """The digits task: ``classes`` digit classes x ``contexts`` labelings (module docstring).

    Args:
        classes: digit classes used, ``0..classes-1`` (2 to 10).
        contexts: labelings used, in the order of :data:`LABELINGS` (1 to 3).
        context_scale: value of the context one-hot inputs.

    >>> task = digits_task()
    >>> task.X.shape, task.Y.shape
    ((67, 30), (16, 30))
    """
    if not isinstance(classes, int) or not 2 <= classes <= 10:
        raise RelnError(f"the digits task uses 2 to 10 digit classes ([task] items), got {classes!r}")
    if not isinstance(contexts, int) or not 1 <= contexts <= len(LABELINGS):
        raise RelnError(f"the digits task has 1 to {len(LABELINGS)} labelings ([task] contexts), got {contexts!r}")
    blocks = []
    for _, ones in LABELINGS[:contexts]:
        label = np.array([1.0 if k in ones else 0.0 for k in range(classes)])
        blocks.append(np.stack([1.0 - label, label]))  # one-hot of the label, 2 x classes
    base = contextual_task(items=classes, contexts=contexts, structures=blocks, common=np.eye(classes),
                           context_scale=context_scale)
    images = digit_class_means(classes)[:, base.item]  # (64, P): each sample's item image
    X = np.concatenate([images, base.X[classes:]])
    names = ", ".join(name for name, _ in LABELINGS[:contexts])
    return Task(
        X=X, Y=base.Y, item=base.item, context=base.context, n_items=classes, n_contexts=contexts,
        item_inputs=np.arange(X.shape[0]) < images.shape[0], output_blocks=base.output_blocks,
        sample_names=base.sample_names, name=f"digits: {classes} class-mean images x {contexts} labelings ({names})",
    )
