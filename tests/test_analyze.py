import dataclasses
import json

import numpy as np
import pytest

from gridssl import pipeline as P
from gridssl.analysis.synthetic import modular_population, place_map, stripe_map
from gridssl.analyze import FAR_PAIR_WINDOW, trial_metrics
from gridssl.checkpoint import load, read_metrics
from gridssl.cli import main
from gridssl.config import AnalysisConfig


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "--preset", "tiny", "--out", str(run), "--steps", "20", "--quiet"]) == 0
    return run


def test_analyze_writes_summary_figures_and_report(tiny_run, capsys):
    out = tiny_run / "an"
    args = [
        "analyze",
        str(tiny_run),
        "--out",
        str(out),
        "--arenas",
        "1",
        "1.5",
        "--shuffles",
        "2",
        "--set",
        "analysis.samples_per_bin_others=10",
        "--set",
        "analysis.long_walk_steps=200",
        "--set",
        "analysis.long_walk_count=2",
        "--set",
        "analysis.ratinabox_seconds=5",
        "--set",
        "analysis.unit_code_arena=1.5",
        "--quiet",
    ]
    assert main(args) == 0
    assert "report:" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert set(s["arenas"]) == {"1 m", "1.5 m"}
    first = s["arenas"]["1 m"]
    assert first["grid_score"]["variant"] == "minmax" and first["grid_score"]["inner"] == 0.2
    assert 0 <= first["grid_fraction"] <= 1 and "time_shift" in first["grid_rule"]
    assert (
        set(s["generalisation"]) == {"1 m", "1.5 m"} and "invariance_ratio" in s["path_invariance"]
    )
    v = s["velocity_generalisation"]
    assert set(v) >= {"default", "slow", "fast", "noisy", "straight"}
    assert all(-1 <= v[k]["map_correlation_median"] <= 1 for k in ("slow", "fast", "noisy"))
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 7
    # the verdict first, the figures next, the raw numbers last and folded
    claims, figs, raw = (html.index(x) for x in ("Claims of the paper", "Figure 1.", "<details>"))
    assert claims < figs < raw
    claims = ("Grid cells", "Torus", "Other velocity statistics", "Long walks (no restarts)")
    for claim in (*claims, "Path invariance"):
        assert f'<th scope="row">{claim}</th>' in html
    lw = s["long_walks"]
    for name in ("0.5 cm", "2 cm", "8 cm"):
        assert lw[name]["steps"] == 200 and len(lw[name]["pv_correlation"]) == 20
        assert 0 <= lw[name]["grid_fraction"] <= 1
    assert (out / "figures" / "long_walks.png").exists()
    code = s["unit_code"]
    assert code["arena_m"] == 1.5 and code["periods"]["units"] == 16
    assert sum(code["periods"]["lattice_counts"].values()) == 16
    assert code["decorrelation"]["distance"][0] == 0.0
    assert "every active unit (1.5 m arena)" in html  # in the claims table's modules row
    # every arena's maps and rollout as arrays, read back by `gridssl score`
    for a in ("1", "1.5"):
        assert np.load(out / f"maps_{a}m.npy").shape[0] == 16
        assert set(np.load(out / f"rollout_{a}m.npz")) >= {"positions", "states", "box"}
    assert "training" in " ".join(p.name for p in (out / "figures").iterdir())


def test_eval_and_info(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--arena", "1", "--shuffles", "3"]) == 0
    s = json.loads((tiny_run / "eval" / "eval_1m.json").read_text())
    assert len(s["scores"]) == 16 and s["grid_score"]["variant"] == "minmax"
    assert s["settings"]["arenas"] == [1.0] and s["settings"]["shuffles"] == 3
    assert "time_shift" in s["grid_rule"] and 0 <= s["invariance_ratio"]
    assert (tiny_run / "eval" / "ratemaps_1m.png").stat().st_size > 1000


def test_trial_metrics_contract(tiny_run):
    """The sweep's metrics: the documented keys and types, the primary arena's numbers."""
    cfg = AnalysisConfig(
        arenas=(1.0, 1.5),
        shuffles=2,
        samples_per_bin=20,
        long_walk_steps=100,
        long_walk_count=2,
        long_walk_step_means=(0.005, 0.08),
        ratinabox_seconds=5,
        unit_code_arena=1.5,
    )
    m = trial_metrics(tiny_run, cfg)
    walks = {f"long_{w}_{k}" for w in ("0_5_cm", "8_cm") for k in ("grid_fraction", "pv_last")}
    walks.add("still_pv_last")
    try:
        import ratinabox  # noqa: F401

        walks |= {"long_ratinabox_grid_fraction", "long_ratinabox_pv_last"}
    except ImportError:
        pass
    assert set(m) - walks == {
        "grid_fraction",
        "place_fraction",
        "square_fraction",
        "n_modules",
        "n_distinct_periods",
        "module_periods_m",
        "module_period_ratios",
        "module_sizes",
        "module_orientation_spread_deg",
        "median_grid_score",
        "invariance_ratio",
        "far_dist",
        "far_cos",
        *CODE_KEYS,
    }
    lattices = [m[f"code_{k}_fraction"] for k in ("hexagonal", "square", "bands", "aperiodic")]
    assert sum(lattices) == pytest.approx(1.0, abs=1e-3)  # of the active units
    k = m["code_n_modules"]
    assert len(m["code_module_periods_m"]) == len(m["code_module_sizes"]) == k
    assert set(m["code_module_lattices"]) <= {"hexagonal", "square", "bands"}
    assert m["code_module_periods_m"] == sorted(m["code_module_periods_m"])
    assert 0 <= m["decorrelation_length_m"] <= cfg.decorrelation_max_r
    for k in ("grid_fraction", "place_fraction", "square_fraction"):
        assert 0 <= m[k] <= 1
    k = m["n_modules"]
    assert isinstance(k, int) and len(m["module_periods_m"]) == k == len(m["module_sizes"])
    assert len(m["module_orientation_spread_deg"]) == k and 0 <= m["n_distinct_periods"] <= k
    assert len(m["module_period_ratios"]) == max(k - 1, 0)
    assert all(isinstance(p, float) for p in m["module_periods_m"])
    # the far-pair diagnostics: the mean of the last logged lines of metrics.jsonl
    far = [r for r in read_metrics(tiny_run) if "far_dist" in r][-FAR_PAIR_WINDOW:]
    assert m["far_dist"] == round(float(np.mean([r["far_dist"] for r in far])), 4)
    assert 0 < m["far_dist"] <= 2**0.5 and -1 <= m["far_cos"] <= 1
    assert m["invariance_ratio"] > 0 and -2 <= m["median_grid_score"] <= 2
    assert walks <= set(m) and all(-1 <= m[k] <= 1 for k in walks if m[k] is not None)
    assert s_still_ok(m)
    assert trial_metrics(tiny_run, cfg) == m  # seeded: the same numbers twice


CODE_KEYS = (
    "code_hexagonal_fraction",
    "code_square_fraction",
    "code_bands_fraction",
    "code_aperiodic_fraction",
    "code_n_modules",
    "code_module_periods_m",
    "code_module_sizes",
    "code_module_lattices",
    "decorrelation_length_m",
    "decorrelation_recurrence",
)


def test_unit_code_gets_the_same_maps_with_or_without_that_arena_in_the_rollout(tiny_run):
    cfg = AnalysisConfig(
        arenas=(1.0, 1.5), shuffles=0, samples_per_bin=20, samples_per_bin_others=10
    )
    cfg = dataclasses.replace(cfg, unit_code_arena=1.5)
    net = load(tiny_run)
    ro = P.rollout(net, cfg)
    both = P.unit_code(net, P.population(ro, cfg), cfg)
    ro1 = P.rollout(net, cfg, arenas=(1.0,))
    own = P.unit_code(net, P.population(ro1, cfg), cfg)
    assert both.arena == own.arena == 1.5 and len(both.periods.lattice) == 16
    np.testing.assert_array_equal(both.periods.lattice, own.periods.lattice)
    np.testing.assert_array_equal(both.periods.period, own.periods.period)
    np.testing.assert_array_equal(both.decorrelation.distance, own.decorrelation.distance)
    assert P.unit_code(net, None, dataclasses.replace(cfg, unit_code_arena=0.0)) is None


def s_still_ok(m: dict) -> bool:
    """standing still is measured (a correlation, or None for a code with no place signal)"""
    return m["still_pv_last"] is None or -1 <= m["still_pv_last"] <= 1


BAD_INPUT = [
    (["eval", "RUN", "--arena", "-2"], "analysis.arenas = -2.0"),
    (["eval", "RUN", "--arena", "two"], "analysis.arenas = 'two'"),
    (["eval", "RUN", "--arena", "nan"], "analysis.arenas = 'nan'"),
    (["eval", "RUN", "--bin-size", "0"], "analysis.bin_size = 0.0"),
    (["eval", "RUN", "--shuffles", "-1"], "analysis.shuffles = -1"),
    (["eval", "RUN", "--seed", "1.5"], "analysis.seed = '1.5'"),
    (["eval", "RUN", "--set", "analysis.nope=1"], "unknown config key 'analysis.nope'"),
    (["eval", "RUN", "--set", "bin_size=1"], "--set 'bin_size=1'"),
    (["eval", "RUN", "--set", "analysis.threshold=inf"], "analysis.threshold = 'inf'"),
    (["eval", "RUN", "--set", "analysis.topology=maybe"], "analysis.topology = 'maybe'"),
    (["eval", "MISSING"], "does not exist"),
    (["analyze", "RUN", "--arenas", "2", "-3"], "analysis.arenas = -3.0"),
    (["analyze", "RUN", "--arenas", "2", "x"], "analysis.arenas = 'x'"),
    (["analyze", "RUN", "--bin-size", "-0.05"], "analysis.bin_size = -0.05"),
    (["analyze", "RUN", "--set", "analysis.arenas="], "analysis.arenas = ''"),
    (["analyze", "RUN", "--set", "analysis.samples_per_bin=0"], "analysis.samples_per_bin"),
    (["analyze", "RUN", "--set", "train.steps=5"], "--set 'train.steps=5'"),
    (["analyze", "MISSING"], "does not exist"),
    # geometry (issue 20, D11): an arena smaller than a few bins, a tiny bin, a huge arena
    (["eval", "RUN", "--arena", "0.01"], "bins per side"),
    (["eval", "RUN", "--bin-size", "1e-4"], "bins per side"),
    (["eval", "RUN", "--arena", "1e6"], "bins per side"),
]


@pytest.mark.parametrize("argv, needle", BAD_INPUT)
def test_bad_eval_and_analyze_input_is_refused(tiny_run, tmp_path, capsys, argv, needle):
    """One line naming the bad value, exit code 2, nothing written."""
    out = tmp_path / "out"
    subs = {"RUN": str(tiny_run), "MISSING": str(tmp_path / "missing")}
    argv = [subs.get(a, a) for a in argv] + ["--out", str(out)]
    before = sorted(p.relative_to(tiny_run) for p in tiny_run.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not (tmp_path / "missing").exists()
    assert sorted(p.relative_to(tiny_run) for p in tiny_run.rglob("*")) == before


def test_analysis_config_is_listed_in_help(capsys):
    for cmd in ("eval", "analyze"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        for f in dataclasses.fields(AnalysisConfig):
            assert f"analysis.{f.name} = " in text, (cmd, f.name)


def test_score_recovers_planted_modules(tmp_path, capsys):
    maps, labels, _ = modular_population([0.45, 0.75], 8, 0.0, rng=0)
    maps = np.concatenate([maps, stripe_map()[None], place_map()[None]])
    maps[:, :2, :2] = np.nan
    path = tmp_path / "maps.npy"
    np.save(path, maps)
    assert main(["score", str(path), "--bin-size", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    units = out["units"]
    assert [u["grid_cell"] for u in units] == [True] * 16 + [False, False]
    assert out["summary"]["n_modules"] == 2
    assert out["summary"]["module_periods_m"] == pytest.approx([0.45, 0.75], rel=0.05)
    assert {units[i]["module"] for i in range(8)} != {units[i]["module"] for i in range(8, 16)}
    assert main(["score", str(path), "--bin-size", "0.05"]) == 0
    table = capsys.readouterr().out
    assert "minmax" in table and "grid cells 16/18" in table


@pytest.mark.parametrize(
    "bad, needle", [(np.zeros((3, 4)), "shape (3, 4)"), (np.array(["a", "b"]), "expected numbers")]
)
def test_score_refuses_bad_maps(tmp_path, capsys, bad, needle):
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    assert main(["score", str(path), "--bin-size", "0.05"]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_export_roundtrip(tiny_run, tmp_path):
    import torch

    import gridssl

    out = tmp_path / "model.pt"
    assert main(["export", str(tiny_run), "--out", str(out)]) == 0
    a, b = gridssl.load(tiny_run), gridssl.load(out)
    v = torch.full((2, 6, 2), 0.05)
    assert torch.allclose(a.rollout(v), b.rollout(v), atol=5e-3)  # fp16 weights


def test_pretrained_ships_and_loads():
    import torch

    import gridssl

    net = gridssl.load("pretrained")
    assert net.config.model.n_units == net.n_units == 48
    states = net.rollout(torch.full((3, 10, 2), 0.05))
    assert states.shape == (3, 10, 48)
    assert torch.allclose(states.norm(dim=-1), torch.ones(3, 10), atol=1e-3)


@pytest.mark.slow
def test_demo_analyses_the_shipped_model(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    assert (tmp_path / "demo" / "analysis" / "report.html").exists()
    assert "Grid cells:" in capsys.readouterr().out


def test_the_topology_null_size_is_the_analysis_setting(monkeypatch):
    """analysis.topology_shuffles reaches the homology's null (it was a fixed 3)."""
    from types import SimpleNamespace

    from gridssl.config import load_config

    seen = {}

    class Called(Exception):
        pass

    def fake(activity, **kw):
        seen.update(kw)
        raise Called

    monkeypatch.setattr(P, "population_topology", fake)
    act = np.random.default_rng(0).random((50, 8))
    rollouts = SimpleNamespace(
        g0=np.zeros(8), primary=2.0, by_arena={2.0: SimpleNamespace(flat=(None, act))}
    )
    cfg = load_config("tiny", overrides=["analysis.topology_shuffles=7"]).analysis
    with pytest.raises(Called):
        P.topology(rollouts, SimpleNamespace(largest=None, members={}), cfg)
    assert seen["n_null"] == 7 and seen["n_points"] == cfg.topology_points


def test_a_module_without_a_lattice_is_listed_not_fatal():
    """The pipeline's Fourier stage: a module of hexagonal maps gets its lattice; a module whose
    maps hold none (here silent units; in a sweep trial whose measurement died on it, a module
    with one admissible peak) is listed in ``missing`` with the reason instead of ending the
    analysis."""
    from types import SimpleNamespace

    from gridssl.analysis.synthetic import hex_map

    hexes = [hex_map(spacing=0.5, phase=(0.1 * i, 0.05 * i)) for i in range(4)]
    maps = np.stack(hexes + [np.zeros_like(hexes[0])] * 4)
    pops = SimpleNamespace(primary=SimpleNamespace(maps=SimpleNamespace(maps=maps)))
    mods = SimpleNamespace(members={0: np.arange(4), 1: np.arange(4, 8), 2: np.arange(8, 8)})
    four = P.fourier(pops, mods, AnalysisConfig(bin_size=0.05))
    assert list(four.by_module) == [0]
    assert four.by_module[0].spacing == pytest.approx(0.5, rel=0.05)
    assert list(four.missing) == [1] and "no usable unit" in four.missing[1]
