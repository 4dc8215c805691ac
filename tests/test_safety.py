"""Issue 16: names are data, never paths; a run's files are replaced as a whole; no silent wrong
result; the reproduce cache verifies; every result records its environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reln.cli import main
from reln.errors import RelnError
from reln.experiment.io import json_writer, write_all

TINY = ["--seeds", "0", "--epochs", "30", "--quiet"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("reln: error: ") and "\n" not in err, err
    return err


def _config(tmp_path: Path, text: str, name: str = "c") -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- names are data, never paths -----------------------------------------------------------------

ESCAPES = ["/../../../../outside/PWNED", "../PWNED", "a/b", "..", ".hidden", "with space", ""]


@pytest.mark.parametrize("name", ESCAPES)
def test_a_candidate_name_that_is_a_path_is_refused_before_training(name, tmp_path, capsys, monkeypatch):
    from reln.experiment import experiments

    def never(*args, **kwargs):
        raise AssertionError("trained with a bad model name")

    monkeypatch.setattr(experiments, "run_experiment", never)
    config = _config(tmp_path, f'''
        models = ["relu", {json.dumps(name)}]
        [candidates.{json.dumps(name)}]
        [[candidates.{json.dumps(name)}.pathways]]
        contexts = "all"
    ''')
    assert main(["run", config, *TINY, "--out", str(tmp_path / "out")]) == 2
    assert "[candidates] model name" in _error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]
    assert not (tmp_path.parent / "outside").exists()


def test_a_top_level_name_does_not_move_the_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path, f'name = "{tmp_path / "elsewhere"}"\nmodels = ["relu"]\n')
    assert main(["run", config, *TINY]) == 2
    assert "top-level key 'name'" in _error(capsys)
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "results").exists()


def test_a_config_file_whose_name_is_not_a_safe_name_is_refused(tmp_path, capsys):
    config = _config(tmp_path, 'models = ["relu"]\n', name="my run")
    assert main(["run", config, *TINY]) == 2
    assert "run name" in _error(capsys)


def test_a_preset_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    from reln.experiment.config import load_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "xor").mkdir()
    assert load_config("xor").name == "xor"


def test_output_file_names_stay_inside_the_folder(tmp_path):
    out = tmp_path / "out"
    for name in ("../escaped.json", "/tmp/abs.json", "sub/dir.json", ".."):
        with pytest.raises(RelnError, match="plain file name"):
            write_all(out, {name: json_writer({})})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- a run's files replaced as a whole -----------------------------------------------------------


def test_a_second_run_leaves_nothing_of_the_first_that_its_manifest_does_not_list(tmp_path):
    out = tmp_path / "out"
    write_all(out, {"a.json": json_writer(1), "old.json": json_writer(2)})
    write_all(out, {"a.json": json_writer(3)})
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "manifest.json"]
    assert set(manifest["files"]) == {"a.json"} and manifest["files"]["a.json"]["bytes"] == 2
    assert manifest["source_hash"] and manifest["reln_version"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder beside it


def test_a_folder_that_is_not_a_result_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert main(["run", "contexts-3", *TINY, "--models", "relu", "--out", str(out)]) == 2
    assert "not a reln result" in _error(capsys)
    assert _tree(out) == {"thesis.tex": b"years of work"}


def test_an_exception_while_writing_leaves_the_previous_result(tmp_path):
    out = tmp_path / "out"
    write_all(out, {"a.json": json_writer(1)})
    before = _tree(out)

    def broken(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_all(out, {"a.json": json_writer(2), "b.json": broken})
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


SLOW_RUN = """
import signal, sys, time
from pathlib import Path

# A shell starting the tests in the background may hand SIGINT down ignored; Ctrl-C is what is tested.
signal.signal(signal.SIGINT, signal.default_int_handler)
from reln.experiment import experiments
from reln.cli import main

real = experiments.run_outputs

def slow_outputs(run, *args):
    def slow(path):
        path.write_text("started")
        Path(sys.argv[2]).write_text("writing")  # tell the test we are inside write_all
        time.sleep(60)
    return {**real(run, *args), "zz_slow.txt": slow}

experiments.run_outputs = slow_outputs
sys.exit(main(["run", "contexts-3", "--seeds", "0", "--epochs", "30", "--models", "relu", "--quiet",
               "--out", sys.argv[1]]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_writing_leaves_the_output_folder_as_it_was(signum, tmp_path):
    out = tmp_path / "out"
    write_all(out, {"old.json": json_writer({"first": "run"})})
    before = _tree(out)
    flag = tmp_path / "flag"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN)
    env = {**os.environ, "RELN_CACHE_DIR": ""}
    child = subprocess.Popen([sys.executable, str(script), str(out), str(flag)], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), child.stderr.read() if child.poll() is not None else "the run did not reach write_all"
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == (143 if signum == signal.SIGTERM else 130), err
    assert err.strip().count("\n") == 0 and "interrupted" in err, err
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flag", "out", "slow.py"]


# --- no silent wrong result ----------------------------------------------------------------------


def test_a_network_whose_units_all_died_is_an_error_unless_allowed(tmp_path, capsys):
    config = _config(tmp_path, 'models = ["relu"]\n[train]\nlr = 0.3\nepochs = 100\n')
    out = tmp_path / "out"
    assert main(["run", config, "--seeds", "0", "--quiet", "--out", str(out)]) == 2
    err = _error(capsys)
    assert "model 'relu' seed 0" in err and "dead" in err and "--allow-dead" in err
    assert not out.exists()
    assert main(["run", config, "--seeds", "0", "--quiet", "--allow-dead", "--out", str(out)]) == 0
    assert (out / "metrics.json").is_file()


def test_a_loss_that_ends_above_its_start_is_an_error():
    import numpy as np

    from reln.experiment.experiments import check_learned
    from reln.training.trajectory import Trajectory

    rising = Trajectory(loss=np.array([[1.0, 0.5, 1.5]]), snapshot_epochs=np.array([0, 2]), snapshots={},
                        final_params=[], seconds=np.zeros(1))
    with pytest.raises(RelnError, match="model 'm' seed 7: the loss ended at 1.5, above its start 1"):
        check_learned("m", rising, [7])
    check_learned("m", rising, [7], allow_dead=True)


def test_divergence_names_the_model(tmp_path, capsys):
    config = _config(tmp_path, 'models = ["reln"]\n[train]\nlr = 0.2\nepochs = 400\n[[reln.pathways]]\ninit_std = 0.1\n')
    assert main(["run", config, "--seeds", "0", "--quiet", "--out", str(tmp_path / "out")]) == 2
    err = _error(capsys)
    assert "model 'reln'" in err and "training diverged" in err


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[train]\nx64 = "no"\n', "[train] x64 must be true or false"),
        ('[train]\nseeds = "01"\n', "[train] seeds must be a list"),
        ("[train]\nseeds = [1.7]\n", "[train] seeds must be a list"),
        ("[train]\nepochs = 5.0\n", "[train] epochs must be a positive integer"),
        ('[train]\nallow_dead = "yes"\n', "[train] allow_dead must be true or false"),
        ("[relu]\nhidden = [2.7]\n", "[relu] hidden must be a positive integer"),
        ('[replay]\nfine_until = "soon"\n', "[replay] fine_until must be a non-negative integer"),
        ("[[reln.pathways]]\ncontexts = [0.5]\n", "[[reln.pathways]] 0 contexts must be"),
        ('[[reln.pathways]]\ncontexts = "0"\n', "[[reln.pathways]] 0 contexts must be"),
        ("[[reln.pathways]]\ngate = [" + ", ".join(["0"] * 24) + "]\n", "gate is 0 on every sample"),
        ("models = [1]\n", "models must be a list of model names"),
        ("[task]\nstructures = [[1.0, 0.0], [1.0]]\n", "every row of the same length"),
    ],
)
def test_no_type_is_coerced(toml, fragment, tmp_path, capsys):
    config = _config(tmp_path, ('models = ["relu", "reln"]\n' if "models" not in toml else "") + toml)
    assert main(["run", config, "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert fragment in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_config_that_is_not_utf8_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xff\xfe[train]\n")
    assert main(["run", str(path), "--quiet"]) == 2
    assert "not UTF-8" in _error(capsys)


def test_sweep_names_its_own_option(capsys):
    assert main(["sweep", "contexts-3", "--contexts", "a"]) == 2
    assert "--contexts must be" in _error(capsys)


def test_reproduce_only_nothing_is_an_error(tmp_path, capsys):
    assert main(["reproduce", "--only", "", "--out", str(tmp_path / "r")]) == 2
    assert "--only needs at least one experiment" in _error(capsys)
    assert not (tmp_path / "r").exists()


# --- the reproduce cache verifies; the environment is recorded -----------------------------------


@pytest.fixture()
def cached_folder(tmp_path):
    """A result folder as ``reln reproduce`` writes it, without training: the config's own
    config.json and one result file."""
    from reln.experiment.config import load_config, with_overrides
    from reln.experiment.provenance import environment
    from reln.experiment.reproduce import _resolved

    config = with_overrides(load_config("xor"), seeds=(0,))
    folder = tmp_path / "xor"
    write_all(folder, {
        "config.json": json_writer(_resolved(config) | {"environment": environment(False)}),
        "metrics.json": json_writer({"relu": {"loss_final": [0.5]}}),
    })
    return folder, config


def test_the_cache_takes_an_untouched_result(cached_folder):
    from reln.experiment.reproduce import is_cached

    assert is_cached(*cached_folder)


@pytest.mark.parametrize("tamper", ["edit", "truncate", "extra", "remove"])
def test_the_cache_refuses_a_tampered_result(cached_folder, tamper):
    from reln.experiment.reproduce import is_cached

    folder, config = cached_folder
    metrics = folder / "metrics.json"
    if tamper == "edit":
        metrics.write_text(metrics.read_text().replace("0.5", "123"))
    elif tamper == "truncate":
        metrics.write_bytes(metrics.read_bytes()[:1])
    elif tamper == "extra":
        (folder / "structure.png").write_bytes(b"left from another run")
    else:
        metrics.unlink()
    assert not is_cached(folder, config)


def test_the_cache_refuses_a_result_of_other_code(cached_folder, monkeypatch):
    from reln.experiment import reproduce

    assert reproduce.is_cached(*cached_folder)
    monkeypatch.setattr(reproduce, "source_hash", lambda: "0" * 64)
    assert not reproduce.is_cached(*cached_folder)


def test_config_and_metrics_record_the_environment(tmp_path):
    from reln.experiment.provenance import source_hash

    out = tmp_path / "out"
    assert main(["run", "contexts-3", *TINY, "--models", "relu", "--out", str(out)]) == 0
    for name in ("config.json", "metrics.json"):
        env = json.loads((out / name).read_text())["environment"]
        assert env["source_hash"] == source_hash() and env["float_precision"] == "float32"
        for key in ("reln_version", "python", "jax", "numpy", "scipy", "scikit-learn", "matplotlib", "cpu"):
            assert env[key] and env[key] != "unknown", (name, key)


# --- the public API answers bad input with RelnError ---------------------------------------------


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda f, t: f.fit_relu(t, (8,), 0.1, seeds=[], epochs=3), "seeds must be distinct"),
        (lambda f, t: f.fit_relu(t, (8,), 0.1, seeds=[-1], epochs=3), "seeds must be distinct"),
        (lambda f, t: f.fit_relu(t, (8,), 0.1, seeds=[1.7], epochs=3), "seeds must be distinct"),
        (lambda f, t: f.fit_relu(t, (8,), 0.1, seeds="01", epochs=3), "seeds must be a sequence"),
        (lambda f, t: f.fit_relu(t, 50, 0.1, epochs=3), "hidden must be a sequence"),
        (lambda f, t: f.fit_relu(t, (2.7,), 0.1, epochs=3), "positive integers"),
        (lambda f, t: f.build_gdln([f.Pathway(contexts=0)], t), "integer context indices"),
        (lambda f, t: f.build_gdln([f.Pathway(contexts=[0.5])], t), "integer context indices"),
        (lambda f, t: f.build_gdln([f.Pathway(hidden=(2.5,))], t), "positive integers"),
        (lambda f, t: f.fit_gdln(t, f.build_gdln([f.Pathway()], f.contextual_task(8, 3, "hierarchy")), epochs=3),
         "built for another task"),
        (lambda f, t: f.fit_gdln(t, f.build_gdln([f.Pathway()], t), seeds=[0, 0], epochs=3), "seeds must be distinct"),
    ],
)
def test_the_api_refuses_bad_input_with_a_reln_error(call, fragment):
    import reln

    with pytest.raises(RelnError, match=fragment):
        call(reln, reln.contextual_task(4, 2, "hierarchy"))


def test_identify_refuses_a_checkpoint_it_does_not_have():
    import numpy as np

    from reln import contextual_task, identify

    task = contextual_task(4, 2, "hierarchy")
    with pytest.raises(RelnError, match="checkpoint 3 among the 1 snapshots"):
        identify(task, np.ones((1, 5, task.P)), np.ones((1, 5)), np.array([0]), checkpoint=3)
    with pytest.raises(RelnError, match="every unit size is 0"):
        identify(task, np.ones((1, 5, task.P)), np.zeros((1, 5)), np.array([0]))


# --- checks before work --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["--epochs", "1000000000"], ["--seeds", "0"]],
)
def test_a_run_too_big_for_the_machine_is_refused_before_training(argv, tmp_path, capsys, monkeypatch):
    from reln.experiment import experiments

    def never(*args, **kwargs):
        raise AssertionError("started training a run the machine cannot hold")

    monkeypatch.setattr(experiments, "run_experiment", never)
    config = _config(tmp_path, 'models = ["relu"]\n' + ('[relu]\nhidden = [100000000]\n' if argv[1] == "0" else ""))
    assert main(["run", config, *argv, "--quiet", "--out", str(tmp_path / "out")]) == 2
    err = _error(capsys)
    assert "GB of memory by a rough estimate" in err and "available" in err
    assert not (tmp_path / "out").exists()


def test_the_estimate_of_a_paper_run_fits_a_small_machine():
    from reln.experiment.config import load_config
    from reln.experiment.experiments import build_task
    from reln.experiment.resources import estimate

    for preset in ("contexts-diff", "depth"):
        config = load_config(preset)
        task = build_task(config)
        need = estimate(config, task.n_in, task.n_out, task.P)
        assert need.memory < 4e9 and need.disk < 1e9, (preset, need)


def test_an_unwritable_output_folder_is_refused_before_training(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["run", "contexts-3", *TINY, "--models", "relu", "--out", str(locked / "out")]) == 2
    assert "not writable" in _error(capsys)


def test_the_command_line_imports_jax_only_inside_main():
    """Ctrl-C in the first seconds printed a 20-line traceback: JAX was imported (by ``reln``'s
    ``__init__``) before ``main``'s ``try``. Importing the command line must not load it."""
    code = "import sys, reln.cli; assert 'jax' not in sys.modules, 'jax imported'; import reln; reln.fit_relu"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_an_empty_config_file_is_an_error(tmp_path, capsys):
    assert main(["run", _config(tmp_path, "# nothing\n"), "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert "is empty" in _error(capsys)


def test_reproduce_checks_every_folder_before_training(tmp_path, monkeypatch):
    from reln.experiment import reproduce as engine

    monkeypatch.setattr(engine, "_run_preset", lambda *a, **k: pytest.fail("trained before checking the folders"))
    (tmp_path / "xor").mkdir()
    (tmp_path / "xor" / "notes.txt").write_text("mine")
    with pytest.raises(RelnError, match="not a reln result"):
        engine.reproduce(tmp_path, seeds=[0], only=["contexts-3", "xor"])
    assert (tmp_path / "xor" / "notes.txt").read_text() == "mine"


def test_the_public_names_are_the_functions_even_after_their_modules_are_imported():
    import reln.identification.identify
    import reln.training.train

    import reln

    assert callable(reln.identify) and callable(reln.train) and reln.identify.__name__ == "identify"
    assert all(hasattr(reln, name) for name in reln.__all__)


def test_the_report_shows_each_result_s_environment():
    from reln.experiment.provenance import environment, source_hash
    from reln.viz.report import _environment_note

    note = _environment_note(environment(False))
    assert note.startswith('<p class="note">Made by reln ') and source_hash()[:12] in note
    for text in ("Python", "JAX", "NumPy", "SciPy", "scikit-learn", "matplotlib", "in float32"):
        assert text in note


def test_names_set_through_the_api_are_checked_too():
    import dataclasses

    from reln.experiment.config import load_config, with_overrides

    config = load_config("xor")
    with pytest.raises(RelnError, match="run name '../x'"):
        with_overrides(dataclasses.replace(config, name="../x"))
    table = next(iter(config.candidates.values()))
    with pytest.raises(RelnError, match="model name 'a/b'"):
        with_overrides(dataclasses.replace(config, candidates={"a/b": table}))
