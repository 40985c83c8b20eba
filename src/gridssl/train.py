"""Training: batch -> rollout -> losses -> step -> log -> checkpoint, resumable without loss.

A run directory holds::

    config.yaml      the resolved, validated config
    meta.json        seeds, gridssl / torch versions, git commit, command
    metrics.jsonl    one JSON object per logged step: step, loss terms, lr, code health, eval
    tb/              TensorBoard events
    checkpoints/     step_XXXXXXXX.pt (atomic, last K kept) and best.pt (best in-training eval)

Randomness: the model is initialised from ``Generator(seed)``; every batch (and every sampled
pair) is drawn from one data generator seeded ``seed + DATA_SEED_OFFSET`` whose state is
checkpointed, so a resumed run continues the exact stream; in-training evaluation uses its own
generator seeded from (seed, step) and never touches the data stream.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__, io, rundir
from .checkpoint import (
    CheckpointError,
    CheckpointNotFound,
    atomic_torch_save,
    check_model_size,
    checkpoints,
    load,
    load_weights,
    read_checkpoint,
    read_metrics,
    read_run_config,
)
from .config import Config, ConfigError, config_from_dict
from .data import draw_batch
from .io import WriteError, atomic_write_text
from .losses import code_health, sic_loss
from .model import SICNet
from .pipeline import score_population

# AdamW's implementation: one fused kernel over all parameters, 4-5x faster than the default on
# CPU (docs/PERFORMANCE.md), the same update up to rounding. Also set on every resume: an
# optimiser state saved by any version carries its own flags.
ADAMW_KERNEL = {"fused": True, "foreach": None}
DATA_SEED_OFFSET = 1_000_003
EVAL_SEED_OFFSET = 2_000_003
NEVER = 2**62  # a step no run reaches: a gated slow phase that has not begun
EXIT_DIVERGED = 3  # the exit code of `gridssl train` when training diverges
# settled (train.settle_window): the in-training evaluation has not changed over the window, that
# is, the mean of each of these over the window's second half is within its tolerance of the first
# half's (halves, not the range: one evaluation's grid fraction moves by 0.1-0.3 between
# evaluations of a settled code, docs/MODULES.md)
SETTLE_TOLERANCE = {"eval_grid_fraction": 0.1, "eval_multi_field": 0.1, "eval_score_median": 0.2}


def settled(metrics: list[dict], window: int) -> bool | None:
    """Whether the in-training evaluations (metrics.jsonl rows with ``eval_*``) of the last
    ``window`` steps are settled (SETTLE_TOLERANCE); None when the evaluations span less than the
    window or it holds fewer than 4 of them."""
    ev = [m for m in metrics if "eval_grid_fraction" in m]
    if not ev or ev[-1]["step"] - ev[0]["step"] < window:
        return None
    last = ev[-1]["step"]
    ev = [m for m in ev if m["step"] >= last - window]
    if len(ev) < 4:
        return None
    mid = last - window / 2
    for key, tol in SETTLE_TOLERANCE.items():
        a = [m[key] for m in ev if m["step"] < mid and key in m]
        b = [m[key] for m in ev if m["step"] >= mid and key in m]
        if a and b and abs(float(np.mean(b)) - float(np.mean(a))) > tol:
            return False
    return True


class Diverged(RuntimeError):
    """Training produced a non-finite loss, gradient or state at ``step`` (in ``term``).

    Raised by :meth:`Trainer.fit`; the last good checkpoint is left in place, so the run can be
    resumed (for example with a smaller learning rate). A sweep records such a trial as
    ``diverged``.
    """

    def __init__(self, step: int, term: str):
        super().__init__(f"training diverged at step {step}: {term} is not finite")
        self.step, self.term = step, term


def check_finite(step: int, floats: dict[str, float], states: torch.Tensor) -> None:
    """Raise :class:`Diverged` naming the first non-finite loss term (the total last), else the
    state, at ``step`` (the optimiser step being taken, counted from 1)."""
    for k in sorted(floats, key=lambda k: k == "total"):
        if not math.isfinite(floats[k]):
            raise Diverged(step, f"loss.{k}")
    if not bool(torch.isfinite(states).all()):
        raise Diverged(step, "state")


# ----------------------------------------------------------------------------- files


def git_commit() -> str:
    """The commit of the gridssl source tree, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ----------------------------------------------------------------------------- model I/O


def resolve_device(name: str, what: str = "train.device") -> torch.device:
    """The torch device ``name`` (cpu, cuda, cuda:K or auto) names, or a one-line ConfigError
    naming ``what`` when it does not exist on this machine."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{what} = {name!r} is not allowed here: no CUDA device is available")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{what} = {name!r} is not allowed: choose cpu, cuda or auto") from None
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"{what} = {name!r} is not allowed here: {torch.cuda.device_count()} CUDA device(s)"
        )
    return dev


def build_model(cfg: Config) -> SICNet:
    return SICNet(cfg.model, torch.Generator().manual_seed(cfg.train.seed))


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def quick_eval(net: SICNet, cfg: Config, step: int) -> dict[str, float]:
    """Rate maps from fresh training-distribution batches, scored by the pipeline's scoring stage
    (:func:`gridssl.pipeline.score_population`) with ``train.eval_shuffles`` null draws.

    The square binned is ``analysis.arenas[0]`` m centred on the origin, in ``analysis.bin_size``
    bins; scores are Sargolini min-max over Banino annuli (inner 0.2, outer 0.4..1.0 of the map
    size), and a unit is a grid cell by the ``analysis`` rule (score > ``analysis.threshold``
    and its null, >= ``analysis.min_fields`` fields, not place-like). The batches are the
    training distribution's without the slow phase (``data.slow_fraction``, ``still_fraction``,
    ``slow_seq_len``, ``slow_batch_size``).
    """
    gen = torch.Generator().manual_seed(cfg.train.seed * EVAL_SEED_OFFSET + step)
    dev = next(net.parameters()).device
    pos, act = [], []
    # the batches without the slow phase (its slow steps, T and B): slow steps shrink the area a
    # batch covers, and recipes with and without them are compared on the same footing
    data = dataclasses.replace(
        cfg.data, slow_fraction=0.0, still_fraction=0.0, slow_seq_len=0, slow_batch_size=0
    )
    for _ in range(cfg.train.eval_batches):
        b = draw_batch(data, step, gen)
        states = net.rollout_batch(b.to(dev))
        pos.append(b.positions.reshape(-1, 2))
        act.append(states.reshape(-1, net.n_units).cpu())
    a = cfg.analysis
    h = a.arenas[0] / 2
    pos_, act_ = torch.cat(pos).numpy(), torch.cat(act).numpy()
    seed = cfg.train.seed * EVAL_SEED_OFFSET + step
    pop = score_population(pos_, act_, (-h, h, -h, h), a, seed, cfg.train.eval_shuffles)
    scores = np.nan_to_num(pop.scores.scores, nan=-2.0)
    return {
        "grid_fraction": float(pop.is_grid.mean()),
        "above_threshold": float((scores > a.threshold).mean()),
        "score_median": float(np.median(scores)),
        "score_max": float(scores.max()),
        "multi_field": float((pop.fields.n_fields >= a.min_fields).mean()),
    }


# ----------------------------------------------------------------------------- the run


def _optional_int(saved: dict, key: str) -> int | None:
    """A checkpoint's optional step number: None where the key is absent or null."""
    value = saved.get(key)
    return None if value is None else int(value)


class Trainer:
    """Owns one run directory: the model, optimiser, scheduler and the data generator."""

    def __init__(self, cfg: Config, run: Path):
        self.cfg, self.run = cfg, Path(run)
        self.device = resolve_device(cfg.train.device)
        self.net = build_model(cfg).to(self.device)
        t = cfg.train
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=t.lr, weight_decay=t.weight_decay, **ADAMW_KERNEL
        )
        self.sched = make_scheduler(self.opt, t)
        self.data_gen = torch.Generator().manual_seed(t.seed + DATA_SEED_OFFSET)
        self.step = 0
        self.plateau = [0.0, 0]  # running sum and count of losses for the scheduler
        self.best = float("-inf")  # best in-training grid fraction
        self.slow_start: int | None = None  # where a gated slow phase began (data.slow_gate)
        self.settled_at: int | None = None  # where train.settle_window ended training
        self.evals: list[dict] = []  # the in-training evaluation rows so far (settle_window)
        self.train_s = 0.0  # seconds in fit() over every invocation (checkpoints carry it)
        self._lock: rundir.DirLock | None = None  # the run directory's, from create / resume

    # -- creation and resumption ------------------------------------------------------------
    @classmethod
    def create(
        cls, cfg: Config, run: Path, command: str = "", init_from: Path | None = None
    ) -> Trainer:
        run = rundir.check_name(run, "--out")
        _check_new_run(run, allow={rundir.LOCK})  # a lock alone: ours (a sweep's) or stale
        check_model_size(cfg.model, "--out")
        self = cls(cfg, run)  # built before any file is written: a failure leaves nothing
        if init_from is not None:  # warm start: the weights of another run, nothing else
            src = load(init_from)  # CheckpointError (one line) for a file that cannot be used
            try:
                load_weights(self.net, src.state_dict(), Path(init_from))
            except CheckpointError as err:
                raise ConfigError(f"--init-from {str(init_from)!r} does not fit: {err}") from None
        existed = run.is_dir()
        self._lock = rundir.lock(run, f"--out {str(run)!r}", command)  # Locked: raised as is
        try:
            _check_new_run(run, allow={rundir.LOCK})  # another process may have begun meanwhile
            self._write_new(command, init_from)
        except BaseException:
            self.close()
            if not existed:
                shutil.rmtree(run, ignore_errors=True)
            raise
        return self

    def _write_new(self, command: str, init_from: Path | None) -> None:
        cfg, run = self.cfg, self.run
        atomic_write_text(run / rundir.CONFIG, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        meta = {
            "seed": cfg.train.seed,
            "init_seed": cfg.train.seed,
            "data_seed": cfg.train.seed + DATA_SEED_OFFSET,
            "eval_seed": f"seed * {EVAL_SEED_OFFSET} + step",
            "gridssl_version": __version__,
            "torch_version": torch.__version__,
            # the CPU kernels torch chose (e.g. AVX2, AVX512): they set the rounding, and a seed's
            # outcome follows its rounding (docs/RECIPE.md, "Another machine's rounding")
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine(),
            "git_commit": git_commit(),
            "command": command,
            "init_from": None if init_from is None else str(init_from),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_text(run / rundir.META, json.dumps(meta, indent=2))

    @classmethod
    def resume(
        cls,
        run: Path,
        steps: int | None = None,
        overrides: list[str] | None = None,
        on_skip=None,
        restart_if_none: bool = False,
    ) -> Trainer:
        """Continue ``run`` from its newest intact checkpoint.

        ``overrides`` (``key=value``, as ``--set`` gives them) change the saved config, e.g. a
        smaller ``train.lr`` after a divergence; ``train.seed`` is refused, and so are
        ``train.steps`` below the checkpoint's step. A damaged checkpoint (truncated, or damaged
        in place: its zip CRCs are checked) is skipped for the next older one, and
        ``on_skip(path, reason)`` is told; when checkpoints exist and none is intact,
        :class:`CheckpointError` is raised. A run with no step checkpoint is resumed (from step 0)
        only when nothing would be lost: no metrics row past step 0 and no best.pt, or
        ``restart_if_none`` (a sweep's trial). Every refusal leaves every file as it was: the
        config and the metrics are rewritten only once the resume has succeeded. Metrics logged
        after the checkpoint used are dropped (they are replayed). The run directory is locked
        (:func:`gridssl.rundir.lock`) until :meth:`close`.
        """
        run = Path(run)
        what = f"--resume {str(run)!r}"
        raw = read_run_config(run, "--resume")
        for item in overrides or []:
            if item.partition("=")[0].strip() == "train.seed":
                raise ConfigError(
                    f"--set {item!r} is not allowed with --resume: a run keeps its seed (as "
                    "meta.json records it); start a new run with --seed"
                )
        extra = list(overrides or []) + ([] if steps is None else [f"train.steps={steps}"])
        cfg = config_from_dict(raw, extra)
        check_model_size(cfg.model, what)
        self = cls(cfg, run)
        self._lock = rundir.lock(run, what)
        try:
            self._resume_state(what, extra, steps, on_skip, restart_if_none)
        except BaseException:
            self.close()
            raise
        return self

    def _resume_state(self, what, extra, steps, on_skip, restart_if_none) -> None:
        """Load the newest intact checkpoint and check the resume, reading only; then, once
        everything has succeeded, write the new config and drop the replayed metrics."""
        run, cfg = self.run, self.cfg
        folder = run / rundir.CHECKPOINTS
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(f"{what}: {folder} is not a folder; nothing was changed")
        found = checkpoints(run)
        skipped: list[tuple[Path, str]] = []
        for path in reversed(found):
            try:
                state = read_checkpoint(path, self.device)
            except CheckpointError as err:
                skipped.append((path, str(err)))
                continue
            self.load_state(state, path)
            break
        if found and len(skipped) == len(found):
            raise CheckpointError(
                f"{what}: no intact checkpoint among {[p.name for p in found]} "
                f"(newest: {skipped[0][1]}); nothing was changed"
            )
        rows = read_metrics(run)  # a damaged file is refused here, before anything is written
        if not found:
            trained = [r["step"] for r in rows if r["step"] > 0]
            if (trained or (folder / rundir.BEST).exists()) and not restart_if_none:
                last = f"metrics.jsonl reaches step {max(trained)}" if trained else "best.pt"
                raise CheckpointNotFound(
                    f"{what} holds no checkpoints/step_*.pt to resume from ({last} would be "
                    "lost by starting over); nothing was changed: train a new run with --out"
                )
        if cfg.train.steps < self.step:
            asked = f"--steps {steps}" if steps is not None else f"train.steps = {cfg.train.steps}"
            raise ConfigError(
                f"{asked} is below step {self.step}, where the run's newest intact checkpoint "
                f"is: give {self.step} or more; nothing was changed"
            )
        for path, reason in skipped if on_skip is not None else ():
            on_skip(path, reason)
        if extra:
            atomic_write_text(run / rundir.CONFIG, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        # metrics logged after the checkpoint we resume from are replayed: drop them
        kept = [m for m in rows if m["step"] <= self.step]
        atomic_write_text(run / rundir.METRICS, "".join(json.dumps(m) + "\n" for m in kept))
        self.evals = [m for m in kept if "eval_grid_fraction" in m]

    def close(self) -> None:
        """Release the run directory's lock (also done when the Trainer is garbage-collected or
        its process ends: a lock whose process is gone is recognised as stale)."""
        lk = getattr(self, "_lock", None)
        if lk is not None:
            lk.release()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def state(self) -> dict:
        return {
            "step": self.step,
            "model": self.net.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "data_gen": self.data_gen.get_state(),
            "plateau": list(self.plateau),
            "best": self.best,
            "slow_start": self.slow_start,
            "settled_at": self.settled_at,
            "train_s": self.train_s,
            "config": self.cfg.to_dict(),
            "gridssl_version": __version__,
        }

    def load_state(self, s: dict, path: Path) -> None:
        """Restore a checkpoint dict; the run's config wins over the saved optimiser settings
        (a resume may change ``train.lr``, ``weight_decay`` or the plateau settings)."""
        try:
            step, plateau, best = int(s["step"]), list(s["plateau"]), float(s["best"])
            train_s = float(s.get("train_s", 0.0))  # absent before 2026-11-26: counts from here
            slow_start = _optional_int(s, "slow_start")  # absent before 2026-12-07: no gate
            settled_at = _optional_int(s, "settled_at")  # absent before 2026-12-08: never ended
            load_weights(self.net, s["model"], path)
            self.opt.load_state_dict(s["optimizer"])
            for group in self.opt.param_groups:  # a saved state carries its own kernel flags
                group.update(ADAMW_KERNEL)
            self.sched.load_state_dict(s["scheduler"])
            self.data_gen.set_state(s["data_gen"])
            saved_lr = float(s["config"]["train"]["lr"])
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise CheckpointError(
                f"{path} is not a training checkpoint of this run ({first})"
            ) from None
        self.step, self.plateau, self.best, self.train_s = step, plateau, best, train_s
        self.slow_start, self.settled_at = slow_start, settled_at
        self._apply_train_settings(saved_lr)

    def _apply_train_settings(self, saved_lr: float) -> None:
        t = self.cfg.train
        for group in self.opt.param_groups:
            group["weight_decay"] = t.weight_decay
        if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.sched.factor, self.sched.patience = t.plateau_factor, t.plateau_patience
            self.sched.min_lrs = [t.min_lr] * len(self.opt.param_groups)
            if t.lr != saved_lr:  # keep the reductions made so far, on the new base rate
                for group in self.opt.param_groups:
                    group["lr"] *= t.lr / saved_lr
        else:  # LambdaLR: lr = base * schedule(step), exactly as the scheduler computes it
            self.sched.base_lrs = [t.lr] * len(self.opt.param_groups)
            for group, fn in zip(self.opt.param_groups, self.sched.lr_lambdas):
                group["initial_lr"] = t.lr
                group["lr"] = t.lr * fn(self.sched.last_epoch)
        self.sched._last_lr = [g["lr"] for g in self.opt.param_groups]

    def save_checkpoint(self) -> Path:
        path = self.run / rundir.CHECKPOINTS / f"step_{self.step:08d}.pt"
        atomic_torch_save(self.state(), path)
        for old in checkpoints(self.run)[: -self.cfg.train.keep_ckpts]:
            try:
                old.unlink()
            except OSError as err:  # nothing is lost: the old file stays, the next save retries
                print(
                    f"gridssl: warning: cannot remove the old checkpoint {old}: "
                    f"{err.strerror or err} (kept)",
                    file=sys.stderr,
                )
        return path

    # -- one optimiser step --------------------------------------------------------------------
    def slow_from(self) -> int:
        """The optimiser step where the slow phase begins: ``data.slow_from_step``, or with
        ``data.slow_gate`` the evaluation step that opened the gate (none yet: never)."""
        d = self.cfg.data
        if not d.slow_gate:
            return d.slow_from_step
        return NEVER if self.slow_start is None else self.slow_start

    def train_step(self, health: bool = True) -> dict[str, float]:
        """Draw grad_accum batches, roll out, backpropagate the SIC loss, clip and step.

        ``health``: add :func:`code_health` of the batches to the logs (only logged steps need it).
        """
        c, accum = self.cfg, self.cfg.train.grad_accum
        self.opt.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        for _ in range(accum):
            batch = draw_batch(c.data, self.step, self.data_gen, self.slow_from())
            batch = batch.to(self.device)
            logs["seq_len"] = batch.index.shape[1]
            states = self.net.rollout_batch(batch)  # (B, T, N)
            terms = sic_loss(
                states,
                batch.positions,
                batch.velocities,
                self.net.g0(),
                c.loss,
                self.data_gen,
                iso_max_step=c.loss.iso_range(self.step),
                pair_stride=c.data.pair_stride_at(self.step, self.slow_from()),
            )
            floats = terms.as_floats()
            check_finite(self.step + 1, floats, states)
            (terms.total / accum).backward()
            if health:
                floats.update(code_health(states, batch.positions, c.train.far_pair_m))
            for k, v in floats.items():
                logs[k] = logs.get(k, 0.0) + v / accum
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.train.grad_clip)
        if not math.isfinite(float(grad_norm)):  # checked before the step: weights stay good
            raise Diverged(self.step + 1, "gradient")
        self.opt.step()
        self.step += 1
        self.schedule_step(logs["total"])
        logs["grad_norm"] = float(grad_norm)
        logs["lr"] = self.opt.param_groups[0]["lr"]
        return logs

    def logged(self, step: int) -> bool:
        """Whether optimiser step ``step`` writes a metrics row (a log or an evaluation step)."""
        t = self.cfg.train
        evaluated = t.eval_every and step % t.eval_every == 0
        return step % t.log_every == 0 or step == t.steps or bool(evaluated)

    def schedule_step(self, total: float) -> None:
        """Advance the learning-rate schedule after an optimiser step with loss ``total`` (the
        plateau scheduler is stepped on the mean loss of each ``plateau_every`` window)."""
        t = self.cfg.train
        if t.schedule == "plateau":
            self.plateau[0] += total
            self.plateau[1] += 1
            if self.step % t.plateau_every == 0:
                self.sched.step(self.plateau[0] / self.plateau[1])
                self.plateau = [0.0, 0]
        else:
            self.sched.step()

    # -- the loop --------------------------------------------------------------------------------
    def fit(self, progress: bool = True, until: int | None = None) -> dict[str, float]:
        """Train to ``train.steps``, or stop at step ``until`` or ``train.stop_at`` (schedules
        keep their shape), or earlier where ``train.settle_window`` finds the in-training
        evaluation settled (the step is kept as ``settled_at`` in the checkpoint, so a resume of
        the run trains no further).

        Raises :class:`Diverged` at the first non-finite loss term, state or gradient (before
        the optimiser step, so the weights and the last checkpoint stay good).
        """
        t = self.cfg.train
        stop = min(t.steps, t.stop_at or t.steps, t.steps if until is None else until)
        threads = torch.get_num_threads()  # restored on the way out: no global state is left
        if t.threads:
            torch.set_num_threads(t.threads)
        writer = _tensorboard(self.run / "tb", self.step)
        report = Progress(self.step, stop, t, progress)
        logs: dict[str, float] = {}
        self.net.train()
        t0, s0, base = time.perf_counter(), self.step, self.train_s
        path = self.run / rundir.METRICS
        if getattr(self, "_lock", None) is None or self._lock.released:
            self._lock = rundir.lock(self.run, f"run {str(self.run)!r}")
        clock = (t0, s0, base)
        try:
            with _MetricsFile(path) as metrics:
                while self.step < stop and not self.ended():
                    logs = self.train_step(health=self.logged(self.step + 1))
                    row = self._log_row(logs, clock)
                    if t.eval_every and (self.step % t.eval_every == 0 or self.step == t.steps):
                        row = self._evaluate(logs, row)
                    report.update(self.step, logs, row)
                    if row:
                        _write_row(metrics, writer, row, self.step)
                    last = self.step in (t.steps, stop) or self.ended()
                    if self.step % t.ckpt_every == 0 or last:
                        self.train_s = base + time.perf_counter() - t0
                        self.save_checkpoint()
        finally:
            self.train_s = base + time.perf_counter() - t0
            torch.set_num_threads(threads)
            report.close()
            if writer is not None:
                writer.close()
        return logs

    def ended(self) -> bool:
        """Whether ``train.settle_window`` has ended training (at step ``settled_at``)."""
        return bool(self.cfg.train.settle_window) and self.settled_at is not None

    def _log_row(self, logs: dict, clock: tuple[float, int, float]) -> dict[str, Any]:
        """The metrics.jsonl row of this step: every ``train.log_every`` steps and the last, with
        the step rate since ``fit`` began and the run's training seconds (else empty)."""
        t = self.cfg.train
        if not (self.step % t.log_every == 0 or self.step == t.steps):
            return {}
        t0, s0, base = clock
        now = time.perf_counter()
        rate = (self.step - s0) / max(now - t0, 1e-9)
        return {"step": self.step, **logs, "steps_per_s": rate, "train_s": base + now - t0}

    def _evaluate(self, logs: dict, row: dict) -> dict[str, Any]:
        """The in-training evaluation (:func:`quick_eval`) added to the row as ``eval_*``; a new
        best grid fraction is kept as checkpoints/best.pt."""
        ev = quick_eval(self.net, self.cfg, self.step)
        row = {"step": self.step, **logs, **row, **{f"eval_{k}": v for k, v in ev.items()}}
        d = self.cfg.data
        gate_opens = d.slow_gate and self.slow_start is None and self.step >= d.slow_from_step
        if gate_opens and ev["grid_fraction"] >= d.slow_gate:
            self.slow_start = self.step  # the next batch is the slow phase's first
            row["slow_start"] = self.step
        t = self.cfg.train
        self.evals.append(row)
        if t.settle_window and self.step >= t.settle_min_steps and self.step < t.steps:
            if settled(self.evals, t.settle_window):
                self.settled_at = self.step
                row["settled_at"] = self.step
        if ev["grid_fraction"] > self.best:
            self.best = ev["grid_fraction"]
            atomic_torch_save(self.state(), self.run / rundir.CHECKPOINTS / rundir.BEST)
        self.net.train()
        return row


def _write_row(metrics: _MetricsFile, writer, row: dict, step: int) -> None:
    """One metrics.jsonl line, and its numbers to TensorBoard (``eval_*`` under ``eval/``)."""
    metrics.write(json.dumps(row) + "\n")
    if writer is not None:
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)):
                writer.add_scalar(k.replace("eval_", "eval/"), v, step)


def _check_new_run(run: Path, allow: set[str] = frozenset()) -> None:
    """Refuse an ``--out`` that cannot be a new run directory: one holding files, a file, a
    symbolic link that leads nowhere (dangling, or a loop)."""
    if run.is_symlink() and not run.exists():
        raise ConfigError(
            f"--out {str(run)!r} is a symbolic link that leads nowhere (dangling, or a loop)"
        )
    if run.exists() and not run.is_dir():
        raise ConfigError(f"--out {str(run)!r} is a file, not a directory")
    try:
        held = run.is_dir() and any(p.name not in allow for p in run.iterdir())
    except OSError as err:
        raise WriteError(run, err) from None
    if held:
        raise ConfigError(
            f"--out {str(run)!r} already holds files: resume with --resume {run} or choose a "
            "new directory"
        )


class _MetricsFile:
    """metrics.jsonl opened for appending whole lines, unbuffered: a failed write (a full
    disk) raises one :class:`~gridssl.io.WriteError` at that write, and closing raises nothing
    more (a partial line is dropped by the reader, and replaced when the run resumes)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            io.check_target(path)
            self.fh = open(path, "ab", buffering=0)
        except OSError as err:
            raise (err if isinstance(err, WriteError) else WriteError(path, err)) from None

    def write(self, line: str) -> None:
        data = memoryview(line.encode("utf-8"))
        try:
            while data:
                data = data[self.fh.write(data) :]
        except OSError as err:
            raise WriteError(self.path, err) from None

    def __enter__(self) -> _MetricsFile:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.fh.close()
        except OSError:
            pass  # unbuffered: nothing is left to write


class Progress:
    """Progress on stderr: a tqdm bar on a terminal; elsewhere (a log file, CI, a sweep worker)
    one plain line every ``train.print_every`` steps (0: about 20 lines a run, a multiple of
    ``log_every``), so logs hold no carriage-return frames. Silent when ``enabled`` is False."""

    LINES_PER_RUN = 20  # the print_every = 0 rule

    def __init__(self, start: int, stop: int, t, enabled: bool, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled, self.stop, self.bar = enabled, stop, None
        self.every = t.print_every or t.log_every * max(
            1, math.ceil(t.steps / self.LINES_PER_RUN / t.log_every)
        )
        isatty = getattr(self.stream, "isatty", None)
        if enabled and isatty is not None and isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=stop, initial=start, unit="step", dynamic_ncols=True, file=self.stream
            )

    def update(self, step: int, logs: dict[str, float], row: dict) -> None:
        keys = [k for k in ("total", "sep", "inv", "cap", "iso") if k in logs]
        if self.bar is not None:
            self.bar.update(1)
            if row:
                self.bar.set_postfix({k: f"{logs[k]:.3g}" for k in keys[1:]})
        elif self.enabled and (step % self.every == 0 or step == self.stop):
            text = " ".join(f"{k} {logs[k]:.4g}" for k in keys)
            if "eval_grid_fraction" in row:
                text += f" eval_grid_fraction {row['eval_grid_fraction']:.3f}"
            print(f"step {step}/{self.stop} {text} lr {logs.get('lr', 0):.3g}", file=self.stream)
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def make_scheduler(opt: torch.optim.Optimizer, t) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule named by ``train.schedule`` (its state is checkpointed)."""
    if t.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=t.plateau_factor, patience=t.plateau_patience, min_lr=t.min_lr
        )
    warm = t.warmup_steps

    def warmup(step: int) -> float:  # linear from 1/warm to 1 over the first `warm` steps
        return min(1.0, (step + 1) / warm) if warm else 1.0

    if t.schedule == "cosine":
        floor = t.min_lr / t.lr

        hold, span = t.hold_steps, t.steps - t.hold_steps  # at the peak, then the decay

        def cosine(step: int) -> float:
            s = max(0, min(step, t.steps) - hold)
            return warmup(step) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * s / span)))

        return torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    return torch.optim.lr_scheduler.LambdaLR(opt, warmup)


def _tensorboard(path: Path, step: int):
    """A TensorBoard writer that drops events after ``step`` (a resumed run), or None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency; tolerate its absence in odd installs
        return None
    return SummaryWriter(str(path), purge_step=step if step else None)
