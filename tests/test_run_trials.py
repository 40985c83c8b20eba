"""experiments/run_trials.py: sweep trials without Ray. The trials it runs are the ones `gridssl
sweep` would run and write (so the sweep takes them over), a trial chosen twice runs once, and
the deadline shedding keeps the highest-priority trials that can still finish."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import yaml

from gridssl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "run_trials.py"
_spec_ = importlib.util.spec_from_file_location("run_trials", SCRIPT)
rt = importlib.util.module_from_spec(_spec_)
sys.modules.setdefault("run_trials", rt)  # dataclasses look their module up
_spec_.loader.exec_module(rt)


def _write_spec(tmp_path: Path) -> Path:
    spec = {"preset": "tiny", "steps": 10, "seeds": [0], "grid": {"model.n_units": [8, 12]}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_trials_run_here_are_taken_over_by_the_sweep(tmp_path):
    spec, out = _write_spec(tmp_path), tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--job", str(spec), str(out), "n_units=12"]
    subprocess.run([*cmd, "--workers", "1", "--device", "auto"], check=True, cwd=ROOT)
    rec = json.loads((out / "trials" / "model.n_units=12_seed=0" / "trial.json").read_text())
    assert rec["status"] == "ok" and rec["steps"] == 10 and "grid_fraction" in rec["metrics"]
    assert not (out / "trials" / "model.n_units=8_seed=0").exists()  # not chosen
    cfg = yaml.safe_load((out / "trials" / "model.n_units=12_seed=0" / "config.yaml").read_text())
    assert cfg["train"]["device"] == "auto"
    # --collect tabulates the trials as they stand and runs nothing
    assert main(["sweep", str(spec), "--out", str(out), "--collect"]) == 0
    status = {
        r.split(",")[0]: r.split(",")[3] for r in (out / "results.csv").read_text().split()[1:]
    }
    assert status == {"model.n_units=8_seed=0": "pending", "model.n_units=12_seed=0": "ok"}
    assert not (out / "trials" / "model.n_units=8_seed=0").exists()
    # the sweep of the same spec skips the finished trial and runs the other one
    assert [j.name for j in rt.pending([[str(spec), str(out)]])] == ["model.n_units=8_seed=0"]
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",ok," in r for r in rows[1:])


def test_a_trial_chosen_by_two_jobs_runs_once(tmp_path):
    spec, out = str(_write_spec(tmp_path)), str(tmp_path / "out")
    jobs = rt.pending([[spec, out, "n_units=12"], [spec, out]])
    assert [j.name for j in jobs] == ["model.n_units=12_seed=0", "model.n_units=8_seed=0"]
    assert all(j.steps == 10 for j in jobs)


class _Fake(rt.Job):
    def __init__(self, name, steps, done, started):
        super().__init__("s", "o", name, steps, None, started)
        self.done = done

    def steps_done(self):
        return self.done


def test_shedding_keeps_what_can_finish_in_priority_order():
    now = 1000.0
    # three trials, each 100 s in at 10 steps/s: the machine does 30 steps/s in all
    flight = [_Fake(n, 2000, 1000, now - 100) for n in "abc"]
    left = rt.EVAL_MARGIN_S + 90  # 2700 steps of budget: a and b (1000 left each) fit, c not
    assert [j.name for j in rt.shed(flight, now, left)] == ["c"]
    assert rt.shed(flight, now, rt.EVAL_MARGIN_S + 1000) == []  # all fit
    # the first trial is never stopped, even when nothing fits
    assert [j.name for j in rt.shed(flight, now, rt.EVAL_MARGIN_S)] == ["b", "c"]
    # a trial still warming up: no judgement yet
    young = [*flight[:2], _Fake("d", 2000, 0, now - 1)]
    assert rt.shed(young, now, left) == []


def test_steps_done_reads_the_last_logged_step(tmp_path):
    job = rt.Job("s", str(tmp_path), "t", 100)
    assert job.steps_done() == 0
    job.run.mkdir(parents=True)
    lines = [json.dumps({"step": s, "total": 1.0}) for s in (5, 10, 15)]
    (job.run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 2')  # a cut last line
    assert job.steps_done() == 15
