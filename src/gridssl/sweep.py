"""``gridssl sweep``: many training runs from one spec, on Ray; every trial is a run directory.

A spec (YAML) names a preset, seeds, shared overrides and a grid (a cartesian product)::

    preset: cpu            # any preset name
    steps: 8000            # optional (default: the preset's)
    seeds: [0, 1, 2]
    set: {train.eval_every: 1000}     # optional overrides shared by all trials
    grid: {loss.w_cap: [0.5, 1.5], model.n_units: [48, 96]}   # cartesian product
    conditions: {full: {}, no_cap: {loss.w_cap: 0}}   # optional named override sets (ablations)
    early_stop: 0          # optional: ASHA reduction factor eta (>= 2); 0 = off

``DIR`` (``--out``) then holds::

    sweep.yaml            the spec (a rerun with another spec is refused)
    trials/<name>/        an ordinary run directory (``gridssl info`` works) + trial.json + eval/
    results.csv, .json    one row per trial, rewritten atomically whenever a trial changes state
    sweep.png             each metric against each grid key, seeds as points
    report.html           a self-contained page: the results table and the figure

Engine: Ray core, not Ray Tune. A trial is already a complete, resumable unit: the Trainer writes
its own run directory, checkpoints and metrics, and resumes exactly from them. Ray core gives what
is missing (scheduling trials as tasks with ``num_cpus = train.threads``, on this machine or on a
cluster through ``ray.init(address=...)``) and nothing else. Tune would add a second layer of
experiment state (its own trial directories, checkpoint copies and restore logic) that has to agree
with the run directories, its result reporting would have to be threaded through ``Trainer.fit``,
and its searchers are not needed for a fixed grid. The one piece of Tune worth having, ASHA early
stopping, is a small rule (:func:`asha_keep`) kept in a Ray actor that every trial asks at its
rungs.

Resumability: ``trials/<name>/trial.json`` (written atomically) records a trial's status. A rerun of
the same command skips trials whose status is final (ok, failed, diverged, stopped), resumes trials
with a run directory from their last checkpoint (``Trainer.resume``, which also drops metrics logged
after that checkpoint) and starts the rest. Killing the sweep at any moment leaves only whole files:
every file that matters is written by rename. To retry a failed trial, delete its directory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import logging
import math
import os
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from . import rundir
from .config import ConfigError, load_config, preset_names
from .io import atomic_write_text

SPEC_KEYS = ("preset", "steps", "seeds", "set", "grid", "conditions", "early_stop")
FINAL = ("ok", "failed", "diverged", "stopped")  # a trial with one of these is not run again
# The unit-code stage's metrics (gridssl.analyze.code_metrics returns exactly these keys, in order);
# named here, where torch is not imported, so that the results table can list them.
CODE_METRICS = (
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
METRICS = (
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
    *CODE_METRICS,
)
# The long-walk stage's scalars (gridssl.pipeline.long_walks: per input, grid fraction and the
# population-vector correlation), kept in the results when a trial was measured with that stage.
LONG_WALK_PREFIXES = ("long_", "still_")
PLOTTED = ("grid_fraction", "place_fraction", "square_fraction", "n_modules", "invariance_ratio")
DEFAULT_THREADS = 1  # torch threads per trial unless the spec sets train.threads
_NAME_OK = re.compile(r"[^A-Za-z0-9._+-]")
MAX_TRIALS = 10_000  # trials in one spec: each is a run directory and a Ray task


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. ``conditions`` maps a name to its overrides (empty: no axis)."""

    preset: str
    seeds: tuple[int, ...]
    steps: int | None = None
    set: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    early_stop: int = 0

    def to_dict(self) -> dict:
        return {
            "preset": self.preset,
            "steps": self.steps,
            "seeds": list(self.seeds),
            "set": dict(self.set),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "conditions": {k: dict(v) for k, v in self.conditions.items()},
            "early_stop": self.early_stop,
        }

    @property
    def columns(self) -> list[str]:
        """The columns that tell trials apart besides the seed."""
        return (["condition"] if self.conditions else []) + list(self.grid)


@dataclass(frozen=True)
class Trial:
    name: str
    seed: int
    values: dict[str, Any]  # column -> value (condition name, grid values)
    overrides: dict[str, Any]  # config key -> value: set < condition < grid


def _known_keys() -> set[str]:
    from .config import Config

    return {f"{s}.{k}" for s, values in Config().to_dict().items() for k in values}


def _check_overrides(what: str, overrides: Any, known: set[str]) -> dict[str, Any]:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"sweep spec: {what} must be a mapping of KEY: VALUE")
    for key in overrides:
        if key not in known:
            raise ConfigError(f"sweep spec: {what} has unknown config key {key!r}")
        if key == "train.seed":
            raise ConfigError(f"sweep spec: {what} sets train.seed: list seeds under 'seeds'")
    return dict(overrides)


def parse_spec(raw: Any, origin: str = "sweep spec") -> SweepSpec:
    """Validate a spec mapping (see the module docstring); a bad one raises one-line ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping with keys {list(SPEC_KEYS)}")
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{origin}: unknown key {unknown[0]!r}: allowed {list(SPEC_KEYS)}")
    preset = raw.get("preset")
    if preset not in preset_names():
        raise ConfigError(f"{origin}: preset {preset!r} is not allowed: one of {preset_names()}")
    seeds = raw.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"{origin}: seeds = {seeds!r} is not allowed: distinct integers >= 0")
    steps = raw.get("steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"{origin}: steps = {steps!r} is not allowed: an integer >= 1")
    known = _known_keys()
    shared = _check_overrides("set", raw.get("set"), known)
    grid = _check_overrides("grid", raw.get("grid"), known)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: grid {key!r} must be a non-empty list of values")
    conditions = raw.get("conditions") or {}
    if not isinstance(conditions, dict):
        raise ConfigError(f"{origin}: conditions must be a mapping of NAME: {{KEY: VALUE}}")
    for name in conditions:
        if not isinstance(name, str) or _NAME_OK.search(name) or not name:
            raise ConfigError(f"{origin}: condition name {name!r}: use letters, digits, _ . + -")
    conditions = {n: _check_overrides(f"condition {n!r}", o, known) for n, o in conditions.items()}
    if steps is not None and any("train.steps" in d for d in (shared, grid, *conditions.values())):
        raise ConfigError(f"{origin}: train.steps is set twice: give 'steps' or train.steps")
    early = raw.get("early_stop", 0) or 0
    if isinstance(early, bool) or not isinstance(early, int) or early == 1 or early < 0:
        raise ConfigError(
            f"{origin}: early_stop = {early!r} is not allowed: 0 (off) or an integer eta >= 2"
        )
    return SweepSpec(preset, tuple(seeds), steps, shared, grid, conditions, early)


def load_spec(path: str | Path) -> SweepSpec:
    """The spec of a YAML file (aliases and duplicate keys refused), or a one-line ConfigError."""
    raw = rundir.read_yaml(Path(path), "sweep spec")
    if raw is None:
        raise ConfigError(f"sweep spec {str(path)!r} is empty: expected a mapping")
    return parse_spec(raw, f"sweep spec {str(path)!r}")


def _label(value: Any) -> str:
    text = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
    return _NAME_OK.sub("-", f"{text:g}" if isinstance(text, float) else str(text))


def make_trials(spec: SweepSpec) -> list[Trial]:
    """Every (condition, grid point, seed), named deterministically and filesystem-safely, e.g.
    ``loss.w_cap=0.5_model.n_units=48_seed=0`` or ``no_cap_seed=1``."""
    conditions = spec.conditions or {"": {}}
    keys = list(spec.grid)
    sizes = [len(conditions), *(len(v) for v in spec.grid.values()), len(spec.seeds)]
    if math.prod(sizes) > MAX_TRIALS:  # counted before anything is built
        raise ConfigError(
            f"sweep spec: {' x '.join(map(str, sizes))} = {math.prod(sizes):,} trials, more than "
            f"the {MAX_TRIALS:,} one sweep takes: split it into smaller sweeps"
        )
    trials: list[Trial] = []
    for cond, point in itertools.product(conditions, itertools.product(*spec.grid.values())):
        for seed in spec.seeds:
            values = ({"condition": cond} if spec.conditions else {}) | dict(zip(keys, point))
            parts = ([cond] if cond else []) + [f"{k}={_label(v)}" for k, v in zip(keys, point)]
            name = "_".join([*parts, f"seed={seed}"])
            if len(name.encode("utf-8")) > rundir.NAME_MAX:
                raise ConfigError(
                    f"sweep spec: the trial name {name[:60]!r}... is {len(name.encode())} bytes, "
                    f"beyond the file system's {rundir.NAME_MAX}: use shorter condition names or "
                    "grid values"
                )
            overrides = {**spec.set, **conditions[cond], **dict(zip(keys, point))}
            trials.append(Trial(name, seed, values, overrides))
    names = [t.name for t in trials]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"sweep spec: two trials would share the name {twice!r}")
    return trials


def _as_override(key: str, value: Any) -> str:
    """``key=value`` as ``--set`` takes it: booleans lower-case, lists as ``a,b,c``."""
    if isinstance(value, (list, tuple)):
        return f"{key}={','.join(str(v) for v in value)}"
    return f"{key}={str(value).lower() if isinstance(value, bool) else value}"


def trial_config(spec: SweepSpec, trial: Trial):
    """The trial's validated Config (raises ConfigError for a bad override value)."""
    overrides = {"train.threads": DEFAULT_THREADS, **trial.overrides}
    return load_config(
        spec.preset,
        overrides=[_as_override(k, v) for k, v in overrides.items()],
        train__steps=spec.steps,
        train__seed=trial.seed,
    )


def trial_threads(trial: Trial) -> int:
    """CPUs a trial occupies (its torch threads; train.threads = 0 means all of them)."""
    try:
        threads = int(trial.overrides.get("train.threads", DEFAULT_THREADS))
    except (TypeError, ValueError):
        return DEFAULT_THREADS  # the trial fails at config validation anyway
    return threads if threads > 0 else (os.cpu_count() or 1)


# ----------------------------------------------------------------------------- one trial


def read_record(run: Path) -> dict | None:
    """A trial's trial.json (None if absent), or a one-line ConfigError for a damaged one (cut
    short, not JSON, not an object, a folder), which says how to recover."""
    path = Path(run) / rundir.TRIAL
    try:
        return rundir.read_json(path, "trial record")
    except ConfigError as err:
        raise ConfigError(
            f"{err}: delete it to resume the trial from its checkpoints, or delete {run} to "
            "rerun the trial"
        ) from None


def _write_record(run: Path, record: dict) -> dict:
    atomic_write_text(Path(run) / rundir.TRIAL, json.dumps(record, indent=2, default=_plain))
    return record


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _evaluate_trial(run: Path) -> dict:
    """The trial's metrics from the one evaluation pipeline (``gridssl.analyze.trial_metrics``
    with the default ``AnalysisConfig``: the primary 2 m arena, its time-shift null, no topology):
    grid_fraction, place_fraction, square_fraction, n_modules, module_periods_m,
    median_grid_score, invariance_ratio."""
    from .analyze import trial_metrics  # the pipeline loads torch: only in the trial's worker

    return trial_metrics(run)


def asha_keep(values: list[float], value: float, eta: int) -> bool:
    """Asynchronous successive halving: go on past a rung when ``value`` is among the top
    ``1/eta`` of the ``values`` reported at that rung so far (``value`` included). With fewer
    than ``eta`` reports nothing is judged yet, and ties with the cut-off go on."""
    if len(values) < eta:
        return True
    cutoff = sorted(values, reverse=True)[max(1, len(values) // eta) - 1]
    return value >= cutoff


class RungBoard:
    """The in-training grid fractions every trial reported at each rung (a Ray actor)."""

    def __init__(self, eta: int, seen: dict[int, dict[str, float]]):
        self.eta, self.seen = eta, {int(k): dict(v) for k, v in seen.items()}

    def report(self, rung: int, trial: str, value: float) -> bool:
        at = self.seen.setdefault(int(rung), {})
        at[trial] = value
        return asha_keep(list(at.values()), value, self.eta)


def rungs(eval_every: int, steps: int, eta: int) -> list[int]:
    """ASHA rungs: eval_every * eta^k below ``steps`` (each one an in-training evaluation)."""
    out, r = [], eval_every
    while 0 < r < steps:
        out.append(r)
        r *= eta
    return out


def run_trial(spec_dict: dict, trial: Trial, root: str, board=None) -> dict:
    """Train (create or resume) and evaluate one trial; return its final record (never raises)."""
    from .checkpoint import read_metrics
    from .train import Diverged, Trainer

    spec = parse_spec(spec_dict)
    run = Path(root) / rundir.TRIALS / trial.name
    try:
        held = rundir.lock(run, f"trial {trial.name!r}", f"gridssl sweep (trial {trial.name})")
    except rundir.Locked as err:  # e.g. a worker of a killed sweep still trains it: not final,
        return {  # nothing written; a later rerun tries it again
            "trial": trial.name,
            "seed": trial.seed,
            "values": trial.values,
            "status": "busy",
            "error": str(err),
        }
    with held:
        return _run_trial(spec, trial, run, board, read_metrics, Diverged, Trainer)


def _run_trial(spec, trial, run, board, read_metrics, Diverged, Trainer) -> dict:
    """run_trial with the trial's directory locked."""
    prev = read_record(run) or {}
    if prev.get("status") in FINAL:
        return prev
    rec = {
        "trial": trial.name,
        "seed": trial.seed,
        "values": trial.values,
        "status": "running",
        "steps": 0,
        "train_s": prev.get("train_s", 0.0),
        "metrics": {},
        "error": "",
        "rungs": prev.get("rungs", {}),
    }
    try:
        cfg = trial_config(spec, trial)
    except ConfigError as err:
        return _write_record(run, {**rec, "status": "failed", "error": str(err)})
    trainer = None
    try:
        if (run / rundir.CONFIG).exists():  # no checkpoint yet: the trial starts at step 0
            trainer = Trainer.resume(run, restart_if_none=True)
        else:
            trainer = Trainer.create(cfg, run, f"gridssl sweep (trial {trial.name})")
        _write_record(run, {**rec, "steps": trainer.step})
        status = "ok"
        if board is not None:
            import ray

            for rung in rungs(cfg.train.eval_every, cfg.train.steps, spec.early_stop):
                if trainer.step < rung:
                    trainer.fit(progress=False, until=rung)
                if trainer.ended():
                    break  # train.settle_window ended it before this rung: no rung to judge
                if str(rung) in rec["rungs"]:
                    continue  # judged before an interruption: it went on
                row = next(m for m in read_metrics(run) if m["step"] == rung)
                rec["rungs"][str(rung)] = row["eval_grid_fraction"]
                _write_record(run, {**rec, "steps": trainer.step})
                if not ray.get(board.report.remote(rung, trial.name, row["eval_grid_fraction"])):
                    status = "stopped"
                    break
        if status == "ok":
            trainer.fit(progress=False)
        # the trainer's own count survives interruptions (it is in every checkpoint)
        rec |= {"steps": trainer.step, "train_s": max(trainer.train_s, rec["train_s"])}
        rec["metrics"] = _evaluate_trial(run)
        rec["status"] = status
    except Diverged as err:
        rec |= {"status": "diverged", "error": str(err)}
    except Exception as err:  # a trial's failure is recorded; the sweep goes on
        line = str(err).splitlines()[0] if str(err) else ""
        rec |= {"status": "failed", "error": f"{type(err).__name__}: {line}"}
        rec["traceback"] = traceback.format_exc()
    finally:
        if trainer is not None:
            trainer.close()
    rec["train_s"] = round(rec["train_s"], 2)
    return _write_record(run, rec)


# ----------------------------------------------------------------------------- results


def result_columns(spec: SweepSpec) -> list[str]:
    return ["trial", "seed", *spec.columns, "status", "steps", "train_s", *METRICS, "error"]


def result_row(trial: Trial, record: dict | None, status: str | None = None) -> dict:
    rec = record or {}
    metrics = rec.get("metrics") or {}
    return {
        "trial": trial.name,
        "seed": trial.seed,
        **trial.values,
        "status": status or rec.get("status", "pending"),
        "steps": rec.get("steps"),
        "train_s": rec.get("train_s"),
        **{m: metrics.get(m) for m in METRICS},
        **{k: v for k, v in metrics.items() if k.startswith(LONG_WALK_PREFIXES)},
        "error": rec.get("error", ""),
    }


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def write_table(path: Path, columns: list[str], rows: list[dict]) -> None:
    """``path`` (.csv) and the same rows as JSON beside it, both atomically. Keys of the rows
    beyond ``columns`` (the long-walk metrics, where measured) follow as further columns."""
    columns = list(columns)
    columns += [k for k in dict.fromkeys(k for r in rows for k in r) if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({c: _csv_cell(row.get(c)) for c in columns})
    atomic_write_text(path, buf.getvalue())
    atomic_write_text(path.with_suffix(".json"), json.dumps(rows, indent=2, default=_plain))


# ----------------------------------------------------------------------------- the driver


def _fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


def _check_out(out: Path, spec: SweepSpec) -> None:
    if out.is_symlink() and not out.exists():
        raise ConfigError(f"--out {str(out)!r} is a symbolic link that leads nowhere")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a sweep directory")
    saved = out / rundir.SPEC
    if saved.exists() or saved.is_symlink():
        try:
            raw = rundir.read_yaml(saved, "sweep file")
        except ConfigError as err:
            raise ConfigError(
                f"--out {str(out)!r}: {err}: restore it (the spec this sweep ran with), or "
                "choose a new --out"
            ) from None
        if raw != spec.to_dict():
            raise ConfigError(
                f"--out {str(out)!r} holds a sweep of another spec ({saved}): rerun with that "
                "spec, or choose a new --out"
            )
    elif out.exists() and any(p.name != rundir.LOCK for p in out.iterdir()):
        raise ConfigError(f"--out {str(out)!r} already holds files that are not a sweep")


def _reachable(address: str, timeout_s: float = 5.0) -> bool:
    """Whether something listens at HOST:PORT (other address forms are left to Ray)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return True
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
        return True
    except OSError:
        return False


_ADDRESS = re.compile(r"(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def _check_address(address: str) -> None:
    """A one-line ConfigError unless ``address`` is ``auto`` or [ray://]HOST:PORT (PORT 1-65535)."""
    m = _ADDRESS.fullmatch(address)
    if address != "auto" and not (m and 1 <= int(m.group(3)) <= 65535):
        raise ConfigError(
            f"--address {address!r} is not allowed: expected HOST:PORT (e.g. 10.0.0.1:6379, PORT "
            "1-65535), ray://HOST:PORT or auto"
        )


def _start_ray(address: str | None, workers: int | None, threads: int) -> int:
    """Connect to ``address`` or start a local Ray with ``workers`` trials' worth of CPUs;
    return the number of trials to keep in flight. Nothing is written before this succeeds."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # Ray's C++ logs: errors only
    import ray

    quiet = dict(log_to_driver=False, logging_level=logging.ERROR)
    if address:
        _check_address(address)
        if not _reachable(address):
            raise ConfigError(f"--address {address!r}: no Ray cluster answers there")
        try:
            ray.init(address=address, **quiet)
        except Exception as err:  # Ray raises many kinds for an address it cannot use
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"--address {address!r}: {msg}") from None
        cluster = int(ray.cluster_resources().get("CPU", 1))
        return workers or max(1, cluster // threads)
    workers = workers or max(1, (os.cpu_count() or 1) // threads)
    # "local": a new Ray of our own, never a cluster someone else started on this machine
    ray.init(address="local", num_cpus=workers * threads, include_dashboard=False, **quiet)
    return workers


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    workers: int | None = None,
    address: str | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
    collect: bool = False,
    executor: Executor | None = None,
) -> list[dict]:
    """Run (or resume) every trial of ``spec`` into ``out``; return the result rows. With
    ``collect``, run nothing: write the table and report of the trials as they stand (those run
    elsewhere included). ``executor``: where trials run (default: Ray, :class:`Executor`)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    ex = executor or Executor()
    out = rundir.check_name(out, "--out")
    trials = make_trials(spec)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers} is not allowed: an integer >= 1")
    ex.check(address, spec)
    if address:
        _check_address(address)
    _check_out(out, spec)
    _check_early_stop(spec, trials)
    if dry_run:
        return _dry_run(spec, out, trials, log, ex)
    made = not out.exists()
    # one sweep process per OUT: a second one on the same OUT is refused in one line
    try:
        with rundir.lock(out, f"--out {str(out)!r}", "gridssl sweep"):
            _check_out(out, spec)  # again, now that no one else writes it
            return _sweep_locked(spec, out, trials, workers, address, log, collect, ex)
    finally:
        if made:  # a refusal before anything was written leaves no folder either
            try:
                out.rmdir()
            except OSError:
                pass  # it holds what the sweep wrote


def _check_early_stop(spec: SweepSpec, trials: list[Trial]) -> None:
    if not spec.early_stop:
        return
    for t in trials:
        try:
            every = trial_config(spec, t).train.eval_every
        except ConfigError:
            continue  # the trial fails on its own
        if every == 0:
            raise ConfigError(
                f"early stopping needs the in-training evaluation: trial {t.name} has "
                "train.eval_every = 0 (set it under 'set')"
            )


def _dry_run(spec: SweepSpec, out: Path, trials: list[Trial], log, ex: Executor) -> list[dict]:
    """List every trial with what a run would do to it: its final status, resume, new, or
    "not chosen" (outside ``--only``)."""
    records = {t.name: read_record(out / rundir.TRIALS / t.name) for t in trials}
    for t in trials:
        rec = records[t.name] or {}
        if rec.get("status") in FINAL:
            state = rec["status"]
        elif not ex.chooses(t):
            state = "not chosen"
        else:
            state = "resume" if (out / rundir.TRIALS / t.name / rundir.CONFIG).exists() else "new"
        try:
            trial_config(spec, t)
            note = ""
        except ConfigError as err:
            note = f"  (will fail: {err})"
        log(f"{t.name:<50} {state}{note}")
    log(f"{len(trials)} trials; nothing written (--dry-run)")
    return [result_row(t, records[t.name]) for t in trials]


def _sweep_locked(spec, out, trials, workers, address, log, collect, ex) -> list[dict]:
    """run_sweep with OUT locked."""
    records = {t.name: read_record(out / rundir.TRIALS / t.name) for t in trials}
    t_start = time.perf_counter()
    todo = (
        []
        if collect
        else [
            ex.with_device(t)
            for t in trials
            if (records[t.name] or {}).get("status") not in FINAL and ex.chooses(t)
        ]
    )
    on_ray = ex.kind == "ray" and bool(todo)
    threads = max((trial_threads(t) for t in todo), default=1)
    slots = _start_ray(address, workers, threads) if on_ray else ex.slots(workers, threads)
    try:
        atomic_write_text(out / rundir.SPEC, yaml.safe_dump(spec.to_dict(), sort_keys=False))
        rows = {t.name: result_row(t, records[t.name]) for t in trials}
        columns = result_columns(spec)

        def save():
            write_table(out / rundir.RESULTS, columns, list(rows.values()))

        for t in todo:
            rows[t.name]["status"] = "pending"
        save()
        if on_ray:
            _run_on_ray(spec, out, todo, rows, save, slots, address, log)
        elif todo:
            _run_local(spec, out, todo, rows, save, slots, log, ex)
    finally:
        if on_ray:
            import ray

            ray.shutdown()
    wall = time.perf_counter() - t_start
    result = list(rows.values())
    from .report.sweep import write_sweep_report  # matplotlib: only once a page is written

    report = write_sweep_report(out, spec, result, wall)
    counts = {s: sum(r["status"] == s for r in result) for s in FINAL}
    log(
        f"sweep: {len(result)} trials ("
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f") in {_fmt_s(wall)}; {out / rundir.RESULTS}, {report}"
    )
    return result


@dataclass(frozen=True)
class Executor:
    """Where a sweep's trials run, and which.

    ``kind``: ``"ray"`` (a local Ray or a cluster, ``--address``; ASHA early stopping) or
    ``"local"`` (a plain pool of processes on this machine, no Ray needed: a lent GPU machine).
    Both run the same trial runner (:func:`run_trial`) into the same run directories and write
    the same table. The local pool adds a wall-clock ``deadline_s`` (0: none) at which running
    trials are killed (each keeps its last checkpoint and resumes on a rerun) and, with
    ``shed``, stops the lowest-priority trials that cannot finish by then (:func:`shed`).
    ``device``: records ``train.device`` in each trial's config (``auto``: the GPU where there
    is one, the CPU on resuming elsewhere). ``only``: run only the trials whose name contains
    one of these parts (the others are left as they are); trials run in the spec's order.
    """

    kind: str = "ray"
    deadline_s: float = 0.0
    shed: bool = False
    device: str | None = None
    only: tuple[str, ...] = ()

    def check(self, address: str | None, spec: SweepSpec) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"--executor {self.kind!r} is not allowed: choose one of {EXECUTORS}")
        if self.kind == "local" and (address or spec.early_stop):
            what = "--address" if address else "early stopping"
            raise ConfigError(f"{what} needs --executor ray (the local pool has no Ray)")
        if self.kind == "ray" and (self.deadline_s or self.shed):
            raise ConfigError("--deadline-s and --shed need --executor local")
        if not (self.deadline_s >= 0 and math.isfinite(self.deadline_s)):
            raise ConfigError(f"--deadline-s {self.deadline_s} is not allowed: 0 (none) or more")
        if self.device not in (None, "cpu", "cuda", "auto"):
            raise ConfigError(f"--device {self.device!r}: choose one of cpu, cuda, auto")

    def chooses(self, t: Trial) -> bool:
        return self.chooses_name(t.name)

    def chooses_name(self, name: str) -> bool:
        return not self.only or any(part in name for part in self.only)

    def with_device(self, t: Trial) -> Trial:
        if self.device is None:
            return t
        return dataclasses.replace(t, overrides={**t.overrides, "train.device": self.device})

    def slots(self, workers: int | None, threads: int) -> int:
        return workers or max(1, (os.cpu_count() or 1) // threads)


EXECUTORS = ("ray", "local")
LOCAL_POLL_S = 1.0  # the local pool looks at its trials this often
ORPHAN_POLL_S = 1.0  # how often a local trial checks that its sweep still runs
EXIT_ORPHANED = 75  # a local trial's exit code when its sweep has gone
WARMUP_S = 90.0  # a trial's rate is judged after this long (start-up, first evaluation)
EVAL_MARGIN_S = 60.0  # left for a trial's final evaluation after its last step
SHED_EVERY_S = 30.0  # between two decisions to stop trials (the others speed up meanwhile)


@dataclass
class _Flight:
    """A trial running in the local pool: its process, the pipe its record comes back by."""

    trial: Trial
    proc: Any
    conn: Any
    started: float
    steps: int
    run: Path

    def steps_done(self) -> int:
        from .checkpoint import read_metrics

        rows = read_metrics(self.run)
        return int(rows[-1]["step"]) if rows else 0


def _local_trial(conn, spec_dict: dict, trial: Trial, root: str) -> None:
    """A local pool's process: run the trial, send its record back. It ends with its sweep: a
    sweep killed (any signal) leaves no trial training on unseen; the trial keeps its last
    checkpoint and resumes on a rerun, as one stopped by :func:`_stop`."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:  # an orphan is re-parented (to init or a subreaper)
            time.sleep(ORPHAN_POLL_S)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, daemon=True).start()
    conn.send(run_trial(spec_dict, trial, root))
    conn.close()


def shed(flight: list[_Flight], now: float, left: float) -> list[_Flight]:
    """The running trials that cannot finish in ``left`` seconds if the machine's throughput
    (the summed steps/s of the trials measured so far) is shared, highest priority first.

    Meant for a saturated machine (a shared GPU): there, stopping a trial speeds up the others,
    and a trial stopped at the deadline is lost where its checkpoints cannot be kept."""
    rates = {
        id(f): f.steps_done() / (now - f.started) for f in flight if now - f.started >= WARMUP_S
    }
    if len(rates) < len(flight) or not any(rates.values()):
        return []
    budget = sum(rates.values()) * max(0.0, left - EVAL_MARGIN_S)
    keep, lost = 0.0, []
    for f in flight:
        keep += f.steps - f.steps_done()
        if keep > budget and f is not flight[0]:
            lost.append(f)
    return lost


def _run_local(spec, out, todo, rows, save, slots, log, ex: Executor) -> None:
    """Keep ``slots`` trials in flight as processes of this machine until every trial in
    ``todo`` ended, or the deadline."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # a fresh interpreter per trial: no state shared with us
    queue, flight, took = list(todo), [], []
    t0, last_shed = time.monotonic(), 0.0
    progress = _Progress(rows, len(todo), slots, log, " (local processes)")
    while queue or flight:
        left = ex.deadline_s - (time.monotonic() - t0) if ex.deadline_s else math.inf
        # after a trial was stopped, start one only if the fastest so far could still finish
        while queue and len(flight) < slots and (not last_shed or min(took, default=left) < left):
            t = queue.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_local_trial, args=(send, spec.to_dict(), t, str(out.resolve()))
            )
            proc.start()
            send.close()
            steps = trial_config(spec, t).train.steps
            flight.append(
                _Flight(t, proc, recv, time.monotonic(), steps, out / rundir.TRIALS / t.name)
            )
            rows[t.name]["status"] = "running"
            save()
        for f in [f for f in flight if not f.proc.is_alive() or f.conn.poll()]:
            rec = f.conn.recv() if f.conn.poll() else None
            f.proc.join()
            flight.remove(f)
            if rec is None:
                rec = _died(out, f.trial, f"the trial's process ended ({f.proc.exitcode})")
            took.append(time.monotonic() - f.started)
            rows[f.trial.name] = result_row(f.trial, rec)
            save()
            progress.ended(f.trial, rec, took[-1], rows, len(queue) + len(flight), len(flight))
        now = time.monotonic()
        if ex.deadline_s and now - t0 > ex.deadline_s:
            log(f"sweep: deadline; killing {len(flight)}, {len(queue)} not started")
            for f in flight:
                _stop(f, rows)
            save()
            return
        if ex.deadline_s and ex.shed and now - last_shed > SHED_EVERY_S:
            for f in shed(flight, now, left):
                log(f"sweep: stopping {f.trial.name} at step {f.steps_done()}: too late to finish")
                _stop(f, rows)
                flight.remove(f)
                last_shed = now
            save()
        time.sleep(LOCAL_POLL_S)


def _stop(f: _Flight, rows: dict) -> None:
    """Kill a local trial: it keeps its last checkpoint and resumes on a rerun."""
    f.proc.kill()
    f.proc.join()
    rows[f.trial.name]["status"] = "interrupted"


def _run_on_ray(spec, out, todo, rows, save, slots, address, log) -> None:
    """Keep ``slots`` trials in flight on the running Ray until every trial in ``todo`` ended."""
    import ray

    task = ray.remote(run_trial)
    board = None
    if spec.early_stop:
        seen: dict[int, dict[str, float]] = {}
        for t in make_trials(spec):
            for r, v in (
                (read_record(out / rundir.TRIALS / t.name) or {}).get("rungs") or {}
            ).items():
                seen.setdefault(int(r), {})[t.name] = v
        board = ray.remote(RungBoard).remote(spec.early_stop, seen)
    queue, flight = list(todo), {}

    def fill() -> None:
        while queue and len(flight) < slots:
            t = queue.pop(0)
            ref = task.options(num_cpus=trial_threads(t)).remote(
                spec.to_dict(), t, str(out.resolve()), board
            )
            flight[ref] = (t, time.perf_counter())
            rows[t.name]["status"] = "running"
        save()

    fill()
    progress = _Progress(rows, len(todo), slots, log, f" on {address}" if address else "")
    while flight:
        done, _ = ray.wait(list(flight), num_returns=1)
        t, started = flight.pop(done[0])
        try:
            rec = ray.get(done[0])
        except Exception as err:  # the worker died (out of memory, killed)
            line = str(err).strip().splitlines()[-1] if str(err).strip() else ""
            rec = _died(out, t, f"{type(err).__name__}: {line}")
        rows[t.name] = result_row(t, rec)
        fill()
        took_s = time.perf_counter() - started
        progress.ended(t, rec, took_s, rows, len(queue) + len(flight), len(flight))


def _died(out: Path, t: Trial, error: str) -> dict:
    """Record a trial whose worker died without a record of its own (killed, out of memory)."""
    rec = {"trial": t.name, "seed": t.seed, "values": t.values, "status": "failed", "error": error}
    return _write_record(out / rundir.TRIALS / t.name, rec)


class _Progress:
    """One log line per ended trial: its status and metric, the counts and an ETA."""

    def __init__(self, rows: dict, total: int, slots: int, log, where: str = ""):
        self.total, self.slots, self.log = total, slots, log
        self.finished, self.durations = 0, []
        final = sum(r["status"] in FINAL for r in rows.values())
        others = len(rows) - total - final
        log(
            f"sweep: {total} trials to run ({final} already final"
            + (f", {others} not chosen" if others else "")
            + f"), {slots} at a time{where}"
        )

    def ended(self, t: Trial, rec: dict, took_s: float, rows: dict, left: int, running: int):
        self.durations.append(took_s)
        self.finished += 1
        states = [r["status"] for r in rows.values()]
        eta = np.mean(self.durations) * math.ceil(left / self.slots) if left else 0.0
        metric = (rec.get("metrics") or {}).get("grid_fraction")
        self.log(
            f"sweep: {t.name} {rec['status']}"
            + (f" (grid fraction {metric:.2f})" if metric is not None else "")
            + (f" {rec.get('error')}" if rec.get("error") else "")
            + f" | done {self.finished}/{self.total}, running {running}, "
            f"failed {sum(s in ('failed', 'diverged') for s in states)}, ETA {_fmt_s(eta)}"
        )
