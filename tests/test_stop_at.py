"""train.stop_at: training ends at a step while the schedules keep the length of train.steps, so
that a resume with stop_at 0 goes on exactly as a run that never stopped (docs/RECIPE.md round
12's early-phase screens)."""

import pytest
import torch

from gridssl.checkpoint import checkpoints, read_metrics
from gridssl.cli import main
from gridssl.config import ConfigError, load_config

# tiny preset: 40 steps, metrics every 5, checkpoints every 10; a cosine schedule here so that
# the learning rate at a step tells which schedule length it follows
COSINE = ["--set", "train.schedule=cosine", "--set", "train.warmup_steps=5"]
CLOCKS = ("steps_per_s", "train_s")


def _rows(run):
    return [{k: v for k, v in r.items() if k not in CLOCKS} for r in read_metrics(run)]


def test_stop_at_ends_early_and_a_resume_goes_on_as_if_never_stopped(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train = ["train", "--preset", "tiny", "--quiet", *COSINE]
    assert main([*train, "--out", str(straight)]) == 0
    assert main([*train, "--out", str(stopped), "--set", "train.stop_at=20"]) == 0
    rows = _rows(stopped)
    assert rows[-1]["step"] == 20
    assert checkpoints(stopped)[-1].name == "step_00000020.pt"
    assert torch.load(checkpoints(stopped)[-1], weights_only=False)["step"] == 20
    # the schedule is the 40-step one: the same learning rates as the straight run so far
    assert rows == _rows(straight)[: len(rows)]
    # a resume of the stopped run keeps stopping there; with stop_at 0 it trains on to 40,
    # every row equal to the straight run's
    assert main(["train", "--resume", str(stopped), "--quiet"]) == 0
    assert _rows(stopped) == rows
    assert main(["train", "--resume", str(stopped), "--quiet", "--set", "train.stop_at=0"]) == 0
    assert _rows(stopped) == _rows(straight)


def test_stop_at_refuses_a_negative_step():
    with pytest.raises(ConfigError, match="train.stop_at"):
        load_config("tiny", overrides=["train.stop_at=-1"])
