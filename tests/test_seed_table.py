"""experiments/seed_table.py: rows, the bar, means with CIs and the curves figure, on a planted
sweep directory."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seed_table():
    spec = importlib.util.spec_from_file_location("seed_table", ROOT / "experiments/seed_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _plant(out: Path, rows: list[dict], curves: dict[str, list[float]]):
    (out / "trials").mkdir(parents=True)
    (out / "results.json").write_text(json.dumps(rows))
    for name, fr in curves.items():
        run = out / "trials" / name
        run.mkdir()
        lines = [
            {"step": 1000 * (i + 1), "eval_grid_fraction": f, "eval_score_median": f - 0.2}
            for i, f in enumerate(fr)
        ]
        (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_seed_table_rows_bar_and_means(tmp_path, seed_table, capsys):
    good = dict(
        status="ok",
        square_fraction=0.02,
        place_fraction=0.0,
        n_modules=1,
        module_periods_m=[0.7],
        median_grid_score=1.1,
        invariance_ratio=0.2,
        long_0_5_cm_grid_fraction=0.7,
        long_0_5_cm_pv_last=0.8,
    )
    rows = [
        {**good, "trial": "seed=0", "seed": 0, "grid_fraction": 0.9},
        {**good, "trial": "seed=1", "seed": 1, "grid_fraction": 0.7},
        {**good, "trial": "seed=2", "seed": 2, "grid_fraction": 0.1, "square_fraction": 0.7},
    ]
    _plant(
        tmp_path, rows, {"seed=0": [0.1, 0.5, 0.9], "seed=1": [0.0, 0.2, 0.4], "seed=2": [0, 0, 0]}
    )
    fig = tmp_path / "c.png"
    assert (
        seed_table.main([str(tmp_path), "--fig", str(fig), "--json", str(tmp_path / "t.json")]) == 0
    )
    text = capsys.readouterr().out
    assert "0_5_cm_grid" in text and "0_5_cm_pv_last" in text
    t = json.loads((tmp_path / "t.json").read_text())
    by = {r["trial"]: r for r in t["rows"]}
    assert by["seed=0"]["steps_to_30"] == 2000 and by["seed=1"]["steps_to_30"] == 3000
    assert by["seed=2"]["steps_to_30"] is None
    assert [by[k]["pass"] for k in ("seed=0", "seed=1", "seed=2")] == [True, True, False]
    s = t["summary"][0]
    assert s["n_ok"] == 3 and s["n_pass"] == 2
    mean, lo, hi = s["grid"]
    assert mean == pytest.approx(1.7 / 3) and lo < mean < hi and lo >= 0.1 and hi <= 0.9
    assert fig.stat().st_size > 5000


def test_seed_table_refuses_a_directory_without_results(tmp_path, seed_table, capsys):
    assert seed_table.main([str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_a_trial_listed_by_two_directories_gives_one_row_the_finished_one(tmp_path, seed_table):
    done = dict(status="ok", grid_fraction=0.9, square_fraction=0.0, invariance_ratio=0.3)
    a, b = tmp_path / "a", tmp_path / "b"
    _plant(a, [{"trial": "x_seed=1", "seed": 1, "status": "pending"}], {})
    _plant(b, [{**done, "trial": "x_seed=1", "seed": 1}, {"trial": "y", "status": "running"}], {})
    rows = seed_table.one_per_trial(seed_table.rows_of(a) + seed_table.rows_of(b))
    assert [(r["trial"], r["status"]) for r in rows] == [("x_seed=1", "ok"), ("y", "running")]


def test_one_recipe_over_two_directories_selected_and_merged(tmp_path, seed_table):
    """An ablation's `full` seeds and a sweep's further seeds: --trials keeps the matching names
    (no_cap is dropped), --merge makes them one group with one mean over all kept seeds."""
    ok = dict(status="ok", square_fraction=0.0, invariance_ratio=0.3)
    a, b = tmp_path / "ablate", tmp_path / "more"
    _plant(
        a,
        [
            {**ok, "trial": "full_seed=0", "seed": 0, "grid_fraction": 0.9},
            {**ok, "trial": "no_cap_seed=0", "seed": 0, "grid_fraction": 0.1},
        ],
        {},
    )
    _plant(b, [{**ok, "trial": "seed=5", "seed": 5, "grid_fraction": 0.5}], {})
    out = tmp_path / "t.json"
    argv = [str(a), str(b), "--trials", r"(full_)?seed=\d+", "--merge", "--json", str(out)]
    assert seed_table.main(argv) == 0
    t = json.loads(out.read_text())
    assert sorted(r["trial"] for r in t["rows"]) == ["full_seed=0", "seed=5"]
    (s,) = t["summary"]
    assert s["group"] == "all" and s["n_ok"] == 2 and s["n_pass"] == 1
    assert s["grid"][0] == pytest.approx(0.7)


def test_a_gated_slow_phase_start_is_a_column(tmp_path, seed_table, capsys):
    ok = dict(status="ok", grid_fraction=0.9, square_fraction=0.0, invariance_ratio=0.3)
    _plant(tmp_path, [{**ok, "trial": "seed=0", "seed": 0}], {"seed=0": [0.1, 0.2, 0.5]})
    run = tmp_path / "trials" / "seed=0" / "metrics.jsonl"
    rows = [json.loads(line) for line in run.read_text().splitlines()]
    rows[2]["slow_start"] = 3000
    run.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert seed_table.main([str(tmp_path), "--json", str(tmp_path / "t.json")]) == 0
    assert "slow_start" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert row["slow_start"] == 3000 and row["steps_to_30"] == 3000


# the settle rule itself (gridssl.train.settled): tests/test_settle.py


def test_the_unit_code_columns_list_each_trials_module_periods(tmp_path, seed_table, capsys):
    ok = dict(status="ok", grid_fraction=0.9, square_fraction=0.0, invariance_ratio=0.3)
    code = dict(code_hexagonal_fraction=0.8, code_n_modules=2, decorrelation_length_m=0.1)
    rows = [
        {**ok, **code, "trial": "seed=0", "seed": 0, "code_module_periods_m": [0.45, 0.75]},
        {**ok, **code, "trial": "seed=1", "seed": 1, "code_module_periods_m": [0.5, 0.8]},
    ]
    _plant(tmp_path, rows, {})
    out = tmp_path / "t.json"
    assert seed_table.main([str(tmp_path), "--code", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0.45/0.75" in text and "0.50/0.80" in text
    (s,) = json.loads(out.read_text())["summary"]
    assert s["code_periods_m"] is None and s["code_modules"][0] == 2
