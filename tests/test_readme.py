"""The README's Python example runs as written (with fewer epochs, to stay fast)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    code = next(b for b in blocks if "run_experiment" in b).replace("epochs=8001", "epochs=300")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'0.5'" in out and "max" in out and "(0, 1, 2)" in out
    assert "'theory'" in out and "'paper_reln'" in out


def test_readme_config_example_is_a_valid_config(tmp_path):
    from reln.experiment.config import load_config
    from reln.experiment.experiments import build_reln, build_task

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no TOML example"
    path = tmp_path / "example.toml"
    path.write_text(blocks[0])
    config = load_config(str(path))
    task = build_task(config)
    for model in ("paper_reln", *config.candidates):
        assert build_reln(config, task, model).gates.shape[1] == task.P


def test_readme_closed_form_example_prints_what_it_says(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "linear_phase_loss" in b)
    exec(compile(example, "README.md", "exec"), {})
    epoch, ratio = capsys.readouterr().out.split()
    comment = re.search(r"# (\d+) ([\d.]+)", example)
    assert int(epoch) == int(comment.group(1)) and float(ratio) == pytest.approx(float(comment.group(2)))
