"""The loss split into the part a linear map can remove and the part only gating can
(reln.identification.analysis.loss_split, docs/theory.md §5.7)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reln.experiment.config import config_from_dict
from reln.experiment.experiments import run_experiment
from reln.identification.analysis import loss_split
from reln.models.pathways import Pathway, build_gdln
from reln.tasks import contextual_task
from reln.theory.balanced import integrate_flow
from reln.theory.prediction import predict_from_task

SHAPES = st.tuples(st.sampled_from([4, 8]), st.integers(1, 4), st.sampled_from(["hierarchy", "ring", "cross"]))


@given(SHAPES, st.integers(0, 2**16))
def test_the_two_parts_sum_to_the_loss_and_a_linear_map_never_moves_the_gated_part(shape, seed):
    items, contexts, structure = shape
    task = contextual_task(items, contexts, structure)
    rng = np.random.default_rng(seed)
    output = rng.normal(size=task.Y.shape)
    linear, gated = loss_split(task, output)
    assert np.isclose(linear + gated, 0.5 * ((task.Y - output) ** 2).sum())
    assert linear >= 0 and gated >= 0
    best = task.Y @ np.linalg.pinv(task.X) @ task.X  # the best linear map's output
    floor = 0.5 * ((task.Y - best) ** 2).sum()
    W = rng.normal(size=(task.Y.shape[0], task.X.shape[0]))
    assert np.isclose(loss_split(task, W @ task.X)[1], floor)
    assert np.isclose(loss_split(task, best)[0], 0, atol=1e-9)
    # gating (a unit's output on some samples only) can go below the floor: the exact target does
    assert np.isclose(loss_split(task, task.Y)[1], 0, atol=1e-9)


def test_an_always_on_flow_keeps_its_gated_part_at_the_linear_floor_and_its_parts_sum_to_its_loss():
    """t = 0 to the end of a balanced flow with every gate open: the split the flow keeps at its
    snapshots sums to its loss there, and its gated part stays at the best linear map's loss."""
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    gdln = build_gdln([Pathway(hidden=(20,), init_std=0.05)], task)
    W0 = np.full((1, task.Y.shape[0], task.X.shape[0]), 1e-3)
    flow = integrate_flow(task.X, task.Y, gdln.gates, gdln.input_masks, gdln.output_masks, W0, lr=0.02,
                          epochs=3000, method="gd", stride=1, snapshot_every=100)
    np.testing.assert_allclose(flow.split.sum(axis=1), flow.loss[flow.snapshot_epochs], rtol=1e-9)
    best = task.Y @ np.linalg.pinv(task.X) @ task.X
    np.testing.assert_allclose(flow.split[:, 1], 0.5 * ((task.Y - best) ** 2).sum(), rtol=1e-6)
    assert flow.split[-1, 0] < 0.01 * flow.split[0, 0]  # the linear part is learnt


def test_the_predictions_split_sums_to_its_loss_and_its_gated_part_falls():
    """The task-only prediction's pathways are gated, so its gated part falls below the floor."""
    task = contextual_task(8, 3)
    flow = predict_from_task(task, 200, 0.005 / 200, lr=1e-3, epochs=3000).prediction
    np.testing.assert_allclose(flow.split[0].sum(axis=1), flow.loss[0, flow.snapshot_epochs], rtol=1e-9)
    assert flow.split[0, -1, 1] < 0.8 * flow.split[0, 0, 1]  # .55 of it here


def test_a_run_reports_the_gap_split_of_the_models_it_can():
    """Models with outputs or a kept split get ``gap_split`` (the compact ReLN, its theory, the
    task-only prediction); its parts bound the gap at the snapshots."""
    config = config_from_dict({
        "task": {"items": 8, "contexts": 3, "structures": "hierarchy"},
        "relu": {"hidden": [100], "init_std": 0.005 / 100}, "train": {"seeds": [0], "epochs": 1201},
        "models": ["relu", "reln", "theory", "prediction"]}, name="split")
    run = run_experiment(config)
    relu = run.trajectories["relu"]
    theory = run.trajectories["theory"]  # the compact schedule's flow (JAX, float32): its split sums to its loss
    np.testing.assert_allclose(theory.snapshots["loss_split"].sum(axis=-1), theory.loss[:, theory.snapshot_epochs],
                               rtol=1e-4)
    for model in ("reln", "theory", "prediction"):
        split = run.metrics[model]["gap_split"]
        assert set(split) == {"linear", "linear_epoch", "linear_signed", "gated", "gated_epoch", "gated_signed"}
        assert abs(split["gated_signed"][0]) == split["gated"][0] and abs(split["linear_signed"][0]) == split["linear"][0]
        own = run.trajectories[model]
        at = np.intersect1d(own.snapshot_epochs, relu.snapshot_epochs)
        gap = np.abs(own.loss[0, at] - relu.loss[0, at]).max() / relu.loss[0, 0]
        assert gap <= split["linear"][0] + split["gated"][0] + 1e-9
        assert split["gated_epoch"][0] in at and split["linear_epoch"][0] in at


def test_from_five_contexts_up_the_relus_gated_part_leaves_its_plateau_at_one_epoch_and_the_prediction_ahead():
    """The contexts sweep's finding (docs/theory.md §5.7), seed 0: the ReLU network's gated part falls
    below .95 of its plateau at epoch 1,440 with five contexts and 1,460 with eight (seeds 0-2:
    1,440-1,470 both), while the task-only prediction's moves from 1,380 to 990."""
    from reln.identification.analysis import gated_below
    from reln.training.fit import fit_relu

    escape = {}
    for K in (5, 8):
        task = contextual_task(8, K)
        relu = fit_relu(task, (700,), 0.005 / 700, seeds=(0,), lr=1e-3, epochs=1801, snapshot_every=10)
        flow = predict_from_task(task, 700, 0.005 / 700, lr=1e-3, epochs=1801).prediction
        floor = task.loss_linear_floor
        escape[K] = (gated_below(loss_split(task, relu.output)[1], relu.snapshot_epochs, floor, (0.95,))["0.95"][0],
                     gated_below(flow.split[0, :, 1], flow.snapshot_epochs, floor, (0.95,))["0.95"][0])
    assert abs(escape[8][0] - escape[5][0]) <= 0.1 * escape[5][0]  # the ReLU: the same epoch
    assert escape[8][1] <= 0.8 * escape[5][1]  # the prediction: earlier with more contexts
    assert escape[8][1] <= 0.8 * escape[8][0]  # and ahead of the ReLU
