"""gridssl sweep and gridssl ablate: specs, trial names, resumability after SIGKILL, failures,
early stopping, the ablation table and its bootstrap CIs."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from gridssl.ablate import ABLATIONS, bootstrap_ci
from gridssl.cli import main
from gridssl.config import ConfigError
from gridssl.sweep import (
    asha_keep,
    load_spec,
    make_trials,
    parse_spec,
    result_columns,
    result_row,
    rungs,
    trial_config,
    write_table,
)

GRIDSSL = [sys.executable, "-m", "gridssl.cli"]


def _spec(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as fh:
        return list(csv.DictReader(fh))


def _steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- specs and names


def test_trials_are_the_cartesian_product_with_readable_unique_names():
    spec = parse_spec(
        {
            "preset": "tiny",
            "seeds": [0, 3],
            "grid": {"loss.w_cap": [0.5, 1.5], "data.mode": ["permutation", "identity"]},
        }
    )
    trials = make_trials(spec)
    assert len(trials) == 8
    names = [t.name for t in trials]
    assert len(set(names)) == 8
    assert "loss.w_cap=0.5_data.mode=identity_seed=3" in names
    assert all(os.sep not in n and " " not in n for n in names)
    t = next(t for t in trials if t.name == "loss.w_cap=1.5_data.mode=permutation_seed=0")
    assert t.seed == 0 and t.overrides == {"loss.w_cap": 1.5, "data.mode": "permutation"}
    assert [t.name for t in make_trials(spec)] == names  # deterministic


def test_trial_names_that_would_collide_are_refused():
    spec = parse_spec({"preset": "tiny", "seeds": [0], "grid": {"data.mode": ["a/b", "a b"]}})
    with pytest.raises(ConfigError, match="share the name"):
        make_trials(spec)


@pytest.mark.parametrize(
    "spec, needle",
    [
        ({"preset": "nope", "seeds": [0]}, "preset 'nope'"),
        ({"preset": "tiny", "seeds": [0], "colour": 1}, "unknown key 'colour'"),
        ({"preset": "tiny", "seeds": [-1]}, "seeds"),
        ({"preset": "tiny", "seeds": [0, 0]}, "seeds"),
        ({"preset": "tiny", "grid": {"loss.nope": [1]}}, "unknown config key 'loss.nope'"),
        ({"preset": "tiny", "grid": {"loss.w_cap": 0.5}}, "non-empty list"),
        ({"preset": "tiny", "set": {"train.seed": 3}}, "train.seed"),
        ({"preset": "tiny", "steps": 0}, "steps = 0"),
        ({"preset": "tiny", "early_stop": 1}, "early_stop = 1"),
        ([1, 2], "expected a mapping"),
        (
            {"preset": "tiny", "set": {"train.eval_every": 0}, "early_stop": 2},
            "train.eval_every = 0",
        ),
    ],
)
def test_bad_spec_refused_in_one_line_and_nothing_written(tmp_path, capsys, spec, needle):
    out = tmp_path / "sweep"
    assert main(["sweep", str(_spec(tmp_path, spec)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_missing_or_unreadable_spec_refused(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "bad.yaml").write_text("grid: [\n")
    assert main(["sweep", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "does not exist" in err[0] and "not valid YAML" in err[1]
    assert not (tmp_path / "o").exists()


def test_unreachable_cluster_refused_in_one_line_and_nothing_written(tmp_path, capsys):
    import socket

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0]})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no Ray cluster answers there" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_dry_run_lists_the_trials_and_writes_nothing(tmp_path, capsys):
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0, 1], "grid": {"loss.w_cap": [0.5, -1]}})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--dry-run"]) == 0
    err = capsys.readouterr().err
    for name in ("loss.w_cap=0.5_seed=0", "loss.w_cap=0.5_seed=1", "loss.w_cap=-1_seed=1"):
        assert name in err
    assert "will fail: loss.w_cap = -1.0" in err
    assert not out.exists()


def test_dry_run_says_which_trials_only_leaves_out(tmp_path, capsys):
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0, 1, 10]})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--dry-run", "--only", "seed=1"]) == 0
    lines = {ln.split()[0]: ln.split(maxsplit=1)[1] for ln in capsys.readouterr().err.splitlines()}
    # "seed=1" is a part of both seed=1 and seed=10: --only matches parts of names
    assert lines["seed=0"] == "not chosen"
    assert lines["seed=1"] == lines["seed=10"] == "new"
    assert not out.exists()


# ----------------------------------------------------------------------------- early stopping


def test_asha_keeps_the_top_fraction_once_enough_trials_reported():
    assert asha_keep([0.1], 0.1, eta=3)  # too few reports to judge
    assert asha_keep([0.1, 0.0], 0.0, eta=3)
    values = [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]  # top 1/3: 0.5 and 0.4
    assert [asha_keep(values, v, eta=3) for v in values] == [True, True] + [False] * 4
    assert asha_keep([0.2, 0.2, 0.2], 0.2, eta=3)  # ties with the cut-off go on
    assert rungs(20, 200, 3) == [20, 60, 180] and rungs(20, 20, 3) == []
    assert rungs(0, 200, 3) == []  # no in-training evaluation: no rung


def test_early_stop_flag_is_validated(tmp_path, capsys):
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0]})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--early-stop", "1"]) == 2
    assert "early_stop = 1" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------- bootstrap


def test_results_keep_the_long_walk_metrics_of_a_trial(tmp_path):
    spec = parse_spec({"preset": "tiny", "seeds": [0, 1]})
    done, pending = make_trials(spec)
    rec = {
        "status": "ok",
        "steps": 10,
        "metrics": {"grid_fraction": 0.5, "long_2_cm_grid_fraction": 0.25, "still_pv_last": 0.9},
    }
    rows = [result_row(done, rec), result_row(pending, None)]
    assert rows[0]["long_2_cm_grid_fraction"] == 0.25 and rows[0]["still_pv_last"] == 0.9
    write_table(tmp_path / "results.csv", result_columns(spec), rows)
    got = _rows(tmp_path)
    assert [r["long_2_cm_grid_fraction"] for r in got] == ["0.25", ""]
    assert [r["still_pv_last"] for r in got] == ["0.9", ""]
    assert json.loads((tmp_path / "results.json").read_text())[0]["still_pv_last"] == 0.9


def test_bootstrap_ci_known_cases():
    rng = np.random.default_rng(0)
    # two values: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_ci([0.0, 1.0], rng) == (0.5, 0.0, 1.0)
    assert bootstrap_ci([0.3, 0.3, 0.3], rng) == pytest.approx((0.3, 0.3, 0.3))
    assert bootstrap_ci([0.7, None, float("nan")], rng) == pytest.approx((0.7, 0.7, 0.7))
    assert all(np.isnan(bootstrap_ci([None], rng)))
    # a large normal sample: the percentile CI approaches mean +- 1.96 s / sqrt(n)
    x = np.random.default_rng(1).normal(2.0, 1.0, 400)
    mean, lo, hi = bootstrap_ci(x, np.random.default_rng(2))
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert mean == pytest.approx(x.mean())
    assert lo == pytest.approx(mean - half, abs=0.1 * half)
    assert hi == pytest.approx(mean + half, abs=0.1 * half)
    # a seeded generator gives the same interval
    assert bootstrap_ci(x, np.random.default_rng(2)) == (mean, lo, hi)


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan may wait to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_local_sweep_leaves_no_trial_training(tmp_path, sig):
    """A local sweep killed while its trial trains: the trial's process ends within seconds (it
    would otherwise train on unseen, orphaned) and keeps what it had for a rerun."""
    spec = _spec(tmp_path, {"preset": "tiny", "steps": 100000, "seeds": [0]})
    out = tmp_path / "sweep"
    cmd = [*GRIDSSL, "sweep", str(spec), "--out", str(out), "--executor", "local"]
    proc = subprocess.Popen([*cmd, "--workers", "1"], stderr=subprocess.DEVNULL)
    run = out / "trials" / "seed=0"
    worker = None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(run.glob("checkpoints/step_*")):
            time.sleep(0.1)
        worker = json.loads((run / ".lock").read_text())["pid"]
        assert worker != proc.pid and _alive(worker)
        os.kill(proc.pid, sig)
        proc.wait(30)
        deadline = time.time() + 15
        while time.time() < deadline and _alive(worker):
            time.sleep(0.1)
        assert not _alive(worker), "the trial trains on after its sweep was killed"
    finally:
        if proc.poll() is None:
            proc.kill()
        if worker is not None and _alive(worker):  # leave no orphan behind a failed check
            os.kill(worker, signal.SIGKILL)
    assert json.loads((run / "trial.json").read_text())["status"] == "running"  # not final
    assert list(run.glob("checkpoints/step_*"))


# ----------------------------------------------------------------------------- sweeps on Ray


def test_killed_sweep_resumes_each_trial_once_without_duplicated_steps(tmp_path):
    """2 seeds x 2 values on 2 workers, SIGKILLed once one trial is finished and another is
    part-way (it has a checkpoint), then rerun: every trial exactly once, complete and ok."""
    steps = 200
    spec = _spec(
        tmp_path,
        {"preset": "tiny", "steps": steps, "seeds": [0, 1], "grid": {"loss.w_cap": [0.5, 1.5]}},
    )
    out = tmp_path / "sweep"
    cmd = [*GRIDSSL, "sweep", str(spec), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline, partway = time.time() + 120, []
        while time.time() < deadline and proc.poll() is None:
            records = {}
            for run in (out / "trials").glob("*"):
                try:
                    records[run] = json.loads((run / "trial.json").read_text())["status"]
                except (OSError, ValueError):
                    pass
            partway = [
                r
                for r, s in records.items()
                if s == "running" and list(r.glob("checkpoints/step_*"))
            ]
            if "ok" in records.values() and partway:
                break
            time.sleep(0.02)
        assert proc.poll() is None and partway, "the sweep ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        try:  # Ray's node agents outlive a killed driver for a while: end the ones we started
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert len(_rows(out)) == 4  # results.csv is whole after the kill

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "already final" in rerun.stderr
    runs = sorted(p.name for p in (out / "trials").iterdir())
    assert runs == sorted(f"loss.w_cap={v}_seed={s}" for v in ("0.5", "1.5") for s in (0, 1))
    for name in runs:
        logged = _steps(out / "trials" / name)
        assert len(logged) == len(set(logged)) and logged == sorted(logged), name
        assert logged[-1] == steps
    rows = _rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert all(int(r["steps"]) == steps and r["grid_fraction"] != "" for r in rows)
    assert sorted(r["loss.w_cap"] for r in rows) == ["0.5", "0.5", "1.5", "1.5"]
    assert len(json.loads((out / "results.json").read_text())) == 4
    assert (out / "sweep.png").stat().st_size > 0 and (out / "report.html").exists()
    info = subprocess.run([*GRIDSSL, "info", str(out / "trials" / runs[0])], capture_output=True)
    assert info.returncode == 0
    # the same DIR with another spec is refused
    other = _spec(tmp_path, {"preset": "tiny", "seeds": [0]}, "other.yaml")
    r = subprocess.run([*GRIDSSL, "sweep", str(other), "--out", str(out)], capture_output=True)
    assert r.returncode == 2 and b"another spec" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_invalid_override_fails_its_trials_only_and_early_stopping_records_rungs(tmp_path, capsys):
    spec = _spec(
        tmp_path,
        {
            "preset": "tiny",
            "seeds": [0, 1],
            "grid": {"loss.sigma_g": [0.4, -1.0]},
            "early_stop": 2,
        },
    )
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "done 4/4" in err and "ETA" in err
    rows = {r["trial"]: r for r in _rows(out)}
    for seed in (0, 1):
        bad = rows[f"loss.sigma_g=-1_seed={seed}"]
        assert bad["status"] == "failed" and "loss.sigma_g = -1.0" in bad["error"]
    good = [rows[f"loss.sigma_g=0.4_seed={s}"] for s in (0, 1)]
    assert {r["status"] for r in good} <= {"ok", "stopped"} and "ok" in {r["status"] for r in good}
    recs = [json.loads((out / "trials" / r["trial"] / "trial.json").read_text()) for r in good]
    assert all(set(rec["rungs"]) == {"20"} for rec in recs)  # tiny: eval_every 20, 40 steps
    for rec, other in zip(recs, recs[::-1]):
        if rec["status"] == "stopped":  # ASHA with eta 2 stops only the worse of the two
            assert rec["steps"] == 20 and rec["rungs"]["20"] <= other["rungs"]["20"]
        else:
            assert rec["steps"] == 40


@pytest.mark.slow  # about 40 s alone on 2 cores, over a minute on a loaded machine
def test_ablate_tiny_writes_the_nine_conditions(tmp_path, capsys):
    out = tmp_path / "abl"
    args = ["ablate", "--preset", "tiny", "--seeds", "1", "--steps", "20", "--out", str(out)]
    assert main([*args, "--workers", "2"]) == 0
    with open(out / "ablations.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["condition"] for r in table] == list(ABLATIONS) and len(table) == 9
    for r in table:
        assert r["n_ok"] == "1" and r["grid_fraction_mean"] != ""
        # one seed: the interval has no width
        assert r["grid_fraction_ci_lo"] == r["grid_fraction_mean"] == r["grid_fraction_ci_hi"]
    rows = _rows(out)
    assert len(rows) == 9 and {r["status"] for r in rows} == {"ok"}
    assert all(int(r["steps"]) == 20 for r in rows)
    cfg = yaml.safe_load((out / "trials" / "small_sigma_g_seed=0" / "config.yaml").read_text())
    assert cfg["loss"]["sigma_g"] == 0.1 and cfg["train"]["threads"] == 1
    cfg = yaml.safe_load((out / "trials" / "identity_seed=0" / "config.yaml").read_text())
    assert cfg["data"]["mode"] == "identity"
    claims = json.loads((out / "ablation_claims.json").read_text())
    assert [v["condition"] for v in claims["verdicts"]] == list(ABLATIONS)
    assert claims["ablation"] == {"preset": "tiny", "seeds": 1, "steps": 20, "set": []}
    assert (out / "ablation_claims.md").read_text().count("\n") == 2 + len(ABLATIONS)
    assert (out / "ablations.png").stat().st_size > 0
    page = (out / "ablations.html").read_text()
    assert "data:image/png;base64," in page and "small_sigma_g" in page


def test_a_diverged_trial_is_recorded_as_diverged_and_not_rerun(tmp_path, monkeypatch):
    """run_trial in-process (no Ray): Trainer.fit raising Diverged gives status diverged with
    the step and term in the error; a second call returns the record without training."""
    from gridssl import sweep
    from gridssl.train import Diverged, Trainer

    spec = parse_spec({"preset": "tiny", "seeds": [0]})
    (trial,) = make_trials(spec)

    def boom(self, progress=True, until=None):
        raise Diverged(7, "loss")

    monkeypatch.setattr(Trainer, "fit", boom)
    rec = sweep.run_trial(spec.to_dict(), trial, str(tmp_path))
    assert rec["status"] == "diverged" and "step 7" in rec["error"] and "loss" in rec["error"]
    on_disk = json.loads((tmp_path / "trials" / trial.name / "trial.json").read_text())
    assert on_disk["status"] == "diverged"
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("a final trial was rerun"))
    assert sweep.run_trial(spec.to_dict(), trial, str(tmp_path))["status"] == "diverged"


# ----------------------------------------------------------------------------- executors


def _two_trials(tmp_path: Path) -> Path:
    spec = {"preset": "tiny", "steps": 10, "seeds": [0], "grid": {"model.n_units": [8, 12]}}
    return _spec(tmp_path, spec)


def _without_timing(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "train_s"} for r in _rows(out)]


def test_both_executors_write_the_same_results(tmp_path):
    """One spec, one trial runner, one results writer: a local process pool and Ray give the
    same table (training time aside) for the same two trials."""
    spec = _two_trials(tmp_path)
    local, ray = tmp_path / "local", tmp_path / "ray"
    assert main(["sweep", str(spec), "--out", str(local), "--executor", "local"]) == 0
    assert main(["sweep", str(spec), "--out", str(ray), "--workers", "2"]) == 0
    assert _without_timing(local) == _without_timing(ray)
    assert {r["status"] for r in _rows(local)} == {"ok"} and len(_rows(local)) == 2


def test_local_trials_are_taken_over_by_the_ray_sweep(tmp_path):
    """--only runs a chosen subset on the local pool (recording train.device); --collect
    tabulates without running; the Ray sweep of the same spec runs only what is left."""
    spec, out = _two_trials(tmp_path), tmp_path / "out"
    chosen, other = "model.n_units=12_seed=0", "model.n_units=8_seed=0"
    args = ["--executor", "local", "--only", "n_units=12", "--workers", "1", "--device", "auto"]
    assert main(["sweep", str(spec), "--out", str(out), *args]) == 0
    rec = json.loads((out / "trials" / chosen / "trial.json").read_text())
    assert rec["status"] == "ok" and rec["steps"] == 10 and "grid_fraction" in rec["metrics"]
    assert not (out / "trials" / other).exists()
    assert (
        yaml.safe_load((out / "trials" / chosen / "config.yaml").read_text())["train"]["device"]
        == "auto"
    )
    assert main(["sweep", str(spec), "--out", str(out), "--collect"]) == 0
    assert {r["trial"]: r["status"] for r in _rows(out)} == {other: "pending", chosen: "ok"}
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    assert {r["status"] for r in _rows(out)} == {"ok"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--executor", "local", "--address", "127.0.0.1:6379"], "needs --executor ray"),
        (["--executor", "local", "--early-stop", "2"], "needs --executor ray"),
        (["--deadline-s", "10"], "need --executor local"),
        (["--executor", "local", "--deadline-s", "-1"], "--deadline-s -1"),
    ],
)
def test_executor_options_refused_in_one_line(tmp_path, capsys, args, needle):
    spec = _spec(
        tmp_path, {"preset": "tiny", "steps": 10, "seeds": [0], "set": {"train.eval_every": 5}}
    )
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()


class _FakeFlight:
    def __init__(self, name, steps, done, started):
        self.trial, self.steps, self.done, self.started = name, steps, done, started

    def steps_done(self):
        return self.done


def test_shedding_keeps_what_can_finish_in_priority_order():
    from gridssl.sweep import EVAL_MARGIN_S, shed

    now = 1000.0
    # three trials, each 100 s in at 10 steps/s: the machine does 30 steps/s in all
    flight = [_FakeFlight(n, 2000, 1000, now - 100) for n in "abc"]
    left = EVAL_MARGIN_S + 90  # 2700 steps of budget: a and b (1000 left each) fit, c not
    assert [f.trial for f in shed(flight, now, left)] == ["c"]
    assert shed(flight, now, EVAL_MARGIN_S + 1000) == []  # all fit
    # the first trial is never stopped, even when nothing fits
    assert [f.trial for f in shed(flight, now, EVAL_MARGIN_S)] == ["b", "c"]
    # a trial still warming up: no judgement yet
    young = [*flight[:2], _FakeFlight("d", 2000, 0, now - 1)]
    assert shed(young, now, left) == []


def test_local_deadline_kills_running_trials_that_then_resume(tmp_path):
    """At the deadline the running trial is killed with its checkpoints kept; the rerun of the
    same command resumes it to the end. 4000 steps: about 40 s of training on the 2026-12-08
    machine (400 steps had ended before the deadline there), 15 s of deadline: the first
    checkpoint (step 20) is written within about 5 s of the start."""
    spec = _spec(
        tmp_path,
        {"preset": "tiny", "steps": 4000, "seeds": [0], "set": {"train.ckpt_every": 20}},
    )
    out = tmp_path / "out"
    run = out / "trials" / "seed=0"
    args = ["sweep", str(spec), "--out", str(out), "--executor", "local", "--workers", "1"]
    assert main([*args, "--deadline-s", "15"]) == 1
    assert _rows(out)[0]["status"] == "interrupted"
    assert json.loads((run / "trial.json").read_text())["status"] == "running"
    assert list(run.glob("checkpoints/step_*"))
    assert main(args) == 0
    logged = _steps(run)
    assert logged[-1] == 4000 and len(logged) == len(set(logged))
    assert _rows(out)[0]["status"] == "ok"


def test_steps_done_reads_the_last_logged_step(tmp_path):
    from gridssl.sweep import _Flight

    f = _Flight("t", None, None, 0.0, 100, tmp_path / "t")
    assert f.steps_done() == 0
    f.run.mkdir(parents=True)
    lines = [json.dumps({"step": s, "total": 1.0}) for s in (5, 10, 15)]
    (f.run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 2')  # a cut last line
    assert f.steps_done() == 15


def test_sweep_analysis_settings_reach_the_trials_measurement(tmp_path, monkeypatch):
    """``set: {analysis.shuffles: 3}`` is saved in the trial's config and is what the trial's
    final measurement uses (the one trial runner, in this process)."""
    from gridssl import pipeline
    from gridssl.sweep import make_trials, run_trial

    seen = []
    real = pipeline.population

    def spy(rollouts, cfg):
        seen.append((cfg.shuffles, cfg.arenas))
        return real(rollouts, cfg)

    monkeypatch.setattr(pipeline, "population", spy)
    spec = parse_spec(
        {
            "preset": "tiny",
            "steps": 10,
            "seeds": [0],
            "set": {"analysis.shuffles": 3, "analysis.arenas": [1.5, 3.0]},
        }
    )
    (trial,) = make_trials(spec)
    rec = run_trial(spec.to_dict(), trial, str(tmp_path))
    assert rec["status"] == "ok", rec.get("error")
    saved = yaml.safe_load((tmp_path / "trials" / trial.name / "config.yaml").read_text())
    assert saved["analysis"]["shuffles"] == 3
    assert seen and all(s == (3, (1.5, 3.0)) for s in seen)


def test_ablate_set_reaches_every_condition(tmp_path, capsys):
    """``gridssl ablate --set analysis.shuffles=3``: shared by every trial, validated like any
    key (an unknown key is refused in one line before anything is written)."""
    from gridssl.ablate import ablation_spec
    from gridssl.sweep import trial_config

    spec = ablation_spec("tiny", 2, 10, ["analysis.shuffles=3"])
    trials = make_trials(spec)
    assert len(trials) == 2 * len(ABLATIONS)
    assert {trial_config(spec, t).analysis.shuffles for t in trials} == {3}
    out = tmp_path / "ab"
    code = main(["ablate", "--preset", "tiny", "--seeds", "1", "--out", str(out), "--set", "x.y=1"])
    assert code == 2 and "unknown config key" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml")), ids=str
)
def test_every_committed_experiment_spec_loads_and_its_trials_validate(path):
    """The specs in experiments/ are what the queue and the docs run: a renamed or misspelled
    setting, or a value out of range, must fail here rather than hours into a background queue."""
    spec = load_spec(path)
    trials = make_trials(spec)
    assert trials
    for trial in trials:
        cfg = trial_config(spec, trial)
        assert cfg.train.seed == trial.seed
