"""Run trials of sweep specs on one machine without Ray: a pool of processes, optionally on a
GPU, with a wall-clock deadline.

Each trial is trained and evaluated by ``gridssl.sweep.run_trial`` (the code ``gridssl sweep`` runs
on Ray) into ``OUT/trials/<name>/``: config.yaml, metrics.jsonl, checkpoints, trial.json. A later
``gridssl sweep SPEC --out OUT`` therefore skips the finished trials, resumes interrupted ones from
their last checkpoint and writes the table and report. Use it where Ray is not installed (a lent GPU
machine) or to run a chosen subset of a sweep first.

    python experiments/run_trials.py --job experiments/modules_octave.yaml runs/modules-octave \
        [--job SPEC OUT [NAME-PART ...]] --workers 8 --device auto --deadline-s 500

A job's NAME-PARTs, if any, keep only the trials whose name contains one of them. Jobs run in the
order given, each job's trials in its spec's order.

``--device auto`` records ``train.device: auto`` in each trial's config.yaml: the trial trains on
the GPU where one is present and resumes on the CPU elsewhere. At the deadline the trials still
running are killed; each keeps its last checkpoint (``train.ckpt_every``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from gridssl.checkpoint import read_metrics
from gridssl.io import atomic_write_text
from gridssl.sweep import (
    FINAL,
    _check_out,
    load_spec,
    make_trials,
    read_record,
    run_trial,
    trial_config,
)

WARMUP_S = 90.0  # a trial's rate is judged after this long (start-up, first evaluation)
EVAL_MARGIN_S = 60.0  # left for a trial's final evaluation after its last step
SHED_EVERY_S = 30.0  # between two decisions to stop trials (the others speed up meanwhile)


def _with_device(trial, device: str):
    return replace(trial, overrides={**trial.overrides, "train.device": device})


def run_one(spec_path: str, out: str, name: str, device: str) -> int:
    spec = load_spec(spec_path)
    trial = next(t for t in make_trials(spec) if t.name == name)
    rec = run_trial(spec.to_dict(), _with_device(trial, device), out)
    metric = (rec.get("metrics") or {}).get("grid_fraction")
    print(
        f"{name}: {rec['status']} steps {rec.get('steps')} train_s {rec.get('train_s')}"
        + (f" grid {metric:.2f}" if metric is not None else "")
        + (f" {rec['error']}" if rec.get("error") else ""),
        flush=True,
    )
    return 0 if rec["status"] in FINAL else 1


@dataclass
class Job:
    """One trial to run: where, its total steps, and (once started) its process."""

    spec: str
    out: str
    name: str
    steps: int
    proc: subprocess.Popen | None = None
    started: float = 0.0

    @property
    def run(self) -> Path:
        return Path(self.out) / "trials" / self.name

    def steps_done(self) -> int:
        """The last step in the trial's metrics.jsonl (0 before the first log line)."""
        rows = read_metrics(self.run)
        return int(rows[-1]["step"]) if rows else 0


def pending(jobs: list[list[str]]) -> list[Job]:
    """Every chosen trial not final yet, in job then spec order (the order of priority); a
    trial two jobs choose runs once, at its first place."""
    todo, seen = [], set()
    for spec_path, out, *only in jobs:
        spec = load_spec(spec_path)
        out_dir = Path(out)
        _check_out(out_dir, spec)
        if not (out_dir / "sweep.yaml").exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                out_dir / "sweep.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False)
            )
        for t in make_trials(spec):
            if only and not any(s in t.name for s in only):
                continue
            if (out_dir.resolve(), t.name) in seen:
                continue
            seen.add((out_dir.resolve(), t.name))
            if (read_record(out_dir / "trials" / t.name) or {}).get("status") in FINAL:
                continue
            todo.append(Job(spec_path, out, t.name, trial_config(spec, t).train.steps))
    return todo


def shed(flight: list[Job], now: float, left: float) -> list[Job]:
    """The running trials that cannot finish in ``left`` seconds if the machine's throughput
    (the summed steps/s of the trials measured so far) is shared, highest priority first.

    Meant for a saturated machine (a shared GPU): there, stopping a trial speeds up the others,
    and a trial stopped at the deadline is lost where its checkpoints cannot be kept."""
    rates = {
        id(j): j.steps_done() / (now - j.started) for j in flight if now - j.started >= WARMUP_S
    }
    if len(rates) < len(flight) or not any(rates.values()):
        return []
    budget = sum(rates.values()) * max(0.0, left - EVAL_MARGIN_S)
    keep, lost = 0.0, []
    for j in flight:
        keep += j.steps - j.steps_done()
        if keep > budget and j is not flight[0]:
            lost.append(j)
    return lost


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", nargs="+", action="append", metavar="SPEC OUT [NAME-PART", default=[])
    ap.add_argument("--workers", type=int, default=2, help="trials at a time")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument(
        "--deadline-s", type=float, default=0.0, help="kill what runs after this (0: none)"
    )
    ap.add_argument(
        "--shed",
        action="store_true",
        help="with a deadline: stop the lowest-priority trials that cannot finish in time",
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if not a.job or any(len(j) < 2 for j in a.job) or a.workers < 1:
        ap.error("give at least one --job SPEC OUT [NAME-PART ...] and --workers >= 1")
    if a.one:
        return run_one(a.job[0][0], a.job[0][1], a.one, a.device)
    queue = pending(a.job)
    print(f"run_trials: {len(queue)} trials, {a.workers} at a time, device {a.device}", flush=True)
    t0, flight, last_shed, took = time.monotonic(), [], 0.0, []

    def log(msg: str) -> None:
        print(f"run_trials [{time.monotonic() - t0:.0f} s]: {msg}", flush=True)

    while queue or flight:
        left = a.deadline_s - (time.monotonic() - t0)
        # after a trial was stopped, start one only if the fastest so far could still finish
        while (
            queue and len(flight) < a.workers and (not last_shed or min(took, default=left) < left)
        ):
            j = queue.pop(0)
            cmd = [sys.executable, __file__, "--job", j.spec, j.out, "--one", j.name]
            j.proc, j.started = subprocess.Popen([*cmd, "--device", a.device]), time.monotonic()
            flight.append(j)
        took += [time.monotonic() - j.started for j in flight if j.proc.poll() == 0]
        flight = [j for j in flight if j.proc.poll() is None]
        now = time.monotonic()
        if a.deadline_s and now - t0 > a.deadline_s:
            log(f"deadline; killing {len(flight)}, {len(queue)} not started")
            for j in flight:
                j.proc.kill()
            return 1
        if a.deadline_s and a.shed and now - last_shed > SHED_EVERY_S:
            for j in shed(flight, now, left):
                log(f"stopping {j.name} at step {j.steps_done()}: it cannot finish in time")
                j.proc.kill()
                flight.remove(j)
                last_shed = now
        time.sleep(1.0)
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
