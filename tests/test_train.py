import json

import torch

import gridssl
from gridssl.checkpoint import checkpoints, read_metrics
from gridssl.cli import main


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["train", "--preset", "tiny", "--out", str(out), "--quiet", *extra]) == 0
    return out


def test_tiny_run_writes_a_complete_run_directory(tmp_path):
    run = _run(tmp_path, "t")
    for f in ("config.yaml", "meta.json", "metrics.jsonl"):
        assert (run / f).exists()
    assert any((run / "tb").iterdir())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["seed"] == 0 and "git_commit" in meta and "torch_version" in meta
    m = read_metrics(run)
    assert [r["step"] for r in m] == list(range(5, 41, 5))
    assert {"total", "sep", "inv", "cap", "iso", "lr", "end_spread", "dead_units"} <= set(m[-1])
    assert "eval_grid_fraction" in m[-1]
    assert [p.name for p in checkpoints(run)] == [f"step_{s:08d}.pt" for s in (20, 30, 40)]
    assert (run / "checkpoints" / "best.pt").exists()
    assert not list(run.rglob("*.tmp"))
    net = gridssl.load(run)
    states = net.rollout(torch.zeros(2, 5, 2))
    assert states.shape == (2, 5, 16)


def test_resume_gives_the_same_run_as_uninterrupted(tmp_path):
    full = _run(tmp_path, "full")
    part = _run(tmp_path, "part", "--steps", "20")
    assert main(["train", "--resume", str(part), "--steps", "40", "--quiet"]) == 0
    a, b = read_metrics(full), read_metrics(part)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        for k in ("total", "sep", "inv", "cap", "iso", "lr"):
            assert ra[k] == rb[k], (ra["step"], k)
    sa = torch.load(checkpoints(full)[-1], weights_only=False)["model"]
    sb = torch.load(checkpoints(part)[-1], weights_only=False)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_drops_metrics_after_the_checkpoint(tmp_path):
    run = _run(tmp_path, "r", "--steps", "20")
    with open(run / "metrics.jsonl", "a") as f:  # as if it crashed after logging step 25
        f.write(json.dumps({"step": 25, "total": 0.0}) + "\n")
    assert main(["train", "--resume", str(run), "--steps", "30", "--quiet"]) == 0
    steps = [r["step"] for r in read_metrics(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 30


def test_curriculum_and_cosine_schedule(tmp_path):
    from gridssl.data import seq_len_at

    assert [seq_len_at(s, 10, 30, 100) for s in (0, 50, 100, 500)] == [10, 20, 30, 30]
    assert seq_len_at(77, 10, 0, 100) == 10
    run = _run(
        tmp_path,
        "c",
        "--set",
        "data.seq_len_final=14",
        "--set",
        "data.curriculum_steps=20",
        "--set",
        "train.schedule=cosine",
        "--set",
        "train.min_lr=1e-4",
    )
    m = read_metrics(run)
    assert m[0]["seq_len"] == 11 and m[-1]["seq_len"] == 14  # batches of steps 4 and 39 (0-based)
    lrs = [r["lr"] for r in m]
    assert lrs == sorted(lrs, reverse=True) and abs(lrs[-1] - 1e-4) < 1e-9


def _warm(out, src, *extra):
    args = ["train", "--preset", "tiny", "--out", str(out), "--quiet", "--init-from", str(src)]
    return main([*args, *extra])


def test_init_from_copies_weights_only(tmp_path, capsys):
    src = _run(tmp_path, "src", "--steps", "10")
    out = tmp_path / "warm"
    assert _warm(out, src, "--steps", "1", "--set", "train.lr=1e-12") == 0
    a, b = gridssl.load(src).state_dict(), gridssl.load(out).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    bad = tmp_path / "bad"
    assert _warm(bad, src, "--set", "model.n_units=8") == 2
    assert "does not fit" in capsys.readouterr().err and not bad.exists()
