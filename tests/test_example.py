"""The worked example in examples/ runs end to end (RatInABox's path where it is installed)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("example", ROOT / "examples/walk_and_score.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_with_gridssl_walks(tmp_path, capsys):
    fig = _example().main(["--out", str(tmp_path), "--seconds", "60", "--gridssl-walk"])
    out = capsys.readouterr().out
    assert fig.stat().st_size > 10_000
    assert "gridssl smooth walks" in out and "walk outside the training range" in out
    assert "grid cells:" in out


def test_example_with_ratinabox(tmp_path, capsys):
    pytest.importorskip("ratinabox")
    fig = _example().main(["--out", str(tmp_path), "--seconds", "10"])
    assert "RatInABox default agent" in capsys.readouterr().out and fig.exists()
