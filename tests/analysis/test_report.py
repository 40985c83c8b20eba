"""The HTML report is one self-contained, escaped file, and a real browser renders it."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess

import numpy as np
import pytest

from gridssl.analysis import synthetic as syn
from gridssl.report import figures as F
from gridssl.report.page import (
    Claim,
    Figure,
    flatten_summary,
    format_value,
    write_report,
)

SUMMARY = {
    "run": "seed0 <baseline> & co",
    "grid_fraction": 0.123456,
    "n_units": 128,
    "stable": True,
    "modules": {"count": 3, "spacing_m": [0.4123, 0.5678, 0.8], "ratio": np.float64(1.41421)},
    "null": {"p95": 0.345678, "shuffles": {"n": 100, "kind": "circular time shift"}},
    "missing": None,
    "bad": float("nan"),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    figs = out / "figs"
    maps = np.stack([syn.hex_map(n_bins=16, bin_size=0.1, spacing=s) for s in (0.4, 0.6)])
    boxes = {"1.6 m": (-0.8, 0.8, -0.8, 0.8)}
    p1 = F.arena_maps({"1.6 m": maps}, boxes, [0, 1], figs / "maps.png")
    p2 = F.score_histogram(np.linspace(-0.3, 1.2, 20), figs / "scores.png", "min-max <Banino>")
    figures = [
        Figure("Rate maps", p1, "Two units & their <maps>.\n\nSecond paragraph."),
        Figure("Scores <min-max>", "figs/scores.png"),  # relative to out_dir
    ]
    sections = [("Method <notes>", "Rates binned at 10 cm & smoothed.")]
    path = write_report(out, "Grid report <run 0> & friends", SUMMARY, figures, sections)
    return out, path, path.read_text(encoding="utf-8"), (p1, p2)


def test_written_atomically(report):
    out, path, _, _ = report
    assert path == out / "report.html"
    assert sorted(p.name for p in out.iterdir()) == ["figs", "report.html"]


def test_self_contained(report):
    _, _, html, pngs = report
    assert html.startswith("<!DOCTYPE html>")
    assert 'src="http' not in html and "src='http" not in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r"url\(\s*['\"]?(?!data:)", html)  # no CSS url() to outside resources
    srcs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", html)
    assert len(srcs) == 2 == html.count("<img")
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    for src, png in zip(srcs, pngs):
        assert base64.b64decode(src.split(",", 1)[1]) == png.read_bytes()


def test_summary_numbers_present(report):
    html = report[2]
    for text in (
        "grid_fraction",
        "0.123",
        "128",
        "0.412, 0.568, 0.8",
        "1.41",
        "0.346",
        "null / shuffles / n",
        "100",
        "modules / count",
        "NaN",
        "yes",
    ):
        assert text in html, text
    assert "0.123456" not in html  # floats are shortened to 3 significant figures


def test_text_escaped(report):
    html = report[2]
    assert "&lt;run 0&gt; &amp; friends" in html
    assert "seed0 &lt;baseline&gt; &amp; co" in html
    assert "Two units &amp; their &lt;maps&gt;." in html
    assert "Scores &lt;min-max&gt;" in html
    assert "Method &lt;notes&gt;" in html
    for raw in ("<run 0>", "<baseline>", "<maps>", "<min-max>", "<notes>"):
        assert raw not in html


def test_formatting_helpers():
    assert format_value(0.000123456) == "0.000123"
    assert format_value(123456.0) == "1.23e+05"
    assert format_value(np.int64(7)) == "7"
    assert format_value(False) == "no"
    assert format_value(np.arange(3) / 3) == "[0, 0.333, 0.667]"
    assert format_value(np.zeros((10, 10))) == "array of shape (10, 10)"
    rows = flatten_summary({"a": {"b": {"c": 1.0}}, "d": {}})
    assert rows == [("a / b / c", "1"), ("d", "\u2014")]


def test_missing_figure_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path, "t", {}, [Figure("gone", tmp_path / "nope.png")])
    assert list(tmp_path.iterdir()) == []


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(page, tmp_path) -> np.ndarray:
    """A headless Chromium screenshot (1600 x 1200 RGB in [0, 1]) of an HTML file, offline."""
    browser = _browser()
    if browser is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        page.resolve().as_uri(),
    ]
    # own process group, so a hung browser's helper processes are all ended on timeout
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish the screenshot within 60 s")
    assert shot.is_file(), f"no screenshot (rc {proc.returncode}):\n{err[-2000:]}"
    img = imread(shot)[..., :3]
    assert img.shape[:2] == (1600, 1200)
    return img


def test_renders_in_headless_chromium(report, tmp_path):
    """A real browser renders the report offline to a screenshot that is not blank."""
    img = _screenshot(report[1], tmp_path)
    assert float(img.std()) > 0.05, "screenshot is (nearly) uniform: blank page?"
    colours = np.unique((img.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
    assert len(colours) > 50, f"only {len(colours)} distinct colours: images not rendered?"


CLAIMS = [
    Claim("Grid cells <hex>", "grid-like units", "43 of 48 units (90%)", True),
    Claim("Torus", "Betti (1, 2, 1)", "Betti [1, 1, 0]", False),
    Claim("Other velocity statistics", "holds", "not run", None),
]


@pytest.fixture(scope="module")
def verdict(tmp_path_factory):
    out = tmp_path_factory.mktemp("verdict")
    maps = np.stack([syn.hex_map(n_bins=16, bin_size=0.1, spacing=0.4)] * 2)
    boxes = {"1.6 m": (-0.8, 0.8, -0.8, 0.8)}
    p1 = F.arena_maps({"1.6 m": maps}, boxes, [0, 1], out / "maps.png")
    path = write_report(out, "verdict", SUMMARY, [Figure("Maps", p1)], claims=CLAIMS)
    return path, path.read_text(encoding="utf-8")


def test_verdict_leads_and_raw_numbers_fold(verdict):
    """Claims table first (escaped, a verdict word per claim), figures next, numbers last in
    <details>."""
    html = verdict[1]
    order = [html.index(x) for x in ('<table class="summary claims">', "<figure>", "<details>")]
    assert order == sorted(order)
    assert "Grid cells &lt;hex&gt;" in html and "<hex>" not in html
    assert '<td class="yes">yes</td>' in html and '<td class="no">no</td>' in html
    assert '<td class="na">not measured</td>' in html
    raw = html[html.index("<details>") :]
    assert "null / shuffles / n" in raw and "0.123" in raw  # the key numbers, folded


def test_verdict_visible_first_in_headless_chromium(verdict, tmp_path):
    """The browser shows the verdict at the top of the page: the yes (green) and no (red) cells
    are in the first screen, and the folded numbers are not rendered open."""
    img = _screenshot(verdict[0], tmp_path)
    px = (img * 255).round().astype(int)
    green = np.all(np.abs(px - [0x1A, 0x7F, 0x37]) < 40, axis=-1)
    red = np.all(np.abs(px - [0xB4, 0x23, 0x18]) < 40, axis=-1)
    assert green[:800].sum() > 20 and red[:800].sum() > 20, "no verdict colours near the top"
