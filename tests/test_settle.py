"""train.settle_window: a long trial ends once its in-training evaluation has settled (issue 21),
the step is kept in the checkpoint, and a resume of the run trains no further unless the window
is switched off. The rule itself (gridssl.train.settled) is checked on planted curves."""

import pytest
import torch

from gridssl.checkpoint import checkpoints, read_metrics
from gridssl.cli import main
from gridssl.config import ConfigError, load_config
from gridssl.train import settled

# tiny preset: 40 steps, metrics every 5, checkpoints every 10; evaluations every 5 here
SETTLE = ["--set", "train.eval_every=5", "--set", "train.settle_window=15"]


def _evaluation(level):
    """A stand-in for quick_eval whose grid fraction is level(step) (the rest fixed)."""

    def fake(net, cfg, step):
        g = level(step)
        return dict(grid_fraction=g, above_threshold=g, score_median=0.5, score_max=1.0,
                    multi_field=0.5)  # fmt: skip

    return fake


def _train(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["train", "--preset", "tiny", "--out", str(out), "--quiet", *SETTLE, *extra]) == 0
    return out


def test_a_settled_evaluation_ends_training_at_the_first_step_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr("gridssl.train.quick_eval", _evaluation(lambda s: 0.4))
    run = _train(tmp_path, "flat", "--set", "train.settle_min_steps=25")
    rows = read_metrics(run)
    # evaluations at 5, 10, ...: the window of 15 steps holds 4 of them from step 20 on, but
    # settle_min_steps holds training to step 25
    assert rows[-1]["step"] == 25 and rows[-1]["settled_at"] == 25
    assert not any("settled_at" in r for r in rows[:-1])
    newest = checkpoints(run)[-1]
    assert newest.name == "step_00000025.pt"
    assert torch.load(newest, weights_only=False)["settled_at"] == 25
    # resumed (say by a rerun of its sweep): nothing more is trained or logged
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert read_metrics(run) == rows
    # with the window switched off, the resume trains on to train.steps
    assert main(["train", "--resume", str(run), "--quiet", "--set", "train.settle_window=0"]) == 0
    assert read_metrics(run)[-1]["step"] == 40


def test_an_evaluation_that_still_changes_trains_to_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr("gridssl.train.quick_eval", _evaluation(lambda s: s / 40))
    rows = read_metrics(_train(tmp_path, "rising"))
    assert rows[-1]["step"] == 40 and not any("settled_at" in r for r in rows)


def test_the_window_must_hold_four_evaluations():
    with pytest.raises(ConfigError, match="train.settle_window = 10 is not allowed"):
        load_config("tiny", overrides=["train.eval_every=5", "train.settle_window=10"])
    with pytest.raises(ConfigError, match="train.eval_every = 0"):
        load_config("tiny", overrides=["train.eval_every=0", "train.settle_window=100"])
    assert load_config("tiny", overrides=["train.eval_every=5", "train.settle_window=15"])


def test_settled_reads_the_trend_of_the_last_window_not_its_noise():
    """Every 1000 steps to 40000: a code that jitters by +-0.15 around a fixed level is settled
    over the last 10000 steps; one still rising by 0.03 per 1000 steps is not; a run shorter
    than the window cannot tell."""

    def run(level):
        return [
            {
                "step": s,
                "eval_grid_fraction": level(s) + (0.15 if (s // 1000) % 2 else -0.15),
                "eval_multi_field": 0.5,
                "eval_score_median": 1.0,
            }
            for s in range(1000, 40001, 1000)
        ]

    assert settled(run(lambda s: 0.5), 10000) is True
    assert settled(run(lambda s: 0.03 * s / 1000 - 0.5), 10000) is False
    assert settled(run(lambda s: 0.5)[:8], 10000) is None
    rising_score = run(lambda s: 0.5)
    for m in rising_score:
        m["eval_score_median"] = m["step"] / 20000  # +0.25 between the halves' means
    assert settled(rising_score, 10000) is False
