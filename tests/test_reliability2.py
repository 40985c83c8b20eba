"""The second reliability pass (issue 20): concurrent runs, silent restarts, corruption in place,
and the rest of a hostile probe. Each case ends in one line and the documented exit code, with
nothing on disk lost or changed; each test is named after the root cause it holds (D1-D19)."""

import errno
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from gridssl import rundir
from gridssl.checkpoint import (
    CheckpointError,
    checkpoints,
    read_checkpoint,
    read_metrics,
    weight_shapes,
)
from gridssl.cli import main
from gridssl.config import load_config
from gridssl.io import NotRegularFile, atomic_write_text, check_target
from gridssl.model import SICNet
from gridssl.train import Trainer

GRIDSSL = [sys.executable, "-m", "gridssl.cli"]
NO_EVAL = ("--set", "train.eval_every=0")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny run trained to step 40 (checkpoints at 20, 30 and 40), no in-training evaluation."""
    out = tmp_path_factory.mktemp("rel") / "base"
    argv = ["train", "--preset", "tiny", "--out", str(out), "--quiet", *NO_EVAL]
    assert main(argv) == 0
    return out


def _copy(base, tmp_path, name="r"):
    return Path(shutil.copytree(base, tmp_path / name))


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _one_line(capsys, code, argv, needle):
    """main(argv) exits ``code`` with one stderr line holding ``needle``; returns the line."""
    capsys.readouterr()
    assert main(argv) == code, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0], (argv, err)
    return err[0]


def _same_run(a: Path, b: Path) -> None:
    """Every logged value (bar the clocks) and the final weights are equal."""
    ma, mb = read_metrics(a), read_metrics(b)
    assert [r["step"] for r in ma] == [r["step"] for r in mb]
    for ra, rb in zip(ma, mb):
        drop = ("steps_per_s", "train_s")
        assert {k: v for k, v in ra.items() if k not in drop} == {
            k: v for k, v in rb.items() if k not in drop
        }
    sa, sb = (torch.load(checkpoints(r)[-1], weights_only=True) for r in (a, b))
    assert sa["step"] == sb["step"]
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])


def _spec(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


# ----------------------------------------------------------------------------- D1 locks


def _holder(directory: Path) -> subprocess.Popen:
    """Another process that takes ``directory``'s lock and keeps it until killed."""
    code = (
        "import sys, time; from gridssl import rundir; "
        "lk = rundir.lock(sys.argv[1], 'held'); print('held', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_D1_a_run_or_sweep_in_use_is_refused_and_a_stale_lock_is_taken_over(base, tmp_path, capsys):
    run = _copy(base, tmp_path)
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0]})
    out = tmp_path / "sweep"
    proc = _holder(run)
    other = _holder(out)
    try:
        before = _files(run)
        line = _one_line(capsys, 2, ["train", "--resume", str(run), "--quiet"], "is in use by")
        assert f"process {proc.pid}" in line and socket.gethostname() in line
        assert _files(run) == before  # nothing changed: the metrics were not cut
        swept = _files(out)
        _one_line(capsys, 2, ["sweep", str(spec), "--out", str(out)], "is in use by")
        assert _files(out) == swept
    finally:
        for p in (proc, other):
            p.kill()
            p.wait(10)
    # the holders were killed: their locks are stale (same host, pid gone) and taken over
    assert (run / rundir.LOCK).exists()
    assert main(["train", "--resume", str(run), "--steps", "50", "--quiet"]) == 0
    assert not (run / rundir.LOCK).exists()  # released on exit
    assert [r["step"] for r in read_metrics(run)][-2:] == [45, 50]


def test_D1_lock_rules_remote_host_reused_pid_and_reentry(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    lock_file = d / rundir.LOCK
    # another host cannot be checked from here: refused, naming the file to remove
    lock_file.write_text(json.dumps({"pid": 1, "host": "elsewhere", "start": "1"}))
    with pytest.raises(rundir.Locked, match=r"remove .*\.lock if that process is gone"):
        rundir.lock(d, "dir")
    # a live pid of this host, but another process's start time: a reused pid, so stale
    parent = os.getppid()
    lock_file.write_text(json.dumps({"pid": parent, "host": socket.gethostname(), "start": "1"}))
    with rundir.lock(d, "dir"):
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
        with rundir.lock(d, "dir"):  # re-entrant within one process
            pass
        assert lock_file.exists() and rundir.held(d)
    assert not lock_file.exists() and not rundir.held(d)
    # a Trainer holds its run's lock from create to close
    tr = Trainer.create(load_config("tiny", train__steps=2, train__eval_every=0), tmp_path / "t")
    assert json.loads((tmp_path / "t" / rundir.LOCK).read_text())["pid"] == os.getpid()
    tr.fit(progress=False)
    tr.close()
    assert not (tmp_path / "t" / rundir.LOCK).exists()


# ----------------------------------------------------------------------------- D2, D10 resume


def test_D2_resume_with_no_step_checkpoint_never_starts_over(base, tmp_path, capsys):
    run = _copy(base, tmp_path)
    for ck in checkpoints(run):
        ck.unlink()
    before = _files(run)
    argv = ["train", "--resume", str(run), "--steps", "60", "--quiet"]
    _one_line(capsys, 2, argv, "no checkpoints/step_*.pt to resume from")
    assert _files(run) == before
    # checkpoints/ replaced by a file: refused, metrics.jsonl and config.yaml untouched
    run2 = _copy(base, tmp_path, "r2")
    shutil.rmtree(run2 / "checkpoints")
    (run2 / "checkpoints").write_text("not a folder")
    before = _files(run2)
    _one_line(capsys, 2, ["train", "--resume", str(run2), "--steps", "60"], "not a folder")
    assert _files(run2) == before
    # a run that never trained (config.yaml only, nothing to lose) does resume from step 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(base / "config.yaml", fresh / "config.yaml")
    assert main(["train", "--resume", str(fresh), "--steps", "10", "--quiet"]) == 0
    assert read_metrics(fresh)[-1]["step"] == 10
    # a sweep trial with no checkpoint yet restarts at step 0 (restart_if_none)
    tr = Trainer.resume(run, restart_if_none=True)
    assert tr.step == 0
    tr.close()


def test_D10_a_refused_resume_changes_no_record(base, tmp_path, capsys):
    run = _copy(base, tmp_path)
    before = _files(run)
    _one_line(capsys, 2, ["train", "--resume", str(run), "--steps", "10"], "below step 40")
    line = _one_line(
        capsys, 2, ["train", "--resume", str(run), "--set", "train.seed=5"], "train.seed"
    )
    assert "--resume" in line
    _one_line(
        capsys,
        2,
        ["train", "--resume", str(run), "--set", "train.steps=30", "--set", "train.lr=1e-4"],
        "below step 40",
    )
    assert _files(run) == before  # config.yaml, meta.json and metrics.jsonl as they were
    # the same step is fine: nothing to train
    assert main(["train", "--resume", str(run), "--steps", "40", "--quiet"]) == 0
    assert read_metrics(run) == read_metrics(base)


# ----------------------------------------------------------------------------- D3 corruption


def _corrupt_a_tensor(path: Path, n: int = 64) -> None:
    """Overwrite ``n`` bytes in the middle of the largest tensor of a checkpoint, in place."""
    with zipfile.ZipFile(path) as zf:
        info = max(zf.infolist(), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    data[start : start + n] = bytes((b + 101) % 256 for b in data[start : start + n])
    path.write_bytes(bytes(data))


def test_D3_corruption_in_place_is_skipped_and_the_resume_equals_an_uninterrupted_run(
    base, tmp_path, capsys
):
    run = _copy(base, tmp_path)
    newest = checkpoints(run)[-1]
    _corrupt_a_tensor(newest)
    torch.load(newest, weights_only=True)  # the premise: torch alone does not notice
    with pytest.raises(CheckpointError, match="damaged in place"):
        read_checkpoint(newest)
    line = _one_line(capsys, 2, ["eval", str(newest)], "damaged in place")
    assert newest.name in line
    # resume: one line naming the file, then step 30 -> 40 again, equal to the run never hurt
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped" in err[0] and "damaged in place" in err[0], err
    assert newest.name in err[0]
    _same_run(base, run)


# ----------------------------------------------------------------------------- D4 export


def test_D4_export_never_writes_into_a_runs_checkpoints(base, tmp_path, capsys):
    run = _copy(base, tmp_path)
    before = _files(run)
    for target in (checkpoints(run)[-1], run / "checkpoints" / "step_99999999.pt"):
        argv = ["export", str(run), "--out", str(target)]
        _one_line(capsys, 2, argv, "training checkpoint")
    argv = ["export", str(checkpoints(run)[-1]), "--out", str(checkpoints(run)[-1])]
    _one_line(capsys, 2, argv, "checkpoint")
    assert _files(run) == before
    assert main(["export", str(run), "--out", str(tmp_path / "m.pt")]) == 0


# ----------------------------------------------------------------------------- D5 shapes


def test_D5_a_crafted_config_is_refused_before_anything_is_allocated(base, tmp_path, capsys):
    state = torch.load(checkpoints(base)[-1], weights_only=True)
    state["config"]["model"]["n_units"] = 100_000  # 1.28 TB of last layer
    crafted = tmp_path / "crafted.pt"
    torch.save(state, crafted)
    assert crafted.stat().st_size < 200_000
    t0 = time.perf_counter()
    _one_line(capsys, 2, ["eval", str(crafted)], "sanity bound")
    assert time.perf_counter() - t0 < 30
    state["config"]["model"]["n_units"] = 2048  # within bounds, but not these weights
    torch.save(state, crafted)
    _one_line(capsys, 2, ["eval", str(crafted)], "another shape or config")
    # a run directory's own config.yaml is checked the same way before resuming
    run = _copy(base, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["n_units"] = 100_000
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    _one_line(capsys, 2, ["train", "--resume", str(run)], "sanity bound")


@pytest.mark.parametrize(
    "model",
    [
        {},
        {"mlp_layers": 1},
        {"mlp_layers": 4, "learn_g0": False},
        {"groups": 2, "n_units": 8},
        {"init": "default", "mlp_hidden": 7},
    ],
)
def test_D5_weight_shapes_match_the_model(model):
    cfg = load_config("tiny", overrides=[f"model.{k}={v}" for k, v in model.items()]).model
    real = {k: tuple(v.shape) for k, v in SICNet(cfg).state_dict().items()}
    assert weight_shapes(cfg) == real


# ----------------------------------------------------------------------------- D6 targets


def test_D6_atomic_writes_replace_only_regular_files(base, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real = tmp_path / "real.txt"
    real.write_text("keep")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    for target, kind in ((fifo, "a FIFO"), (link, "a symbolic link"), (tmp_path, "a folder")):
        with pytest.raises(NotRegularFile, match=kind):
            atomic_write_text(target, "new")
    assert fifo.is_fifo() and link.is_symlink() and real.read_text() == "keep"
    with pytest.raises(NotRegularFile, match="character device"):
        check_target("/dev/null")  # checked only: never written
    _one_line(capsys, 2, ["export", str(base), "--out", str(fifo)], "not a regular file")
    _one_line(capsys, 2, ["export", str(base), "--out", str(link)], "symbolic link")
    assert fifo.is_fifo() and link.is_symlink() and real.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link.txt", "real.txt"]


# ----------------------------------------------------------------------------- D7, D15 --out


def test_D7_D15_outputs_that_cannot_be_a_run(tmp_path, capsys, monkeypatch):
    train = ["train", "--preset", "tiny", "--quiet", "--out"]
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    _one_line(capsys, 2, [*train, str(dangling)], "leads nowhere")
    _one_line(capsys, 2, [*train, str(loop)], "leads nowhere")
    (tmp_path / "afile").write_text("x")
    _one_line(capsys, 2, [*train, str(tmp_path / "afile" / "run")], "afile")
    bad = os.fsdecode(b"run\xff")  # not UTF-8 (held as a surrogate escape)
    _one_line(capsys, 2, [*train, str(tmp_path / bad)], "not valid UTF-8")
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0]})
    _one_line(capsys, 2, ["sweep", str(spec), "--out", str(tmp_path / bad)], "not valid UTF-8")
    # a read-only folder (as root chmod does not stop writes: the error is injected)
    real_mkdir = Path.mkdir

    def read_only(self, *a, **k):
        if self.name == "ro_run":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", read_only)
    _one_line(capsys, 2, [*train, str(tmp_path / "ro_run")], "Read-only file system")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangling", "loop", "spec.yaml"]


# ----------------------------------------------------------------------------- D8 metrics disk


class _FullDisk(io.FileIO):
    room = 300

    def write(self, b):
        if self.tell() + len(b) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(b)


def test_D8_a_full_disk_during_the_metrics_append_is_one_line(base, tmp_path, capsys, monkeypatch):
    import builtins

    import gridssl.train

    run = _copy(base, tmp_path)
    real_open = builtins.open

    def fake_open(file, mode="r", *a, **k):
        if Path(file).name != "metrics.jsonl" or "a" not in mode:
            return real_open(file, mode, *a, **k)
        raw = _FullDisk(file, "a")
        raw.room = raw.tell() + 300
        return raw if "b" in mode else io.TextIOWrapper(io.BufferedWriter(raw))

    monkeypatch.setattr(gridssl.train, "open", fake_open, raising=False)
    argv = ["train", "--resume", str(run), "--steps", "60", "--quiet"]
    line = _one_line(capsys, 2, argv, "No space left on device")
    assert f"cannot write {run / 'metrics.jsonl'}" in line
    monkeypatch.undo()  # space again: the resume drops the partial line and goes on
    assert main(argv) == 0
    steps = [r["step"] for r in read_metrics(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 60


# ----------------------------------------------------------------------------- D9 run files


def test_D9_damaged_run_files_are_refused_in_one_line_by_info_and_resume(base, tmp_path, capsys):
    cases = {
        "list_row": ("metrics.jsonl", b"[1, 2]\n", "not a metrics row"),
        "no_step": ("metrics.jsonl", b'{"total": 1.0}\n{"step": 5}\n', "not a metrics row"),
        "bad_utf8_metrics": ("metrics.jsonl", b'{"step": 5, "x": "\xff"}\n', "not UTF-8"),
        "bad_utf8_config": ("config.yaml", b"train:\n  lr: \xff\n", "not UTF-8"),
        "metrics_folder": ("metrics.jsonl", None, "is a folder"),
        "config_folder": ("config.yaml", None, "is a folder"),
        "meta_bad_utf8": ("meta.json", b'{"seed": "\xfe"}', "not UTF-8"),
    }
    for name, (file, data, needle) in cases.items():
        run = _copy(base, tmp_path, name)
        (run / file).unlink()
        if data is None:
            (run / file).mkdir()
        else:
            (run / file).write_bytes(data)
        before = _files(run)
        _one_line(capsys, 2, ["info", str(run)], needle)
        if file != "meta.json":
            _one_line(capsys, 2, ["train", "--resume", str(run), "--quiet"], needle)
        assert _files(run) == before, name


# ----------------------------------------------------------------------------- D12, D13, D14 sweep


def test_D12_damaged_sweep_state_is_refused_in_one_line(tmp_path, capsys):
    raw = {"preset": "tiny", "seeds": [0]}
    spec = _spec(tmp_path, raw)
    cases = ["bad_yaml", "yaml_folder", "truncated_record"]
    for case in cases:
        out = tmp_path / case
        (out / "trials" / "seed=0").mkdir(parents=True)
        if case == "bad_yaml":
            (out / "sweep.yaml").write_text("preset: [\n")
        elif case == "yaml_folder":
            (out / "sweep.yaml").mkdir()
        else:
            from gridssl.sweep import parse_spec

            (out / "sweep.yaml").write_text(yaml.safe_dump(parse_spec(raw).to_dict()))
            (out / "trials" / "seed=0" / "trial.json").write_text('{"trial": "seed=0", "sta')
        before = _files(out)
        needle = "trial.json" if case == "truncated_record" else "sweep.yaml"
        for extra in ([], ["--dry-run"], ["--collect"]):
            _one_line(capsys, 2, ["sweep", str(spec), "--out", str(out), *extra], needle)
        assert _files(out) == before and not (out / rundir.LOCK).exists()
    (tmp_path / "afile").write_text("x")
    _one_line(capsys, 2, ["sweep", str(spec), "--out", str(tmp_path / "afile")], "is a file")
    argv = ["ablate", "--preset", "tiny", "--seeds", "1", "--out", str(tmp_path / "afile")]
    _one_line(capsys, 2, argv, "is a file")
    assert (tmp_path / "afile").read_text() == "x"


def test_D13_spec_limits(tmp_path, capsys):
    out = tmp_path / "o"
    grid = {f"loss.w_{k}": [0.1 * i for i in range(1, 11)] for k in ("sep", "inv", "cap", "iso")}
    grid |= {f"data.{k}": list(range(1, 11)) for k in ("batch_size", "seq_len")}
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": list(range(10)), "grid": grid}, "big.yaml")
    t0 = time.perf_counter()
    _one_line(capsys, 2, ["sweep", str(spec), "--out", str(out), "--dry-run"], "trials, more than")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")
    )
    (tmp_path / "bomb.yaml").write_text(
        "preset: tiny\nset:\n  " + bomb.replace("\n", "\n  ") + "\n"
    )
    argv = ["sweep", str(tmp_path / "bomb.yaml"), "--out", str(out)]
    _one_line(capsys, 2, argv, "aliases (*name) are not allowed")
    (tmp_path / "dup.yaml").write_text("preset: tiny\nseeds: [0]\nseeds: [1]\n")
    _one_line(capsys, 2, ["sweep", str(tmp_path / "dup.yaml"), "--out", str(out)], "duplicate key")
    assert time.perf_counter() - t0 < 30
    long = _spec(
        tmp_path, {"preset": "tiny", "seeds": [0], "conditions": {"c" * 250: {}}}, "long.yaml"
    )
    for extra in (["--dry-run"], []):
        _one_line(capsys, 2, ["sweep", str(long), "--out", str(out), *extra], "255")
    assert not out.exists()


@pytest.mark.parametrize("address", ["foo:bar", "foo", "host:99999", "http://x:1"])
def test_D14_a_malformed_address_is_refused_in_one_line(tmp_path, capsys, address):
    spec = _spec(tmp_path, {"preset": "tiny", "seeds": [0]})
    argv = ["sweep", str(spec), "--out", str(tmp_path / "o"), "--address", address]
    _one_line(capsys, 2, argv, "expected HOST:PORT")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- D16 rotation


def test_D16_a_rotation_that_cannot_delete_warns_and_loses_nothing(
    base, tmp_path, capsys, monkeypatch
):
    run = _copy(base, tmp_path)
    real_unlink = Path.unlink

    def stuck(self, *a, **k):
        if self.name.startswith("step_"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_unlink(self, *a, **k)

    monkeypatch.setattr(Path, "unlink", stuck)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "50", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all("cannot remove the old checkpoint" in e for e in err), err
    assert [p.name for p in checkpoints(run)][-1] == "step_00000050.pt"
    assert "step_00000020.pt" in [p.name for p in checkpoints(run)]


# ----------------------------------------------------------------------------- D17 stdout


def test_D17_a_closed_or_full_stdout_is_one_line(base):
    proc = subprocess.Popen(
        [*GRIDSSL, "info", str(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # `gridssl info R | true`: nothing reads the output
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "broken pipe" in lines[0], err
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [*GRIDSSL, "info", str(base)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "No space left" in lines[0], r.stderr


def test_D17_out_of_memory_is_one_line(base, capsys, monkeypatch):
    import gridssl.cli

    def hungry(args):
        raise MemoryError

    monkeypatch.setattr(gridssl.cli, "cmd_info", hungry)
    _one_line(capsys, 2, ["info", str(base)], "out of memory")


# ----------------------------------------------------------------------------- D19 demo


def test_D19_demo_checks_its_options_on_every_path(tmp_path, capsys):
    for argv in (["--steps", "-5"], ["--seed", "x"], ["--steps", "-5", "--retrain"]):
        _one_line(capsys, 2, ["demo", "--out", str(tmp_path / "d"), "--quiet", *argv], "train.")
    assert not (tmp_path / "d").exists()


# ----------------------------------------------------------------------------- D18 score scales


def test_D18_score_refuses_extreme_scales_and_prints_standard_json(tmp_path, capsys):
    import numpy as np

    y, x = np.mgrid[0:30, 0:30] * 0.05
    hexagon = sum(
        np.cos(2 * np.pi / 0.5 * (np.cos(a) * x + np.sin(a) * y))
        for a in (0, np.pi / 3, 2 * np.pi / 3)
    )
    path = tmp_path / "maps.npy"
    np.save(path, np.stack([hexagon, np.full_like(hexagon, np.nan)]))
    for size in ("1e308", "1e7", "1e-7"):
        argv = ["score", str(path), "--bin-size", size, "--shuffles", "0", "--json"]
        _one_line(capsys, 2, argv, f"--bin-size '{size}' is not allowed")
    np.save(tmp_path / "small.npy", hexagon[None] * 1e-200)
    argv = ["score", str(tmp_path / "small.npy"), "--bin-size", "0.05", "--shuffles", "0"]
    _one_line(capsys, 2, argv, "below 1e-150")
    capsys.readouterr()
    assert main(["score", str(path), "--bin-size", "1e6", "--shuffles", "0", "--json"]) == 0

    def strict(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    res = json.loads(capsys.readouterr().out, parse_constant=strict)
    assert res["units"][0]["spacing_m"] == pytest.approx(
        0.5 * 2 / 3**0.5 / 0.05 * 1e6, rel=0.05
    )  # hexagonal: 2/sqrt(3) x wavelength
    assert res["units"][1]["grid_score"] is None  # the NaN unit: null, not NaN


def test_D1_a_trial_locked_by_another_process_is_left_for_a_rerun(tmp_path):
    """A trial whose directory another process holds (a worker of a killed sweep still
    training it) is reported busy, not final, and nothing of it is written."""
    from gridssl import sweep

    spec = sweep.parse_spec({"preset": "tiny", "seeds": [0]})
    (trial,) = sweep.make_trials(spec)
    run = tmp_path / "trials" / trial.name
    proc = _holder(run)
    try:
        rec = sweep.run_trial(spec.to_dict(), trial, str(tmp_path))
    finally:
        proc.kill()
        proc.wait(10)
    assert rec["status"] == "busy" and rec["status"] not in sweep.FINAL
    assert "is in use by" in rec["error"]
    assert sorted(p.name for p in run.iterdir()) == [rundir.LOCK]  # no trial.json, no run
