"""Arrays out and the small seams: eval's maps round-trip through `gridssl score`, the score
variant is chosen on the command line, `import gridssl` reaches gridssl.analysis, and a device
this machine lacks is refused in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from gridssl.analysis.gridscore import bnt_grid_scores, grid_scores
from gridssl.analysis.sac import autocorrelogram
from gridssl.analysis.synthetic import hex_map, place_map
from gridssl.cli import main

FAST = ["--shuffles", "0", "--set", "analysis.samples_per_bin=15"]


@pytest.fixture(scope="module")
def pretrained_eval(tmp_path_factory):
    out = tmp_path_factory.mktemp("ev")
    assert main(["eval", "pretrained", "--out", str(out), *FAST]) == 0
    return out


def test_eval_maps_round_trip_through_score(pretrained_eval, capsys):
    out = pretrained_eval
    maps = np.load(out / "maps_2m.npy")
    ev = json.loads((out / "eval_2m.json").read_text())
    assert maps.shape == (48, 40, 40) and maps.dtype == np.float64
    capsys.readouterr()
    argv = ["score", str(out / "maps_2m.npy"), "--bin-size", "0.05", "--shuffles", "0", "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert [u["grid_score"] for u in res["units"]] == ev["scores"]  # identical, unit by unit
    assert res["summary"]["n_grid_cells"] == ev["n_grid_cells"]
    z = np.load(out / "rollout_2m.npz")
    assert z["positions"].shape[:2] == z["states"].shape[:2] and z["states"].shape[2] == 48
    assert tuple(z["box"]) == (-1.0, 1.0, -1.0, 1.0) and float(z["bin_size"]) == 0.05
    assert float(z["arena"]) == 2.0
    # the maps are the rate maps of those positions and states ([y, x], NaN unvisited)
    from gridssl.analysis.ratemaps import rate_maps

    again = rate_maps(z["positions"].reshape(-1, 2), z["states"].reshape(-1, 48), z["box"], 0.05)
    np.testing.assert_allclose(again.maps, maps, rtol=1e-5, equal_nan=True)


def test_score_variant_is_chosen_and_named(tmp_path, capsys):
    maps = np.stack([hex_map(spacing=sp) for sp in (0.4, 0.6)] + [place_map()])
    np.save(tmp_path / "m.npy", maps)
    sacs = autocorrelogram(maps)
    expected = {
        "minmax": grid_scores(sacs, "minmax").scores,
        "mean": grid_scores(sacs, "mean").scores,
        "bnt": bnt_grid_scores(sacs).scores,
    }
    assert not np.allclose(expected["minmax"], expected["bnt"])
    for variant, want in expected.items():
        capsys.readouterr()
        argv = ["score", str(tmp_path / "m.npy"), "--bin-size", "0.05", "--variant", variant]
        assert main([*argv, "--shuffles", "5", "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["summary"]["grid_score"]["variant"] == variant
        got = [u["grid_score"] for u in res["units"]]
        np.testing.assert_allclose(got, np.round(want, 4), atol=1e-4)
        assert [u["grid_cell"] for u in res["units"]] == [True, True, False]
        assert main([*argv, "--shuffles", "0"]) == 0  # the table names the variant
        assert f"grid score: {variant}," in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["score", str(tmp_path / "m.npy"), "--bin-size", "0.05", "--variant", "opexebo"])
    assert e.value.code == 2


def test_import_gridssl_reaches_the_analysis_package():
    code = "import gridssl; print(gridssl.analysis.gridscore.score_maps.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "score_maps", out.stderr
    # and it stays light: the analysis submodules load on first use
    code = "import sys, gridssl; print('gridssl.analysis.topology' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("cmd", ["eval", "analyze"])
def test_a_missing_cuda_device_is_refused_in_one_line(tmp_path, capsys, cmd):
    assert main([cmd, "pretrained", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no CUDA device is available" in err
    assert not (tmp_path / "o").exists()
    import gridssl
    from gridssl.config import ConfigError

    with pytest.raises(ConfigError, match="no CUDA device is available"):
        gridssl.load("pretrained", device="cuda")


def test_citation_and_readme_conventions():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and "gridssl" in cff["title"]
    paper = cff["references"][0]
    assert "Multi-Modular Grid Cells" in paper["title"] and paper["year"] == 2023
    assert paper["authors"][0]["family-names"] == "Schaeffer"
    readme = (root / "README.md").read_text()
    assert "tensorboard --logdir" in readme
    assert "ratinabox" in (root / "pyproject.toml").read_text()
