"""``reln reproduce``: every experiment into its folder, a page whose images all resolve, a cache."""

from __future__ import annotations

import shutil
import subprocess
import time
from html.parser import HTMLParser

import pytest

from reln.errors import RelnError
from reln.reproduce import PAPER_EXPERIMENTS, SWEEP_NAME, reproduce


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
    for text in ("This run", "ReLU network", "per-datapoint", "per-class", "shared-halves", "ReLN (identified)",
                 "ep(0.5) from the task alone"):
        assert text in page


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
    from reln.config import load_config, with_overrides
    from reln.reproduce import is_cached

    assert is_cached(copy / "xor", with_overrides(load_config("xor"), seeds=(0,)))
    assert not is_cached(copy / "xor", with_overrides(load_config("xor"), seeds=(1,)))
    (copy / "xor" / "loss.png").unlink()
    assert not is_cached(copy / "xor", with_overrides(load_config("xor"), seeds=(0,)))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_page_renders_in_a_headless_browser(reproduced, tmp_path):
    out, _, _ = reproduced
    shot = tmp_path / "page.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
         f"--screenshot={shot}", (out / "index.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert shot.stat().st_size > 20_000  # a blank page is a few kB


def test_unknown_experiment_is_one_clear_error(tmp_path):
    with pytest.raises(RelnError, match="choose from contexts-diff"):
        reproduce(tmp_path, only=["contexts-9"])


def test_every_paper_experiment_is_a_preset():
    from reln.config import preset_names

    assert set(PAPER_EXPERIMENTS) <= set(preset_names()) and SWEEP_NAME not in preset_names()
