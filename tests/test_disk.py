"""Disk problems: a full disk or a read-only folder during a checkpoint or report write gives one
line naming the path (exit 2), and no half-written file replaces a good one.

Tests run as root here, where chmod does not stop writes, so two methods are used: a real tiny
tmpfs (full, then remounted read-only) where mounting is allowed (skipped elsewhere), and, always,
a write that fails with ENOSPC part-way through (os.fdopen patched in gridssl.io).
"""

import errno
import io
import os
import shutil
import subprocess

import pytest
import torch

from gridssl.checkpoint import checkpoints, read_metrics
from gridssl.cli import main


def _tiny(tmp_path, name, *extra):
    out = tmp_path / name
    args = ["train", "--preset", "tiny", "--out", str(out), "--quiet"]
    assert main([*args, "--set", "train.eval_every=0", *extra]) == 0
    return out


class _FullDisk(io.FileIO):
    """A file that takes ``room`` bytes, then fails like a full disk."""

    room = 4096

    def write(self, b):
        if self.tell() + len(b) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(b)


def _full_disk(monkeypatch):
    import gridssl.io

    def fdopen(fd, mode="r", *a, **k):
        assert "b" in mode
        return _FullDisk(fd, mode.replace("b", ""), closefd=True)

    monkeypatch.setattr(gridssl.io.os, "fdopen", fdopen)


def _files(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_full_disk_during_a_checkpoint_write(tmp_path, monkeypatch, capsys):
    full = _tiny(tmp_path, "full", "--steps", "20")
    run = _tiny(tmp_path, "run", "--steps", "10")
    good = checkpoints(run)[-1].read_bytes()
    _full_disk(monkeypatch)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    target = run / "checkpoints" / "step_00000020.pt"
    assert err == [f"gridssl: error: cannot write {target}: No space left on device"]
    assert [p.name for p in checkpoints(run)] == ["step_00000010.pt"]
    assert checkpoints(run)[-1].read_bytes() == good
    assert not list(run.rglob("*.tmp"))
    monkeypatch.undo()  # space again: the run resumes from step 10 and loses nothing
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    a, b = read_metrics(full), read_metrics(run)
    assert [r["total"] for r in a] == [r["total"] for r in b]
    sa, sb = (torch.load(checkpoints(r)[-1], weights_only=True)["model"] for r in (full, run))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_full_disk_during_export_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    run = _tiny(tmp_path, "run", "--steps", "10")
    out = tmp_path / "model.pt"
    out.write_bytes(b"the good old file")
    _full_disk(monkeypatch)
    assert main(["export", str(run), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"gridssl: error: cannot write {out}: No space left on device"
    )
    assert out.read_bytes() == b"the good old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "run"]


def test_output_whose_folder_is_a_file(tmp_path, capsys):
    run = _tiny(tmp_path, "run", "--steps", "10")
    (tmp_path / "afile").write_text("x")
    assert main(["export", str(run), "--out", str(tmp_path / "afile" / "m.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write {tmp_path / 'afile' / 'm.pt'}" in err[0]


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 kB tmpfs, or a skip where mounting is not allowed."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], **_QUIET)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], **_QUIET)


_QUIET = dict(capture_output=True, timeout=30, check=False)


def test_real_full_and_read_only_filesystem(tmp_path, tiny_fs, capsys):
    run = _tiny(tmp_path, "run", "--steps", "10")
    # full: a 64 kB disk holding a good 40 kB file cannot take a 130 kB checkpoint
    (tiny_fs / "keep.bin").write_bytes(b"k" * 40_000)
    dst = tiny_fs / "ck.pt"
    dst.write_bytes(b"good")
    assert main(["export", str(run), "--out", str(dst), "--fp32"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"gridssl: error: cannot write {dst}: No space left on device"
    )
    assert dst.read_bytes() == b"good" and sorted(p.name for p in tiny_fs.iterdir()) == [
        "ck.pt",
        "keep.bin",
    ]
    # read-only: resuming a run that lies on a read-only folder changes nothing
    (tiny_fs / "keep.bin").unlink()
    dst.unlink()
    ro_run = tiny_fs / "run"
    ro_run.mkdir()
    for name in ("config.yaml", "metrics.jsonl"):
        shutil.copy(run / name, ro_run / name)
    r = subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], **_QUIET)
    assert r.returncode == 0, r.stderr
    before = _files(ro_run)
    assert main(["train", "--resume", str(ro_run), "--steps", "12", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Read-only file system" in err[0] and str(ro_run) in err[0], err
    assert _files(ro_run) == before
