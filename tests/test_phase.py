import numpy as np

from gridssl.phase import cell_means, phase_figure, phase_grid, read_trials, trials_markdown
from gridssl.sweep import write_table

COLS = ["trial", "seed", "model.n_units", "data.seq_len", "loss.w_cap", "status",
        "grid_fraction", "n_distinct_periods", "place_fraction", "module_periods_m"]  # fmt: skip


def _rows():
    rows = []
    for n, t, w, s in np.ndindex(2, 2, 2, 2):
        N, T, W = (64, 128)[n], (40, 60)[t], (0.75, 1.5)[w]
        rows.append({
            "trial": f"N{N}_T{T}_w{W}_s{s}", "seed": s, "model.n_units": N, "data.seq_len": T,
            "loss.w_cap": W, "status": "ok",
            "grid_fraction": 0.1 * n + 0.2 * t + 0.01 * s,
            "n_distinct_periods": 2 if (N, T, W) == (128, 60, 0.75) else 1,
            "place_fraction": 0.5, "module_periods_m": [0.5, 0.8] if s else [0.7],
        })  # fmt: skip
    rows.append({**rows[0], "trial": "pending_one", "status": "pending", "grid_fraction": None})
    return rows


def test_read_trials_cell_means_and_table(tmp_path):
    write_table(tmp_path / "results.csv", COLS, _rows())
    rows = read_trials([tmp_path])
    assert len(rows) == 16 and all(r["status"] == "ok" for r in rows)  # pending left out
    assert rows[0]["module_periods_m"] == [0.7] and rows[1]["module_periods_m"] == [0.5, 0.8]
    means = cell_means(rows, ("model.n_units", "data.seq_len", "loss.w_cap", None), "grid_fraction")
    assert len(means) == 8
    m, n = means[(128.0, 60.0, 0.75, None)]
    assert n == 2 and np.isclose(m, 0.1 + 0.2 + 0.005)  # mean over the two seeds
    assert cell_means(rows, ("model.n_units", None, None, None), "n_distinct_periods")[
        (128.0, None, None, None)
    ] == (1.25, 8)
    md = trials_markdown(rows, ["trial", "model.n_units", "module_periods_m"]).splitlines()
    assert md[0] == "| trial | n_units | module_periods_m |" and len(md) == 18
    assert md[3].endswith("| 64 | 0.5, 0.8 |")


def test_phase_grid_places_each_cell_and_leaves_missing_ones_empty(tmp_path):
    rows = [r for r in _rows()[:-1] if not (r["model.n_units"] == 64 and r["data.seq_len"] == 60)]
    grid, counts = phase_grid(rows, "grid_fraction", inner_y=None)
    # columns: (N 64, w 0.75), (N 64, w 1.5), (N 128, w 0.75), (N 128, w 1.5); rows: T 40, T 60
    assert grid.shape == counts.shape == (2, 4)
    assert np.isnan(grid[1, :2]).all() and (counts[1, :2] == 0).all()  # N 64, T 60: none ran
    assert np.allclose(grid[0], [0.005, 0.005, 0.105, 0.105]) and np.isclose(grid[1, 2], 0.305)
    assert (counts[counts > 0] == 2).all()
    modules, _ = phase_grid(rows, "n_distinct_periods", inner_y=None)
    assert modules[1, 2] == 2 and np.nansum(modules == 2) == 1
    path = phase_figure(rows, tmp_path / "phase.png", inner_y=None, title="test")
    assert path.stat().st_size > 10_000
