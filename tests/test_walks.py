"""Real trajectories in: the slow-step spread of the training data, the trajectory adapter, the
training range it reports, RatInABox paths, and the long-walk measure against ground truth."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from gridssl.analysis.longwalk import pv_correlation, pv_decay
from gridssl.analysis.synthetic import hex_map
from gridssl.config import AnalysisConfig, ConfigError, DataConfig, TrainConfig, load_config
from gridssl.data import (
    Arena,
    TrainingRange,
    draw_batch,
    sic_batch,
    slow_down,
    smooth_trajectories,
    steps_from_positions,
)
from gridssl.train import make_scheduler

# ----------------------------------------------------------------------------- training data


def test_slow_fraction_spreads_speeds_and_keeps_directions():
    g = torch.Generator().manual_seed(0)
    v = sic_batch(1, 20000, 0.15, "independent", g, "disk").velocities[0]
    s = slow_down(v, 0.3, 0.003, 0.15, torch.Generator().manual_seed(1))
    changed = ~torch.isclose(s.norm(dim=-1), v.norm(dim=-1))
    assert abs(float(changed.float().mean()) - 0.3) < 0.02
    cos = (s * v).sum(-1) / (s.norm(dim=-1) * v.norm(dim=-1))
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-4)  # same directions
    r = s[changed].norm(dim=-1)
    assert r.min() >= 0.003 - 1e-7 and r.max() <= 0.15 + 1e-7
    # log-uniform: each decade of [0.003, 0.15] holds its share (log 10 / log 50 = 0.589)
    share = float(((r > 0.003) & (r < 0.03)).float().mean())
    assert abs(share - math.log(10) / math.log(50)) < 0.03
    # far more steps below 1 cm than the disk gives (0.4%)
    assert float((s.norm(dim=-1) < 0.01).float().mean()) > 0.08
    assert float((v.norm(dim=-1) < 0.01).float().mean()) < 0.01


def test_slow_fraction_zero_leaves_the_batch_stream_unchanged():
    d = DataConfig(batch_size=8, seq_len=10, velocity_dist="disk")
    a = draw_batch(d, 0, torch.Generator().manual_seed(3))
    b = sic_batch(8, 10, 0.15, "permutation", torch.Generator().manual_seed(3), "disk")
    assert torch.equal(a.velocities, b.velocities)
    slow = draw_batch(
        DataConfig(batch_size=8, seq_len=10, velocity_dist="disk", slow_fraction=0.5),
        0,
        torch.Generator().manual_seed(3),
    )
    assert torch.equal(slow.velocities, slow.distinct[slow.index])  # still permutations
    assert torch.allclose(slow.positions[:, -1], slow.positions[0, -1].expand(8, 2), atol=1e-5)


def test_slow_steps_start_at_slow_from_step():
    d = DataConfig(batch_size=4, seq_len=200, velocity_dist="disk", slow_fraction=0.5)
    late = dataclasses.replace(d, slow_from_step=100)
    plain = dataclasses.replace(d, slow_fraction=0.0)
    for step, same_as in ((99, plain), (100, d)):
        a = draw_batch(late, step, torch.Generator().manual_seed(0))
        b = draw_batch(same_as, step, torch.Generator().manual_seed(0))
        assert torch.equal(a.velocities, b.velocities)
    assert float((a.velocities.norm(dim=-1) < 0.01).float().mean()) > 0.1


def test_slow_phase_has_its_own_sequence_length_and_batch_size():
    d = DataConfig(
        batch_size=8,
        seq_len=20,
        velocity_dist="disk",
        slow_fraction=0.3,
        slow_from_step=50,
        slow_seq_len=40,
        slow_batch_size=4,
    )
    early = draw_batch(d, 49, torch.Generator().manual_seed(0))
    late = draw_batch(d, 50, torch.Generator().manual_seed(0))
    assert early.velocities.shape == (8, 20, 2) and late.velocities.shape == (4, 40, 2)
    assert late.distinct.shape == (40, 2)  # permutations of one 40-step base sequence
    ends = late.positions[:, -1]
    assert torch.allclose(ends, ends[0].expand(4, 2), atol=1e-5)
    # unset, the slow phase keeps the batch shape (the curriculum's T, batch_size)
    plain = dataclasses.replace(d, slow_seq_len=0, slow_batch_size=0)
    assert draw_batch(plain, 50, torch.Generator().manual_seed(0)).velocities.shape == (8, 20, 2)
    assert TrainingRange.of(d).seq_len == 40


def test_slow_pair_stride_applies_in_the_slow_phase_and_is_bounded():
    d = DataConfig(slow_from_step=50, slow_seq_len=40, slow_pair_stride=5)
    assert [d.pair_stride_at(s) for s in (0, 49, 50, 9999)] == [1, 1, 5, 5]
    assert DataConfig(slow_pair_stride=5).pair_stride_at(0) == 5  # slow phase from step 0
    load_config("cpu", overrides=["data.slow_seq_len=40", "data.slow_pair_stride=20"])
    with pytest.raises(ConfigError, match="data.slow_pair_stride = 21 .* at most 20"):
        load_config("cpu", overrides=["data.slow_seq_len=40", "data.slow_pair_stride=21"])
    with pytest.raises(ConfigError, match="data.slow_pair_stride = 11 .* at most 10"):
        load_config("cpu", overrides=["data.slow_seq_len=0", "data.slow_pair_stride=11"])  # T 20
    with pytest.raises(ConfigError, match="data.slow_pair_stride = 41 .* at most 40"):
        load_config("cpu", overrides=["data.slow_pair_stride=41"])  # the preset's slow T 80
    with pytest.raises(ConfigError, match="data.slow_pair_stride = 0"):
        load_config("cpu", overrides=["data.slow_pair_stride=0"])


def _lr_trace(cfg: TrainConfig, n: int) -> np.ndarray:
    """The learning rate of the first ``n`` optimiser steps under ``cfg``'s schedule."""
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW(p, lr=cfg.lr)
    sched, seen = make_scheduler(opt, cfg), []
    for _ in range(n):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(seen)


def test_warmup_ramps_the_learning_rate_then_follows_the_schedule():
    t = TrainConfig(lr=1e-3, schedule="cosine", steps=1000, min_lr=1e-5, warmup_steps=100)
    t0 = TrainConfig(lr=1e-3, schedule="cosine", steps=1000, min_lr=1e-5)
    lrs = {"warm": _lr_trace(t, 300), "plain": _lr_trace(t0, 300)}
    assert lrs["warm"][0] == pytest.approx(1e-5) and lrs["warm"][49] == pytest.approx(
        0.5 * lrs["plain"][49], rel=1e-6
    )
    assert np.all(np.diff(lrs["warm"][:100]) > 0)
    np.testing.assert_allclose(lrs["warm"][99:], lrs["plain"][99:], rtol=1e-12)
    const = TrainConfig(lr=1e-3, schedule="constant", warmup_steps=10)
    assert _lr_trace(const, 21)[20] == pytest.approx(1e-3)  # after the 20 scheduler steps


# ----------------------------------------------------------------------------- the adapter


def test_steps_from_positions_round_trips():
    rng = np.random.default_rng(0)
    pos = np.cumsum(rng.normal(0, 0.01, (3, 500, 2)), axis=1) + np.array([1.0, 1.0])
    # origin None: the first sample is the start
    w = steps_from_positions(pos)
    assert w.velocities.shape == (3, 499, 2) == w.positions.shape
    back = pos[:, :1] + np.cumsum(w.velocities.double().numpy(), axis=1)
    np.testing.assert_allclose(back, pos[:, 1:], atol=1e-5)
    np.testing.assert_allclose(w.positions.numpy(), pos[:, 1:] - pos[:, :1], atol=1e-5)
    # an origin puts back the start a simulator leaves out: the first step leaves it
    one = steps_from_positions(pos[0], origin=(1.0, 1.0))
    assert one.velocities.shape == (1, 500, 2)
    np.testing.assert_allclose(one.positions[0].numpy(), pos[0] - 1.0, atol=1e-6)
    np.testing.assert_allclose(one.velocities[0, 0].numpy(), pos[0, 0] - 1.0, atol=1e-6)


def test_resampling_gives_equal_steps_along_the_path():
    t = np.linspace(0, 2 * np.pi, 2001)
    circle = np.stack([np.cos(t), np.sin(t)], -1) * 0.5  # 3.14 m of path, 1.6 mm samples
    w = steps_from_positions(circle, step_length=0.08)
    assert w.velocities.shape[1] == int(np.pi / 0.08)
    np.testing.assert_allclose(w.step_lengths.numpy(), 0.08, rtol=2e-3)
    # every resampled point lies on the circle (relative to the start (0.5, 0))
    r = (w.positions[0].double().numpy() + [0.5, 0]).__pow__(2).sum(-1) ** 0.5
    np.testing.assert_allclose(r, 0.5, atol=1e-4)
    with pytest.raises(ValueError, match="longer than the walk"):
        steps_from_positions(circle[:10], step_length=1.0)
    with pytest.raises(ValueError, match="NaN"):
        steps_from_positions(np.full((5, 2), np.nan))


def test_training_range_names_walks_outside_it():
    # the disk of radius 0.15 m/step alone: almost no steps below 1 cm
    disk = TrainingRange.of(DataConfig(velocity_dist="disk", max_speed=0.15))
    assert 0.005 < disk.step_lo < 0.03 and 0.13 < disk.step_hi <= 0.15
    # the cpu preset adds 30% slow velocities late in training, in walks of 80 steps: its range
    # reaches lower and longer
    cfg = load_config(preset="cpu")
    tr = TrainingRange.of(cfg.data)
    assert tr.step_lo < 0.004 and 0.13 < tr.step_hi <= 0.15 and tr.seq_len == 80
    v, x = smooth_trajectories(4, 20, Arena(2.0), torch.Generator().manual_seed(0), step_mean=0.08)
    from gridssl.data import Walk

    assert tr.check(Walk(v, x)) is None
    slow_v, slow_x = smooth_trajectories(4, 400, Arena(2.0), torch.Generator(), step_mean=0.005)
    line = tr.check(Walk(slow_v, slow_x))
    assert line is not None and "\n" not in line
    assert "outside" in line and "400 steps long" in line and "sequences of 80 steps" in line
    # a spread of speed scales widens the trained range downwards
    slow = TrainingRange.of(DataConfig(velocity_dist="disk", slow_fraction=0.3))
    assert slow.step_lo < 0.004


def test_walk_for_a_network_warns_in_one_line_outside_its_range():
    import warnings

    import gridssl
    from gridssl.data import walk_for

    net = gridssl.load("pretrained")
    _, fast = smooth_trajectories(2, 20, Arena(2.0), torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the range: no warning at all
        walk_for(net, fast.numpy(), origin=(0.0, 0.0))
    _, slow = smooth_trajectories(2, 300, Arena(2.0), torch.Generator(), step_mean=0.005)
    with pytest.warns(UserWarning, match="outside the training range") as rec:
        w = walk_for(net, slow.numpy(), origin=(0.0, 0.0))
    assert len(rec) == 1 and "\n" not in str(rec[0].message) and w.velocities.shape == (2, 300, 2)


def test_ratinabox_path_goes_through_the_adapter():
    pytest.importorskip("ratinabox")
    import gridssl
    from gridssl.data import ratinabox_positions

    pos, origin = ratinabox_positions(seconds=20, dt=0.05, box=2.0, seed=1)
    assert pos.shape == (1, 400, 2) and origin == (1.0, 1.0)
    w = steps_from_positions(pos, origin=origin)
    assert 0.002 < float(w.step_lengths.mean()) < 0.01  # about 0.5 cm per 50 ms step
    assert float(w.positions.abs().max()) <= 1.0
    states = gridssl.load("pretrained").rollout(w.velocities)
    assert states.shape == (1, 400, 48)
    again, _ = ratinabox_positions(seconds=20, dt=0.05, box=2.0, seed=1)
    assert torch.equal(pos, again)  # seeded


# ----------------------------------------------------------------------------- long walks


def _hex_code(n_units=24, size=2.0, bin_size=0.05, seed=0):
    rng = np.random.default_rng(seed)
    nb = round(size / bin_size)
    maps = np.stack(
        [hex_map(nb, bin_size, 0.6, 10.0, phase=rng.uniform(0, 1, 2)) for _ in range(n_units)]
    )
    return maps, (-size / 2, size / 2, -size / 2, size / 2)


def test_pv_correlation_is_one_on_track_and_zero_when_lost():
    maps, box = _hex_code()
    rng = np.random.default_rng(1)
    pos = rng.uniform(-0.99, 0.99, (2, 3000, 2))
    ix = ((pos - box[0]) / 0.05).astype(int)
    on_track = maps[:, ix[..., 1], ix[..., 0]].transpose(1, 2, 0)  # (2, 3000, U)
    assert np.nanmin(pv_correlation(pos, on_track, maps, box, 0.05)) > 0.999
    # lost after step 1000: the states belong to other places
    lost = on_track.copy()
    lost[:, 1000:] = on_track[:, rng.permutation(3000)[:2000]]
    d = pv_decay(pos, lost, maps, box, 0.05, windows=6)
    assert d.correlation[0] > 0.999 and abs(d.last) < 0.1
    assert list(d.window_steps) == [250, 750, 1250, 1750, 2250, 2750]
    # a constant offset in every unit's rate (non-negative states) adds nothing by itself
    flat = np.ones_like(on_track) * maps.mean(axis=(1, 2))
    noisy = flat + rng.normal(0, 0.01, flat.shape)
    assert abs(np.nanmean(pv_correlation(pos, noisy, maps, box, 0.05))) < 0.05


def test_long_walk_stage_on_the_shipped_network():
    import gridssl
    from gridssl import pipeline as P

    cfg = AnalysisConfig(
        arenas=(2.0,),
        shuffles=0,
        samples_per_bin=20,
        long_walk_steps=300,
        long_walk_count=2,
        long_walk_step_means=(0.08, 0.005),
        ratinabox_seconds=5.0,
    )
    net = gridssl.load("pretrained")
    pops = P.population(P.rollout(net, cfg), cfg)
    lw = P.long_walks(net, pops, cfg)
    names = [w.name for w in lw.walks]
    assert names[:2] == ["8 cm", "0.5 cm"]
    fast = lw.walks[0]
    assert fast.decay.steps == 300 and len(fast.decay.correlation) == cfg.long_walk_windows
    assert 0.06 < fast.step_mean < 0.09 and 0 <= fast.grid_fraction <= 1
    # from the origin the network is on track at first
    assert fast.decay.correlation[0] > 0.7
    # standing still after 20 steps to a place: on track on arrival, and measured over the stand
    assert lw.still.steps == cfg.still_steps + 1 and lw.still.correlation[0] > 0.7


def test_training_passes_the_slow_pair_stride(tmp_path):
    """One optimiser step of the same batch: from slow_from_step on, the logged pair losses are
    those of every k-th state (the step would otherwise train a setting it ignores)."""
    from gridssl.losses import sic_loss
    from gridssl.train import Trainer

    logs = {}
    for k in (1, 3):
        cfg = load_config(
            "tiny",
            overrides=["data.slow_seq_len=12", f"data.slow_pair_stride={k}"],
            train__steps=2,
        )
        tr = Trainer.create(cfg, tmp_path / f"k{k}", "tests/test_walks.py")
        net0 = {n: p.detach().clone() for n, p in tr.net.named_parameters()}
        gen0 = tr.data_gen.get_state()
        logs[k] = tr.train_step(health=False)
        with torch.no_grad():  # the same batch and weights, the loss recomputed by hand
            for n, p in tr.net.named_parameters():
                p.copy_(net0[n])
            batch = draw_batch(cfg.data, 0, torch.Generator().set_state(gen0))
            states = tr.net.rollout_batch(batch)
            t = sic_loss(
                states, batch.positions, batch.velocities, tr.net.g0(), cfg.loss, pair_stride=k
            )
        assert logs[k]["seq_len"] == 12
        assert logs[k]["sep"] == pytest.approx(float(t.sep), rel=1e-5)
        assert logs[k]["inv"] == pytest.approx(float(t.inv), rel=1e-5, abs=1e-9)
    assert logs[1]["sep"] != pytest.approx(logs[3]["sep"], rel=1e-4)


def _gated_run(tmp_path, monkeypatch, name, grid_at, until=None, resume=False):
    """A tiny run whose in-training evaluation reports ``grid_at(step)`` as its grid fraction;
    the slow phase (T 12 instead of 10) is gated at 0.4 from step 15."""
    from gridssl import train

    monkeypatch.setattr(
        train, "quick_eval", lambda net, cfg, step: {"grid_fraction": grid_at(step)}
    )
    run = tmp_path / name
    if resume:
        tr = train.Trainer.resume(run)
    else:
        cfg = load_config(
            "tiny",
            overrides=[
                "data.slow_from_step=15",
                "data.slow_seq_len=12",
                "data.slow_gate=0.4",
                "train.eval_every=5",
                "train.log_every=1",
                "train.threads=1",
            ],
        )
        tr = train.Trainer.create(cfg, run)
    with tr:
        tr.fit(progress=False, until=until)
    from gridssl.checkpoint import read_metrics

    return read_metrics(run)


def test_a_gated_slow_phase_begins_at_the_first_passing_evaluation(tmp_path, monkeypatch):
    """Evaluations at 5, 10, ...: grid 0.9 at 5 and 10 (before slow_from_step: no effect), 0.1
    at 15 and 20, 0.5 from 25 on: the slow phase's first batch is the one after step 25's
    evaluation (optimiser step 26), and the row of step 25 records where it began."""

    def grid(s):
        return 0.9 if s <= 10 else (0.1 if s < 25 else 0.5)

    rows = _gated_run(tmp_path, monkeypatch, "gated", grid)
    T = {r["step"]: r["seq_len"] for r in rows}
    assert all(T[s] == 10 for s in range(1, 26)) and all(T[s] == 12 for s in range(26, 41))
    assert [r["step"] for r in rows if "slow_start" in r] == [25]
    never = _gated_run(tmp_path, monkeypatch, "never", lambda s: 0.0)
    assert {r["seq_len"] for r in never} == {10}


def test_a_gated_slow_phase_survives_a_resume(tmp_path, monkeypatch):
    """Stopped at step 30 (after the gate opened at 25) and resumed: every logged value and the
    final weights equal the uninterrupted run's; the start is read back from the checkpoint."""

    def grid(s):
        return 0.5 if s >= 25 else 0.0

    full = _gated_run(tmp_path, monkeypatch, "full", grid)
    _gated_run(tmp_path, monkeypatch, "part", grid, until=30)
    part = _gated_run(tmp_path, monkeypatch, "part", grid, resume=True)
    clock = ("steps_per_s", "train_s")
    full, part = ([{k: v for k, v in r.items() if k not in clock} for r in x] for x in (full, part))
    assert full == part
    sa = torch.load(tmp_path / "full" / "checkpoints" / "step_00000040.pt", weights_only=True)
    sb = torch.load(tmp_path / "part" / "checkpoints" / "step_00000040.pt", weights_only=True)
    assert sa["slow_start"] == sb["slow_start"] == 25
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])


def test_slow_gate_needs_the_in_training_evaluation():
    with pytest.raises(
        ConfigError, match="data.slow_gate = 0.3 is not allowed with train.eval_every = 0"
    ):
        load_config("cpu", overrides=["data.slow_gate=0.3", "train.eval_every=0"])
    with pytest.raises(ConfigError, match="data.slow_gate = 1.5"):
        load_config("cpu", overrides=["data.slow_gate=1.5"])


def test_still_fraction_sets_that_share_of_the_slow_phases_steps_to_zero():
    d = DataConfig(
        batch_size=4, seq_len=2000, velocity_dist="disk", slow_fraction=0.3, slow_from_step=10
    )
    still = dataclasses.replace(d, still_fraction=0.2)
    early = draw_batch(still, 9, torch.Generator().manual_seed(0))
    late = draw_batch(still, 10, torch.Generator().manual_seed(0))
    plain = draw_batch(d, 10, torch.Generator().manual_seed(0))
    assert (early.distinct.norm(dim=-1) == 0).sum() == 0  # only in the slow phase
    zero = late.distinct.norm(dim=-1) == 0
    assert abs(float(zero.float().mean()) - 0.2) < 0.03
    # the other steps are the slow phase's own: the zeros are drawn after them
    assert torch.equal(late.distinct[~zero], plain.distinct[~zero])
    # a zero step leaves the position where it was
    steps = late.positions.diff(dim=1).norm(dim=-1)
    assert bool((steps[late.velocities[:, 1:].norm(dim=-1) == 0] == 0).all())
    assert TrainingRange.of(still).step_lo == 0.0 < TrainingRange.of(d).step_lo
    with pytest.raises(ConfigError, match="data.still_fraction = 0.6"):
        load_config("cpu", overrides=["data.still_fraction=0.6"])


def test_hold_keeps_the_peak_then_the_cosine_decays_over_the_rest():
    def lrs(**kw):
        return _lr_trace(
            TrainConfig(lr=1e-3, schedule="cosine", steps=1000, min_lr=1e-5, **kw), 1000
        )

    def cosine(s, span):  # by hand, from the peak 1e-3 to the floor 1e-5
        return 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + np.cos(np.pi * s / span))

    plain, held = lrs(), lrs(hold_steps=400, warmup_steps=100)
    np.testing.assert_allclose(plain, cosine(np.arange(1000), 1000), rtol=1e-12)
    assert np.all(np.diff(held[:100]) > 0) and held[0] == pytest.approx(1e-5)
    np.testing.assert_allclose(held[100:401], 1e-3, rtol=1e-12)
    np.testing.assert_allclose(held[400:], cosine(np.arange(600), 600), rtol=1e-12)
    load_config("cpu", overrides=["train.hold_steps=13999"])
    with pytest.raises(ConfigError, match="train.hold_steps = 14000 is not allowed"):
        load_config("cpu", overrides=["train.hold_steps=14000"])
