"""Each figure function writes one non-empty, non-uniform PNG atomically and leaves nothing else."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gridssl.analysis import synthetic as syn
from gridssl.report import figures as F

N = 12  # bins per side: small maps keep the tests fast
BIN = 0.1  # m
BOX = (-0.6, 0.6, -0.6, 0.6)
VARIANT = "min-max, Banino annuli r_in 0.2, r_out 0.4-1.0, 10 cm bins"


def _sac(m: np.ndarray) -> np.ndarray:
    """Masked Pearson autocorrelogram (2n-1, 2n-1) of one map, by a plain loop over lags."""
    ny, nx = m.shape
    out = np.full((2 * ny - 1, 2 * nx - 1), np.nan)
    for dy in range(-(ny - 1), ny):
        for dx in range(-(nx - 1), nx):
            a = m[max(dy, 0) : ny + min(dy, 0), max(dx, 0) : nx + min(dx, 0)]
            b = m[max(-dy, 0) : ny + min(-dy, 0), max(-dx, 0) : nx + min(-dx, 0)]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() >= 6 and a[ok].std() > 0 and b[ok].std() > 0:
                out[dy + ny - 1, dx + nx - 1] = np.corrcoef(a[ok], b[ok])[0, 1]
    return out


@pytest.fixture(scope="module")
def population():
    maps, labels, phases = syn.modular_population(
        [0.4, 0.6], units_per_module=3, n_bins=N, bin_size=BIN, rng=0
    )
    maps = maps.copy()
    maps[:, 0, :3] = np.nan  # a few unvisited bins
    sacs = np.stack([_sac(m) for m in maps])
    scores = np.linspace(-0.2, 1.2, len(maps))
    scores[1] = np.nan
    return maps, sacs, scores, labels, phases


def _check_png(path, folder, name):
    from matplotlib.image import imread

    assert path == folder / name
    assert path.is_file() and path.stat().st_size > 0
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert float(img[..., :3].std()) > 0.01  # not a uniform image
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no stray temp files


def test_ratemaps_with_sacs(tmp_path, population):
    maps, sacs, scores, labels, _ = population
    p = F.ratemaps_with_sacs(maps, sacs, scores, BOX, tmp_path / "rm.png", VARIANT, labels=labels)
    _check_png(p, tmp_path, "rm.png")


def test_ratemaps_with_sacs_caps_units_and_checks_shapes(tmp_path, population):
    maps, sacs, scores, _, _ = population
    p = F.ratemaps_with_sacs(
        maps, sacs, scores, BOX, str(tmp_path / "rm.png"), VARIANT, max_units=2
    )
    _check_png(p, tmp_path, "rm.png")
    with pytest.raises(ValueError):
        F.ratemaps_with_sacs(maps, sacs[:, 1:], scores, BOX, tmp_path / "bad.png", VARIANT)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["rm.png"]


def test_arena_maps(tmp_path):
    maps, boxes = {}, {}
    for size in (2, 3):
        n = int(round(size / 0.2))
        xy = syn.bin_centres(n, 0.2)
        maps[f"{size} m"] = np.stack([syn.hex_field(xy, s, 7.0) for s in (0.4, 0.6)])
        boxes[f"{size} m"] = (-size / 2, size / 2, -size / 2, size / 2)
    p = F.arena_maps(maps, boxes, [0, 1], tmp_path / "arenas.png")
    _check_png(p, tmp_path, "arenas.png")


def test_score_histogram(tmp_path, population):
    scores = population[2]
    null = np.random.default_rng(1).normal(0.0, 0.2, 500)
    p = F.score_histogram(
        scores,
        tmp_path / "s.png",
        VARIANT,
        null_p95=float(np.quantile(null, 0.95)),
        null_scores=null,
    )
    _check_png(p, tmp_path, "s.png")


def test_score_histogram_all_nan(tmp_path):
    p = F.score_histogram(np.full(4, np.nan), tmp_path / "s.png", VARIANT)
    _check_png(p, tmp_path, "s.png")


def test_spacing_and_orientation(tmp_path):
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, -1], 10)
    spacing = np.concatenate(
        [rng.normal(0.4, 0.02, 10), rng.normal(0.57, 0.03, 10), rng.uniform(0.3, 0.8, 10)]
    )
    ori = np.concatenate([rng.normal(10, 2, 10), rng.normal(40, 3, 10), rng.uniform(0, 60, 10)])
    p = F.spacing_histogram(spacing, labels, tmp_path / "sp.png")
    _check_png(p, tmp_path, "sp.png")
    p.unlink()
    p = F.orientation_plot(ori, labels, tmp_path / "or.png")
    _check_png(p, tmp_path, "or.png")


def test_fourier_panel(tmp_path):
    m = syn.hex_map(n_bins=32, bin_size=0.05, spacing=0.5, orientation_deg=5.0)
    pw = np.abs(np.fft.fftshift(np.fft.fft2(m - m.mean(), s=(64, 64)))) ** 2
    k = np.fft.fftshift(np.fft.fftfreq(64, d=0.05)) * 2 * np.pi
    p = F.fourier_panel(pw, k, k, syn.hex_wavevectors(0.5, 5.0), tmp_path / "f.png")
    _check_png(p, tmp_path, "f.png")


def test_phase_panel(tmp_path):
    phases = np.random.default_rng(3).uniform(0, 1, (40, 2))
    p = F.phase_panel(phases, tmp_path / "ph.png", uniformity_p=0.42)
    _check_png(p, tmp_path, "ph.png")


def test_torus_panel(tmp_path):
    rng = np.random.default_rng(4)
    t = rng.uniform(0, 2 * np.pi, (300, 2))
    emb = np.stack(
        [
            (2 + np.cos(t[:, 1])) * np.cos(t[:, 0]),
            (2 + np.cos(t[:, 1])) * np.sin(t[:, 0]),
            np.sin(t[:, 1]),
        ],
        axis=1,
    )
    h0 = np.stack([np.zeros(20), np.r_[rng.uniform(0.05, 0.2, 19), np.inf]], axis=1)
    h1 = np.array([[0.3, 2.0], [0.4, 1.8], [0.2, 0.35], [0.25, 0.3]])
    h2 = np.array([[0.9, 1.6], [0.8, 0.85]])
    p = F.torus_panel(
        emb, [h0, h1, h2], (1, 2, 1), tmp_path / "t.png", null_thresholds=[None, 0.3, 0.2]
    )
    _check_png(p, tmp_path, "t.png")


def test_torus_panel_empty_diagram(tmp_path):
    emb = np.random.default_rng(5).normal(size=(50, 3))
    p = F.torus_panel(
        emb, [np.zeros((1, 2)) + [0, np.inf], np.empty((0, 2))], (1, 0), tmp_path / "t.png"
    )
    _check_png(p, tmp_path, "t.png")


def test_generalisation_panel_array_and_dict(tmp_path):
    rng = np.random.default_rng(6)
    d = rng.uniform(0, 2, 400)
    nd = np.minimum(d, 1.1) + rng.normal(0, 0.05, d.size)
    p = F.generalisation_panel(d, nd, tmp_path / "g.png")
    _check_png(p, tmp_path, "g.png")
    p.unlink()
    curves = {"2 m": (d, nd), "4 m": (2 * d, np.minimum(2 * d, 1.5))}
    p = F.generalisation_panel(curves, None, tmp_path / "g.png", train_extent_m=1.1)
    _check_png(p, tmp_path, "g.png")


def test_separation_panel(tmp_path):
    rng = np.random.default_rng(7)
    sp = rng.uniform(0, 1.5, 500)
    tt = rng.integers(1, 200, 500).astype(float)
    nd = sp + 0.002 * tt + rng.normal(0, 0.05, 500)
    p = F.separation_panel(sp, tt, nd, tmp_path / "sep.png")
    _check_png(p, tmp_path, "sep.png")


def test_training_curves(tmp_path):
    rows = []
    for s in range(0, 500, 25):
        row = {
            "step": s,
            "total": 5 * np.exp(-s / 200) - 1,
            "sep": np.exp(-s / 100) + 0.01,
            "inv": 0.2 + 0.1 * np.exp(-s / 50),
            "cap": -0.5 - s / 1000,
            "iso": 0.05,
        }
        if s % 100 == 0:
            row["eval_grid_fraction"] = min(1.0, s / 400)
        rows.append(row)
    p = F.training_curves(rows, tmp_path / "tc.png")
    _check_png(p, tmp_path, "tc.png")


def test_no_pyplot_state_left(tmp_path, population):
    """The figures never use pyplot, so no figure stays open in its global registry."""
    import inspect

    src = "".join(inspect.getsource(m) for m in (F, *vars(F).values()) if inspect.ismodule(m))
    assert "import matplotlib.pyplot" not in src and "from matplotlib import pyplot" not in src
    maps, sacs, scores, _, _ = population
    before = None
    if "matplotlib.pyplot" in sys.modules:
        before = sys.modules["matplotlib.pyplot"].get_fignums()
    F.ratemaps_with_sacs(maps[:2], sacs[:2], scores[:2], BOX, tmp_path / "x.png", VARIANT)
    if before is not None:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == before


def test_failed_save_leaves_no_temp(tmp_path, monkeypatch):
    """An error while writing leaves neither the target nor a temp file behind."""
    from matplotlib.figure import Figure

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError):
        F.phase_panel(np.zeros((3, 2)), tmp_path / "ph.png")
    assert list(tmp_path.iterdir()) == []


def test_prebinned_curves(tmp_path):
    """Both distance panels also take pre-binned curves (centres, mean, sd; NaN = empty bin)."""
    from types import SimpleNamespace

    def curve_of(centres, mean, sd, count):  # duck-types generalisation.BinnedCurve
        return SimpleNamespace(centres=centres, mean=mean, sd=sd, count=count)

    c = np.linspace(0.025, 2.0, 40)
    mean = np.minimum(c, 1.1)
    mean[5] = np.nan
    curve = curve_of(c, mean, np.full(40, 0.05), np.full(40, 10.0))
    p = F.generalisation_panel(
        {"2 m": curve, "4 m": (c, mean, 0.1 + 0 * c)}, None, tmp_path / "g.png"
    )
    _check_png(p, tmp_path, "g.png")
    p.unlink()
    t = curve_of(np.arange(5, 200, 10.0), np.linspace(0.5, 1.0, 20), np.full(20, 0.1), np.ones(20))
    p = F.separation_panel(curve, t, None, tmp_path / "sep.png")
    _check_png(p, tmp_path, "sep.png")
    p.unlink()
    with pytest.raises(ValueError):
        F.separation_panel(np.ones(5), np.ones(5), None, tmp_path / "sep.png")


def test_unit_code_figure_with_and_without_periodic_units(tmp_path):
    from types import SimpleNamespace

    from gridssl.analysis.decorrelation import decorrelation
    from gridssl.config import AnalysisConfig
    from gridssl.pipeline import unit_periods_of

    grids, _, _ = syn.modular_population([0.5, 0.8], 6, n_bins=60, rng=0)
    places = np.stack([syn.place_map(60, 0.05, (x, 0.0), 0.1) for x in np.linspace(-1, 1, 8)])
    for name, maps in (("grids", grids), ("places", places)):
        code = SimpleNamespace(
            arena=3.0,
            periods=unit_periods_of(maps, AnalysisConfig()),  # 5 cm bins
            decorrelation=decorrelation(maps, 0.05, max_r=1.0, level=0.9),
        )
        ref = decorrelation(grids[:6], 0.05, max_r=1.0, level=0.9)
        (tmp_path / name).mkdir()
        path = F.unit_code(code, tmp_path / name / "c.png", others=[("one module", ref)])
        _check_png(path, tmp_path / name, "c.png")
