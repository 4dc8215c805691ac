"""The real-data task: digit class means under several labelings, in the paper's target layout."""

from __future__ import annotations

import numpy as np
import pytest

from reln.experiment.config import load_config, with_overrides
from reln.tasks.digits import LABELINGS, digits_task
from reln.errors import RelnError
from reln.experiment.experiments import run_experiment


def test_digits_targets_follow_the_paper_layout():
    task = digits_task(classes=10, contexts=3)
    assert task.P == 30 and task.n_in == 64 + 3 and task.n_out == 10 + 3 * 2
    common = task.Y[:10]
    np.testing.assert_array_equal(common, np.tile(np.eye(10), 3))  # class identity in every context
    for c, (_, ones) in enumerate(LABELINGS):
        block = task.Y[10 + 2 * c: 12 + 2 * c]
        inside = task.context == c
        assert np.all(block[:, ~inside] == 0)  # zero outside its context
        labels = np.array([1.0 if k in ones else 0.0 for k in task.item[inside]])
        np.testing.assert_array_equal(block[1, inside], labels)
    images = task.X[task.item_inputs]
    np.testing.assert_allclose(np.linalg.norm(images, axis=0), 1.0)
    assert images.min() >= 0 and not np.allclose(images[:, 0], images[:, 1])  # real, overlapping images


def test_digits_task_refuses_what_it_cannot_build():
    with pytest.raises(RelnError, match="2 to 10 digit classes"):
        digits_task(classes=11)
    with pytest.raises(RelnError, match="labelings"):
        digits_task(contexts=4)


def test_digits_preset_runs_every_model_and_reports_assumption_2_1():
    config = with_overrides(load_config("digits-contexts"), seeds=(0,), epochs=400)
    metrics = run_experiment(config).metrics
    for model in ("reln", "theory", "prediction"):
        assert set(metrics[model]["gap_to_relu"]) == {"max", "mean"}
    misalignment = metrics["theory"]["assumption_2_1"]["input_misalignment"]
    assert max(misalignment.values()) > 1e-3  # overlapping images: the modes are not aligned
