"""The command line: the run contract's files, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reln.experiment import experiments
from reln.cli import main

SHORT = ["--seeds", "0", "--epochs", "120", "--quiet"]


def _write_config(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("reln: error: "), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("contexts-diff", "contexts-3", "contexts-4", "contexts-5"):
        assert name in out


def test_run_writes_the_contract_files_and_summarises_every_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "contexts-diff", "--seeds", "0,1", "--epochs", "120", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # One row per model and seed, with its crossing epochs; then a timing line per model.
    for model in ("relu", "reln", "replay", "paper_reln", "modular", "prediction_seeded"):
        for seed in ("0", "1"):
            rows = [line.split() for line in lines if line.split()[:2] == [model, seed]]
            assert len(rows) == 1 and len(rows[0]) >= 7, lines
        assert any(line.startswith(f"{model}: 2 seed(s) in ") for line in lines)
    # where each model's largest miss lies, part by part (docs/theory.md §5.7)
    assert any(line.startswith("reln: largest gap by part: linear part ") and ", gated part " in line for line in lines)
    rows = [line.split() for line in lines if line.split()[:1] == ["prediction"]]  # one row: no seed
    assert [row[1] for row in rows] == ["0"], lines
    assert lines[-1].startswith("wrote config.json, results.npz, metrics.json, loss.png")
    figures = ("dataset", "gating", "loss", "loss_split", "mds", "modular_singular_values", "outputs", "predicted_structure",
               "prediction_singular_values", "rdm",
               "paper_reln_singular_values",
               "reln_phases", "structure",
               "theory_singular_values")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "manifest.json", "metrics.json", "results.npz"] + [f"{f}.png" for f in figures]
    )
    assert (out / "structure.png").stat().st_size > 5_000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"]["P"] == 24 and metrics["task"]["n_in"] == 11 and metrics["task"]["n_out"] == 60
    assert metrics["task"]["loss_initial"] == pytest.approx(105.623, abs=1e-3)
    assert metrics["task"]["loss_linear_floor"] == pytest.approx(16.508, abs=1e-3)
    for model in ("relu", "reln", "paper_reln"):
        assert set(metrics[model]["epoch_below"]) == {"0.5", "0.1", "0.01"}
        assert len(metrics[model]["loss_final"]) == 2 and len(metrics[model]["seconds"]) == 2
    reference = metrics["paper_reln"]
    assert [p["contexts"] for p in reference["pathways"]] == [[0, 1, 2], [0], [1], [2], [0, 1], [1, 2], [0, 2]]
    assert all(p["units"] == 100 for p in reference["pathways"])
    assert set(reference["gap_to_relu"]) == {"max", "mean"}
    reln = metrics["reln"]  # identified from the ReLU: after 120 epochs, all in the common pathway
    assert reln["gating"] == "compact" and reln["identified_at_epoch"] == 120
    # 120 epochs end before the top mode rises: only early phases, derived from the init, none read
    assert reln["reads_from_relu"]["read_phases"] == 0 and reln["reads_from_relu"]["numbers"] == 0
    assert metrics["replay"]["reads_from_relu"]["gate_level"] == "sample"
    assert reln["pathways"][0]["contexts"] == [0, 1, 2] and reln["pathways"][0]["inputs"] == "all"
    assert reln["pathways"][0]["weight_share"] > 0.9
    assert set(reln["gap_to_relu"]) == {"max", "mean"}
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["seeds"] == [0, 1] and config["train"]["epochs"] == 120
    assert config["reln_version"] != "unknown"
    with np.load(out / "results.npz") as results:
        assert results["relu_loss"].shape == (2, 121)
        assert results["reln_loss"].shape == (2, 121) and results["paper_reln_loss"].shape == (2, 121) and results["modular_loss"].shape == (2, 121)
        # The loss recorded at t = 0 is the loss of the (tiny) initial network: about 1/2 ||Y||^2.
        assert results["relu_loss"][0, 0] == pytest.approx(105.623, rel=1e-3)
    assert (out / "loss.png").stat().st_size > 10_000
    check_metrics_document(metrics)


PER_SEED_LISTS = ("loss_final", "seconds")


def check_metrics_document(metrics: dict) -> None:
    """metrics.json validates against the shipped schema, every per-seed list has one entry
    per seed of its section (so each can be matched to its seed without config.json), and every
    gap one per ReLU seed."""
    import jsonschema

    from reln.experiment.io import metrics_schema

    jsonschema.Draft202012Validator(metrics_schema()).validate(metrics)
    for name, section in metrics.items():
        if name in ("task", "conventions", "environment"):
            continue
        n = 1 if section["seeds"] == "all" else len(section["seeds"])
        lists = [section[k] for k in PER_SEED_LISTS if k in section] + list(section["epoch_below"].values())
        assert all(len(values) == n for values in lists), name
        # a gap compares with every ReLU seed: a one-row model ("all") has one gap per ReLU seed
        gaps = list(section.get("gap_to_relu", {}).values())
        assert all(len(values) == len(metrics["relu"]["seeds"]) for values in gaps), name


def test_metrics_schema_rejects_a_broken_document():
    import jsonschema

    from reln.experiment.io import metrics_schema

    good = {"task": {"name": "t", "P": 2, "n_in": 1, "n_out": 1, "items": 2, "contexts": 1, "loss_initial": 1.0,
                     "loss_linear_floor": 0.0},
            "conventions": {}, "environment": {"reln_version": "0", "source_hash": "x", "python": "3", "jax": "0", "numpy": "2"},
            "relu": {"loss_final": [0.1], "epoch_below": {"0.5": [3]}, "seeds": [0]}}
    validator = jsonschema.Draft202012Validator(metrics_schema())
    assert validator.is_valid(good)
    for broken in ({**good, "relu": {**good["relu"], "seeds": "some"}},
                   {**good, "relu": {**good["relu"], "epoch_below": {"0.5": [-1]}}},
                   {**good, "reln": {**good["relu"], "reads_from_relu": {"gate_level": "unit"}}},
                   {k: v for k, v in good.items() if k != "task"}):
        assert not validator.is_valid(broken)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "no-such-preset"], "unknown preset 'no-such-preset'"),
        (["run", "contexts-diff", "--seeds", "0,x"], "--seeds must be comma-separated integers"),
        (["run", "contexts-diff", "--models", "relu,gpt"], "--models takes a comma-separated subset"),
        (["run", "contexts-diff", "--epochs", "0"], "epochs"),
        (["run", "contexts-diff", "--epochs", "many"], "'many' is not a valid integer"),
        (["run", "contexts-diff", "--formats", "gif"], "figure formats are a comma-separated subset of png,pdf,svg"),
        (["run", "contexts-diff", "--set", "prediction_seeded.passes"], "--set takes TABLE.KEY=VALUE"),
        (["run", "contexts-diff", "--set", "prediction_seeded.passes=-1"], "passes must be an integer >= 0"),
        (["run", "contexts-diff", "--set", "prediction_seeded.mix=[1,"], "is not a TOML value"),
        (["run", "contexts-diff", "--set", "fields.passes=2"], "unknown config key 'fields.passes'"),
        (["fly"], "No such command 'fly'"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_nonzero(argv, fragment, capsys, tmp_path):
    code = main([*argv, "--out", str(tmp_path / "x")] if argv[0] == "run" else argv)
    assert code != 0
    assert fragment in _one_error_line(capsys)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[task]\nitems = 6\n[train]\nepochs = 5\n', "power-of-two item count"),
        ('models = ["reln"]\n', "add relu to the models"),
        ('models = ["relu"]\n[task]\nitems = 4\ncontexts = 2\nstructures = [[1.0, 0.0]]\n', "(r, 4)"),
        ('models = ["relu"]\n[task]\nitems = 4\ncontexts = 1\nstructures = [[1.0, nan, 0.0, 0.0]]\n', "NaN"),
        ('[[reln.pathways]]\ngate = [1, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]\n', "0/1"),
        # A linear network diverges once lr exceeds 2 / (largest Hessian eigenvalue).
        ('models = ["reln"]\n[train]\nlr = 0.2\nepochs = 400\n[[reln.pathways]]\ninit_std = 0.1\n', "training diverged"),
    ],
)
def test_bad_values_fail_cleanly_and_write_nothing(toml, fragment, capsys, tmp_path):
    config = _write_config(tmp_path / "bad.toml", toml)
    out = tmp_path / "out"
    assert main(["run", config, "--quiet", "--out", str(out)]) == 2
    assert fragment in _one_error_line(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_interrupted_run_writes_nothing(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_experiment", interrupted)
    out = tmp_path / "out"
    assert main(["run", "contexts-diff", *SHORT, "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_failure_while_writing_leaves_no_partial_files(monkeypatch, tmp_path, capsys):
    """If any output fails to render, none is written, and no temporary file stays behind."""
    real_outputs = experiments.run_outputs

    def failing_outputs(run, *args):
        writers = real_outputs(run, *args)

        def broken(path):
            path.write_text("half")
            raise OSError("disk full")

        return {**writers, "metrics.json": broken}

    monkeypatch.setattr(experiments, "run_outputs", failing_outputs)
    out = tmp_path / "out"
    assert main(["run", "contexts-diff", *SHORT, "--out", str(out)]) == 1
    assert "disk full" in capsys.readouterr().err  # the writer's failure, not another one
    assert list(tmp_path.iterdir()) == []  # no output folder, and no temporary one beside it


def test_existing_results_survive_a_failed_rerun(monkeypatch, tmp_path):
    out = tmp_path / "out"
    assert main(["run", "contexts-diff", *SHORT, "--models", "relu", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_experiment", interrupted)
    assert main(["run", "contexts-diff", *SHORT, "--out", str(out)]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_console_script_reports_errors_in_one_line(tmp_path):
    """The installed entry point, in a fresh process: exit status 2 and a single stderr line."""
    result = subprocess.run(
        [sys.executable, "-m", "reln.cli", "run", "nope"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown preset 'nope'" in result.stderr


def test_default_output_folder_and_loss_final_of_a_relu_only_run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "contexts-3", *SHORT, "--models", "relu", "--formats", "png,pdf"]) == 0
    out = tmp_path / "results" / "contexts-3"
    assert (out / "loss.png").is_file() and (out / "loss.pdf").read_bytes().startswith(b"%PDF")
    metrics = json.loads((out / "metrics.json").read_text())
    with np.load(out / "results.npz") as results:  # loss_final is the last recorded loss
        assert metrics["relu"]["loss_final"][0] == pytest.approx(float(results["relu_loss"][0, -1]))
    assert "reln" not in metrics


def test_set_options_reach_the_run_and_its_config_file(tmp_path):
    """``--set`` changes the config the run uses (written to config.json), values read as TOML."""
    out = tmp_path / "set"
    argv = ["run", "contexts-3", *SHORT, "--models", "relu", "--quiet", "--out", str(out),
            "--set", "relu.hidden=[24]", "--set", "prediction_seeded.passes=2", "--set", "train.lr=2e-3"]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["relu"]["hidden"] == [24] and config["train"]["lr"] == 0.002
    assert config["prediction_seeded"] == {"passes": 2, "mix": 0.5}
    with np.load(out / "results.npz") as results:
        assert results["relu_loss"].shape[0] == 1


def test_sweep_writes_json_and_figure(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "contexts-3", "--contexts", "2,3", "--seeds", "0", "--epochs", "200", "--out", str(out)]
    assert main(argv) == 0
    entries = json.loads((out / "sweep.json").read_text())
    assert [e["contexts"] for e in entries] == [2, 3]
    assert (out / "sweep.png").stat().st_size > 10_000
    assert "K=3: mixed" in capsys.readouterr().out


def test_sweep_of_mixed_structures_fails_in_one_line(capsys, tmp_path):
    assert main(["sweep", "contexts-diff", "--contexts", "2,3", "--out", str(tmp_path / "s")]) == 2
    assert "one name used for every context" in _one_error_line(capsys)


def test_help_and_a_bad_config_answer_without_importing_jax():
    """`reln --help` and a config error never import JAX (the slow part of a cold start)."""
    import subprocess
    import sys

    code = ("import sys; from reln.cli import main; rc = [main(['--help']), main(['run', 'no-such-preset'])]; "
            "print(rc, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.strip().endswith("[0, 2] False"), out


def test_sweep_grid_command_runs_on_dask_and_resumes(tmp_path, capsys):
    """`reln sweep --grid` from one command: a local Dask cluster, the tidy table and its map,
    a summary line per key; run again, every row is reused."""
    out = tmp_path / "grid"
    argv = ["sweep", "xor", "--grid", "train.lr=1e-3,2e-3", "--grid", "relu.init_std=1e-3,1e-2", "--seeds", "0",
            "--epochs", "100", "--models", "relu", "--metric", "relu.loss_final", "--level", "100", "--workers", "1",
            "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 runs (0 failed)" in printed and "train.lr: median relu.loss_final" in printed
    for name in ("sweep.json", "sweep.csv", "sweep.parquet", "sweep-map-relu.png"):
        assert (out / name).is_file(), name
    rows = json.loads((out / "sweep.json").read_text())
    assert [(r["train.lr"], r["relu.init_std"]) for r in rows] == [(1e-3, 1e-3), (1e-3, 1e-2), (2e-3, 1e-3), (2e-3, 1e-2)]
    assert all(r["status"] == "ok" and r["relu.loss_final"] > 0 for r in rows)
    assert main(argv + ["--no-figures"]) == 0 and json.loads((out / "sweep.json").read_text()) == rows
