"""``reln reproduce``: every experiment into its folder, a page whose images all resolve, a cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
import subprocess
import time
from html.parser import HTMLParser

import pytest

from reln.errors import RelnError
from reln.experiment.reproduce import PAPER_EXPERIMENTS, SWEEP_NAME, reproduce


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a" and not attrs.get("href", "#").startswith("#"):
            self.links.append(attrs["href"])


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    start = time.perf_counter()
    outcomes = reproduce(out, seeds=[0], only=["xor"])
    return out, outcomes, time.perf_counter() - start


def test_every_image_and_link_of_the_page_resolves(reproduced):
    out, outcomes, _ = reproduced
    assert [o.name for o in outcomes] == ["xor"] and not outcomes[0].cached
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    assert any(src.endswith("loss.png") for src in parser.images)
    for src in parser.images + parser.links:
        assert (out / src).is_file() and (out / src).stat().st_size > 1000, src
    assert (out / "xor" / "metrics.json").is_file()


def test_page_shows_ours_beside_the_reference_and_the_models(reproduced):
    out, _, _ = reproduced
    page = (out / "index.html").read_text()
    for text in ("beside the reference implementation", "ReLU network", "per-datapoint", "per-class", "shared-halves",
                 "replay of the ReLU", "reads from the ReLU run", "ep(0.5) from the task alone", "The paper's claims, scored",
                 "The models, and what each read", "a check that a ReLU network is a linear network"):
        assert text in page
    claims = json.loads((out / "claims.json").read_text())
    assert {c["verdict"] for c in claims} <= {"holds", "partly", "fails", "not run"}
    xor = next(c for c in claims if c["claim"] == 10)
    assert xor["verdict"] != "not run" and set(xor["numbers"]["gap_max"]) >= {"per-class", "per-datapoint"}


def test_second_reproduce_reuses_the_results(reproduced):
    out, _, first = reproduced
    start = time.perf_counter()
    outcomes = reproduce(out, seeds=[0], only=["xor"])
    assert outcomes[0].cached
    assert time.perf_counter() - start < min(2.0, first)


def test_a_changed_config_is_not_taken_from_the_cache(reproduced, tmp_path):
    out, _, _ = reproduced
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    from reln.experiment.config import load_config, with_overrides
    from reln.experiment.reproduce import is_cached

    assert is_cached(copy / "xor", with_overrides(load_config("xor"), seeds=(0,)))
    assert not is_cached(copy / "xor", with_overrides(load_config("xor"), seeds=(1,)))
    (copy / "xor" / "loss.png").unlink()
    assert not is_cached(copy / "xor", with_overrides(load_config("xor"), seeds=(0,)))


def _browser_probe(page: Path, width: int) -> dict:
    """Load the page in headless Chromium at ``width`` px with no network, and read back from the
    DOM its height and width, and how many images failed to load."""
    import re

    probe = page.with_name("probe.html")
    script = ("<script>window.onload=function(){var b=[...document.images].filter(i=>!i.complete||i.naturalWidth===0)"
              ".length;document.title=[document.documentElement.scrollHeight,document.documentElement.scrollWidth,"
              "b,document.images.length].join('x');}</script>")
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    try:
        out = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1000",
             "--proxy-server=127.0.0.1:9", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout
    finally:
        probe.unlink()
    height, scroll_width, broken, images = map(int, re.search(r"<title>(\d+)x(\d+)x(\d+)x(\d+)</title>", out).groups())
    return {"height": height, "width": scroll_width, "broken": broken, "images": images}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (apt install chromium)")
@pytest.mark.parametrize("width", [1400, 800])
def test_page_loads_offline_in_a_headless_browser_without_overflow(reproduced, width):
    out, _, _ = reproduced
    page = (out / "index.html").read_text()
    assert "http://" not in page.replace('href="http', "") and "https://" not in page.replace('href="https', "")
    seen = _browser_probe(out / "index.html", width)
    assert seen["images"] > 0 and seen["broken"] == 0
    assert seen["width"] <= width  # nothing wider than the window: wide tables scroll in their own box


def test_unknown_experiment_is_one_clear_error(tmp_path):
    with pytest.raises(RelnError, match="choose from contexts-diff"):
        reproduce(tmp_path, only=["contexts-9"])


def test_every_paper_experiment_is_a_preset():
    from reln.experiment.config import preset_names

    assert set(PAPER_EXPERIMENTS) <= set(preset_names()) and SWEEP_NAME not in preset_names()


def test_claim_one_says_how_many_pathways_the_relu_needs_as_its_loss_halves(tmp_path):
    """Claim 1 reports, beside the compact ReLN's gap, the ReLU's gating sizes (docs/theory.md §3.2)
    at the first gating-course checkpoint below half its initial loss, mean over seeds."""
    from reln.experiment.claims import ONE_LAYER, equivalence

    course = {"epochs": [10, 100, 1000], "loss": [[1.0, 0.7, 0.4], [1.0, 0.45, 0.3]],
              "pathways_context": [[1, 1, 2], [1, 4, 3]], "pathways_sample": [[400, 1, 12], [400, 10, 30]]}
    metrics = {"reln": {"gap_to_relu": {"max": [0.01, 0.02], "mean": [0.002, 0.003]}, "seeds": [0, 1]},
               "relu": {"gating_course": course}}
    (tmp_path / ONE_LAYER[0]).mkdir()
    (tmp_path / ONE_LAYER[0] / "metrics.json").write_text(json.dumps(metrics))
    claim = equivalence(tmp_path)
    assert claim["numbers"][ONE_LAYER[0]]["relu_pathways_as_loss_halves"] == {
        "pathways_context": 3.0, "pathways_sample": 11.0}  # seed 0 at epoch 1000 (2, 12), seed 1 at 100 (4, 10)
    assert "3 context sets and 11 per-sample gate patterns hold 80%" in claim["why"]


def test_report_shows_the_predictions_start_seed_by_seed():
    """The start check of docs/theory.md §5.7 (``prediction.assumption_start``) is a table of the page:
    one row per seed, the identified all-but-one units over the predicted ``H / (2K)``."""
    from reln.viz.report import _start_table

    start = {"common_strength_expected": 1e-8, "common_strength_ratio_leading": [1.0, 0.9],
             "common_strength_ratio_early_flow": [1.02, 0.91], "growing_fraction": [0.5, 0.49],
             "all_but_one_units_expected": 116, "all_but_one_units_identified": [58.0, 61.5],
             "identified_units_fraction": [0.77, 0.72]}
    table = _start_table({"assumption_start": start})
    assert table.count("<tr>") == 3 and "58.0 / 116 = 0.50" in table and "61.5 / 116 = 0.53" in table
    assert _start_table({}) == ""


def test_report_shows_the_fed_back_structure_pass_by_pass():
    """``prediction_seeded.feedback`` (docs/theory.md §5.8) is a table of the page: a row per pass with the
    sets of share at least .02 and the pass's largest share error; without a ReLU run the error is '-'."""
    from reln.viz.report import _feedback_table

    by_pass = [[{"name": "{1,2,3}", "weight_share": 0.9}, {"name": "{1,2}", "weight_share": 0.01}],
               [{"name": "{1,2,3}", "weight_share": 0.6}, {"name": "{1,2}", "weight_share": 0.3}]]
    table = _feedback_table({"feedback": {"passes": 1, "mix": 0.5, "pathways_by_pass": by_pass,
                                          "share_error_max_by_pass": [0.25, 0.05]}})
    rows = table.split("<tr>")[2:]
    assert len(rows) == 2 and "{1,2} 0.01" not in rows[0] and "0.250" in rows[0]
    assert "{1,2} 0.30" in rows[1] and "0.050" in rows[1] and "mix 0.5" in table
    untested = _feedback_table({"feedback": {"passes": 1, "mix": 0.5, "pathways_by_pass": by_pass}})
    assert all(row.endswith("<td>-</td></tr>") for row in untested.split("</table>")[0].split("<tr>")[2:])
    assert _feedback_table({}) == ""
