import importlib.util
import sys
from pathlib import Path

import numpy as np

from gridssl.sweep import write_table

# the modules map is study code (experiments/phase.py), built on the library's public API
_path = Path(__file__).resolve().parents[1] / "experiments" / "phase.py"
_spec = importlib.util.spec_from_file_location("phase", _path)
phase = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("phase", phase)
_spec.loader.exec_module(phase)
cell_means, phase_figure, phase_grid = phase.cell_means, phase.phase_figure, phase.phase_grid
read_trials, trials_markdown = phase.read_trials, phase.trials_markdown

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


def test_followup_spec_reruns_configurations_with_two_periods(tmp_path):
    import yaml

    followup_spec = phase.followup_spec
    from gridssl.sweep import load_spec, make_trials, parse_spec

    raw = {"preset": "tiny", "steps": 30, "seeds": [0], "set": {"train.eval_every": 10},
           "grid": {"loss.w_cap": [0.5, 1.5], "model.n_units": [16, 32]}}  # fmt: skip
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(raw))
    trials = make_trials(parse_spec(raw))
    rows = [{"trial": t.name, "seed": 0, **t.values, "status": "ok", "n_distinct_periods": 1}
            for t in trials]  # fmt: skip
    rows[2]["n_distinct_periods"] = 2  # w_cap 1.5, N 16
    rows[3]["status"], rows[3]["n_distinct_periods"] = "failed", None
    write_table(tmp_path / "results.csv", [*rows[0]], rows)
    assert followup_spec(tmp_path, [1, 2], min_periods=3) is None
    spec = followup_spec(tmp_path, [1, 2])
    assert spec.seeds == (1, 2) and spec.steps == 30 and spec.set == {"train.eval_every": 10}
    want = {"loss.w_cap": 1.5, "model.n_units": 16}
    assert spec.conditions == {"loss.w_cap-1.5_model.n_units-16": want}
    # the rerun's own trials carry the configuration's keys into the map
    out = tmp_path / "seeds"
    out.mkdir()
    (out / "sweep.yaml").write_text(yaml.safe_dump(spec.to_dict()))
    again = make_trials(load_spec(out / "sweep.yaml"))
    write_table(out / "results.csv", ["trial", "seed", "condition", "status", "grid_fraction"],
                [{"trial": t.name, "seed": t.seed, **t.values, "status": "ok",
                  "grid_fraction": 0.5} for t in again])  # fmt: skip
    got = read_trials([out])
    assert [(r["loss.w_cap"], r["model.n_units"], r["seed"]) for r in got] == [
        (1.5, 16, 1),
        (1.5, 16, 2),
    ]


def test_goal_modules_counts_well_separated_modules_of_seven_cells():
    goal_modules = phase.goal_modules

    assert goal_modules([0.45, 0.75, 1.27], [10, 9, 8]) == 3  # the paper's modules
    assert goal_modules([0.45, 0.75, 1.27], [10, 6, 8]) == 2  # too few cells in the middle one
    assert goal_modules([0.70, 0.80, 0.95], [10, 10, 10]) == 2  # 0.80 is too close to 0.70
    assert goal_modules([0.95, 1.12], [9, 9]) == 1 and goal_modules([], []) == 0
    assert goal_modules(None, None) == 0
