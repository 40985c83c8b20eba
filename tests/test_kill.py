"""10 kill -9s at random moments of a cpu-preset run, each followed by --resume: the metrics and
the final weights equal those of an uninterrupted run (make test-slow)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gridssl.checkpoint import checkpoints, read_metrics

ARGS = [
    "--steps", "300",
    "--set", "train.ckpt_every=25",
    "--set", "train.log_every=5",
    "--set", "train.eval_every=100",
    "--set", "train.threads=1",  # bitwise reproducible (see test_train's thread-count test)
]  # fmt: skip


def _gridssl(*args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gridssl.cli", "train", "--quiet", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_ten_kill_9s_lose_nothing(tmp_path):
    full, run = tmp_path / "full", tmp_path / "run"
    assert _gridssl("--preset", "cpu", "--out", str(full), *ARGS).wait(timeout=900) == 0
    rng = np.random.default_rng(0)
    proc = _gridssl("--preset", "cpu", "--out", str(run), *ARGS)
    kills = 0
    while kills < 10:
        time.sleep(rng.uniform(2.0, 6.0))  # process start-up is ~2 s of each
        if proc.poll() is not None:  # finished before the kill: start it over from the top
            assert proc.returncode == 0, proc.stderr.read()
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        if (run / "config.yaml").exists():
            proc = _gridssl("--resume", str(run))
        else:  # killed before the run directory was complete: nothing to resume
            for p in sorted(run.rglob("*"), reverse=True) if run.exists() else []:
                p.unlink() if p.is_file() else p.rmdir()
            run.rmdir() if run.exists() else None
            proc = _gridssl("--preset", "cpu", "--out", str(run), *ARGS)
    assert proc.wait(timeout=900) == 0, proc.stderr.read()
    assert kills == 10, f"the run finished after {kills} kills: lengthen it"
    ma, mb = read_metrics(full), read_metrics(run)
    assert [r["step"] for r in mb] == [r["step"] for r in ma]  # no duplicated or lost lines
    for ra, rb in zip(ma, mb):
        ra, rb = dict(ra), dict(rb)
        for clock in ("steps_per_s", "train_s"):  # wall-clock, not training state
            ra.pop(clock), rb.pop(clock)
        assert ra == rb, ra["step"]
    sa = torch.load(checkpoints(full)[-1], weights_only=True)["model"]
    sb = torch.load(checkpoints(run)[-1], weights_only=True)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
