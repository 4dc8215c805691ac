"""The ReLN predicted from the task and the init law alone: its identities and its CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.cli import main
from reln.models.pathways import build_gdln
from reln.tasks import contextual_task
from reln.theory.prediction import predict_from_task, predicted_pathways


def test_prediction_starts_at_the_zero_map_loss():
    """t = 0: the predicted network is tiny, so its loss is 1/2 ||Y||^2 to within its tiny init."""
    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    p = predict_from_task(task, 700, 0.005 / 700, lr=1e-3, epochs=10)
    assert p.prediction.loss[0, 0] == pytest.approx(task.loss_initial, rel=1e-6)


def test_prediction_reaches_the_exact_fit_of_its_structure():
    """t -> infinity: a common pathway and every all-but-one pathway can fit the targets exactly
    (in context c the sets omitting m != c sum their outputs), so the flow's loss goes to zero and
    the shares sum to 1. Run at a larger rate: the flow depends on lr and t only through lr t."""
    task = contextual_task(8, 3)
    p = predict_from_task(task, 700, 0.005 / 700, lr=5e-3, epochs=6000)
    assert p.prediction.loss[0, -1] <= 1e-6 * task.loss_initial
    assert p.shares.sum() == pytest.approx(1.0)
    # same-structure task: every all-but-one set is alike, so their predicted shares are equal
    np.testing.assert_allclose(p.shares[1:], p.shares[1], rtol=1e-6)


def test_predicted_structure_is_common_plus_all_but_one_on_items():
    pathways = predicted_pathways(contextual_task(8, 4), 500, 0.005 / 500)
    assert [p.contexts for p in pathways] == [None, (1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)]
    assert [p.inputs for p in pathways] == ["all", "items", "items", "items", "items"]
    # the common pathway holds the H/2 growing units; the all-but-one pathways split them (node reuse)
    assert [p.hidden for p in pathways] == [(250,)] + [(62,)] * 4
    assert sum(p.hidden[0] for p in predicted_pathways(contextual_task(8, 5), 600, 1e-5)[1:]) == 300
    assert [p.name for p in predicted_pathways(contextual_task(8, 1), 100, 1e-4)] == ["{1}"]


def test_predict_command_trains_nothing_and_writes_the_prediction(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["predict", "contexts-3", "--epochs", "200", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"task", "prediction", "environment", "conventions"}  # no ReLU network was trained
    assert prediction_seeds(metrics) == "all"
    prediction = metrics["prediction"]
    assert prediction["reads_from_relu"]["numbers"] == 0 and not prediction["reads_from_relu"]["initial_weights"]
    assert [p["contexts"] for p in prediction["pathways"]] == [[0, 1, 2], [1, 2], [0, 2], [0, 1]]
    assert sum(p["weight_share"] for p in prediction["pathways"]) == pytest.approx(1.0)
    assert "input_misalignment" in prediction["assumption_2_1"]
    assert "predicted pathways" in capsys.readouterr().out
    # --set changes the config it predicts for: four contexts, a common and four all-but-one pathways
    assert main(["predict", "contexts-3", "--epochs", "200", "--set", "task.contexts=4", "--quiet",
                 "--out", str(tmp_path / "p4")]) == 0
    four = json.loads((tmp_path / "p4" / "metrics.json").read_text())["prediction"]["pathways"]
    assert [len(p["contexts"]) for p in four] == [4, 3, 3, 3, 3]


def prediction_seeds(metrics: dict):
    """One predicted curve, compared with every ReLU seed: its rows are labelled ``"all"``."""
    return metrics["prediction"]["seeds"]


def test_predict_command_imports_neither_jax_nor_matplotlib(tmp_path):
    """What makes ``reln predict`` cheap against training (benchmarks/predict_cost.sh times it):
    the prediction is NumPy, so the command never loads JAX, and draws no figures unless asked."""
    import subprocess
    import sys

    script = (
        "import sys; from reln.cli import main; code = main(['predict', 'contexts-3', '--epochs', '50', "
        f"'--out', {str(tmp_path / 'p')!r}, '--quiet']); "
        "print(code, 'jax' in sys.modules, 'matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "False", "False"]
    assert {p.name for p in (tmp_path / "p").iterdir()} >= {"metrics.json", "results.npz", "config.json"}
    assert not list((tmp_path / "p").glob("*.png"))


def test_predict_command_draws_figures_when_asked(tmp_path):
    out = tmp_path / "p"
    assert main(["predict", "contexts-3", "--epochs", "50", "--out", str(out), "--formats", "png", "--quiet"]) == 0
    assert {"loss.png", "prediction_singular_values.png"} <= {p.name for p in out.iterdir()}


def test_field_is_the_error_of_the_task_only_prediction():
    """The field of docs/theory.md §5.8 is the predicted ReLN's own error: at every epoch its loss is
    the prediction's loss, and at the last epoch it is Y minus the output of the final maps through
    the predicted pathways' gates (the error the flow kept is the one it stepped on)."""
    from reln.theory.field import field_error

    task = contextual_task(8, 3, ["hierarchy", "ring", "cross"])
    p = predict_from_task(task, 700, 0.005 / 700, lr=1e-3, epochs=1500, keep_error=True)
    E = field_error(task, 700, 0.005 / 700, lr=1e-3, epochs=1500)
    np.testing.assert_allclose(0.5 * np.sum(E**2, axis=(1, 2)), p.prediction.loss[0], rtol=1e-10)
    gdln = p.prediction.gdln
    output = np.einsum("pP,poi,iP->oP", gdln.gates, p.prediction.final_maps[0], task.X)
    np.testing.assert_allclose(E[-1], task.Y - output, atol=1e-9)
    assert p.prediction.loss[0, -1] < 0.6 * task.loss_initial  # it has left the start: a real check


def test_field_units_follow_their_own_gradient_descent_in_the_field():
    """The compiled field scan against the update written out (float64): each unit's input and output
    weights move by the gradient of -<E(t), Yhat> and nothing else couples the units."""
    from reln.models.init import relu_initial_weights
    from reln.theory.field import field_error, field_units

    task = contextual_task(4, 2, "hierarchy")
    initial = relu_initial_weights(task, (12,), 0.05, (0, 3))
    E = field_error(task, 12, 0.05, lr=0.01, epochs=120)
    field = field_units(task, initial, E, lr=0.01, snapshot_every=40, x64=True)
    for s, (w_in, w_out) in enumerate(initial):
        w_in, w_out = w_in.copy(), w_out.copy()
        for t in range(len(E)):
            if t % 40 == 0:
                np.testing.assert_allclose(field.layers[0].pre[s, t // 40], w_in @ task.X, rtol=1e-9, atol=1e-12)
            z = w_in @ task.X
            gate = z > 0
            w_in, w_out = (w_in + 0.01 * ((w_out.T @ E[t]) * gate) @ task.X.T,
                           w_out + 0.01 * E[t] @ (z * gate).T)
    assert field.loss.shape == (2, 121) and np.allclose(field.loss, 0.5 * np.sum(E**2, axis=(1, 2)))
    assert not np.allclose(field.layers[0].pre[:, -1], field.layers[0].pre[:, 0])  # the units moved
    # one field per seed: seed s in field F_s moves as it does alone in F_s (here F_0 = E, F_1 = E / 2)
    both = field_units(task, initial, np.stack([E, 0.5 * E]), lr=0.01, snapshot_every=40, x64=True)
    alone = field_units(task, initial[1:], 0.5 * E, lr=0.01, snapshot_every=40, x64=True)
    np.testing.assert_allclose(both.layers[0].pre[0], field.layers[0].pre[0], rtol=1e-12)
    np.testing.assert_allclose(both.layers[0].pre[1], alone.layers[0].pre[0], rtol=1e-12)
    assert not np.allclose(both.layers[0].pre[1], field.layers[0].pre[1])  # the second field did matter


def test_field_feedback_mixes_and_checks_its_values():
    """The damped update ``mix E_th + (1 - mix) E``, one field per seed from a shared one, and clear
    errors for values without a meaning."""
    from reln.errors import RelnError
    from reln.theory.field import FieldFeedback

    shared, fed = np.ones((3, 2, 4)), np.stack([np.zeros((3, 2, 4)), 4 * np.ones((3, 2, 4))])
    mixed = FieldFeedback(passes=1, mix=0.25).next_field(shared, fed)
    assert mixed.shape == (2, 3, 2, 4)
    np.testing.assert_allclose(mixed[0], 0.75)
    np.testing.assert_allclose(mixed[1], 1.75)
    for bad in ({"passes": -1}, {"passes": 1.5}, {"mix": 0.0}, {"mix": 1.5}, {"mix": True}):
        with pytest.raises(RelnError, match="prediction_seeded"):
            FieldFeedback(**bad)


@settings(max_examples=20, deadline=None)
@given(contexts=st.integers(2, 6), seed=st.integers(0, 2**31 - 1))
def test_moving_common_weight_into_the_all_but_one_pathways_leaves_every_output(contexts, seed):
    """The gauge of docs/theory.md §5.7: W_common - D and W_m + D / (K - 1) for every all-but-one m,
    D on the item inputs, give the predicted GDLN the same output on every sample (a sample of context
    c is seen by the common pathway and the K - 1 sets that keep c), so the loss cannot fix the shares.
    Fails if an all-but-one pathway were open on its own context or read the context inputs."""
    task = contextual_task(4, contexts)
    gdln = build_gdln(predicted_pathways(task, 40, 0.01), task)
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(len(gdln.gates), task.Y.shape[0], task.X.shape[0]))

    def output(maps):
        masked = maps * gdln.output_masks[:, :, None] * gdln.input_masks[:, None, :]
        return np.einsum("pP,poi,iP->oP", gdln.gates, masked, task.X)

    D = rng.normal(size=maps.shape[1:]) * gdln.input_masks[1][None, :]
    moved = maps.copy()
    moved[0] -= D
    moved[1:] += D / (contexts - 1)
    np.testing.assert_allclose(output(moved), output(maps), atol=1e-9)
    # and it does move weight: the nuclear norms change
    assert not np.allclose(np.linalg.svd(moved, compute_uv=False).sum(-1), np.linalg.svd(maps, compute_uv=False).sum(-1))


def test_fed_back_field_keeps_pass_zero_and_reports_every_pass():
    """``[prediction_seeded] passes = 1``: pass 0 is the field of the task-only error, identical to the
    run without feedback; the structure of each pass and its share error against the ReLU's are
    reported; the final pathways are the last pass's; nothing is read from the ReLU run."""
    from reln.experiment.config import config_from_dict
    from reln.experiment.experiments import run_experiment

    base = {"task": {"items": 4, "contexts": 3, "structures": "hierarchy"},
            "relu": {"hidden": [60], "init_std": 0.005 / 60, "snapshot_every": 10},
            "train": {"seeds": [0], "epochs": 1500, "lr": 2e-3}, "models": ["relu", "prediction_seeded"]}
    plain = run_experiment(config_from_dict(base)).metrics["prediction_seeded"]
    fed = run_experiment(config_from_dict({**base, "prediction_seeded": {"passes": 1}})).metrics["prediction_seeded"]
    feedback = fed["feedback"]
    assert feedback["passes"] == 1 and feedback["mix"] == 0.5 and len(feedback["pathways_by_pass"]) == 2
    assert feedback["pathways_by_pass"][0] == plain["pathways"]
    assert feedback["pathways_by_pass"][1] == fed["pathways"]
    assert len(feedback["share_error_max_by_pass"]) == 2
    assert feedback["share_error_max_by_pass"][0] == pytest.approx(plain["against_identified"]["share_error_max"])
    assert fed["reads_from_relu"]["numbers"] == 0 and "feedback" not in plain
    assert fed["loss_final"][0] != plain["loss_final"][0]  # the second pass saw another field
    from reln.cli import _summary

    assert "largest share error against the ReLU's, pass 0..1: " in _summary({"prediction_seeded": fed})
