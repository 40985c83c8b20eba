import torch

from gridssl.data import Arena, sic_batch, smooth_trajectories


def test_permutation_batch_shares_velocities_and_end_point():
    g = torch.Generator().manual_seed(0)
    b = sic_batch(16, 12, 0.15, "permutation", g)
    assert b.velocities.shape == (16, 12, 2) and b.distinct.shape == (12, 2)
    assert torch.equal(b.velocities, b.distinct[b.index])
    # every row is a permutation of the same base sequence
    assert torch.equal(b.index.sort(dim=1).values, torch.arange(12).expand(16, 12))
    assert torch.allclose(b.positions[:, -1], b.positions[0, -1].expand(16, 2), atol=1e-5)
    assert torch.allclose(b.positions, b.velocities.cumsum(1))
    assert b.velocities.abs().max() <= 0.15
    assert len({tuple(r.tolist()) for r in b.index}) > 1  # not all the same order


def test_modes_and_seeding():
    ind = sic_batch(4, 5, 0.1, "independent", torch.Generator().manual_seed(1))
    assert ind.distinct.shape == (20, 2) and not torch.allclose(ind.positions[0], ind.positions[1])
    same = sic_batch(4, 5, 0.1, "identity", torch.Generator().manual_seed(1))
    assert torch.equal(same.velocities[0], same.velocities[3])
    a = sic_batch(4, 5, 0.1, "permutation", torch.Generator().manual_seed(3))
    b = sic_batch(4, 5, 0.1, "permutation", torch.Generator().manual_seed(3))
    assert torch.equal(a.velocities, b.velocities)


def test_smooth_trajectories_stay_in_arena_and_are_smooth():
    g = torch.Generator().manual_seed(0)
    arena = Arena(2.0)
    v, x = smooth_trajectories(64, 800, arena, g, step_mean=0.04)  # slow walk
    assert v.shape == x.shape == (64, 800, 2)
    assert x.abs().max() <= 1.0 + 1e-6
    assert torch.allclose(x, v.cumsum(1), atol=1e-4)  # starts at the origin
    speed = v.norm(dim=-1)
    assert 0.025 < speed.mean() < 0.045
    # smooth: successive headings mostly turn by less than 60 degrees
    cos = (v[:, 1:] * v[:, :-1]).sum(-1) / (speed[:, 1:] * speed[:, :-1]).clamp_min(1e-9)
    assert (cos > 0.5).float().mean() > 0.9
    # covers the arena: most 20 cm cells visited
    cells = ((x.reshape(-1, 2) + 1) / 0.2).long().clamp(0, 9)
    assert len({(int(a), int(b)) for a, b in cells}) >= 90


def test_disk_velocities_are_isotropic_and_bounded():
    b = sic_batch(4, 4000, 0.15, "independent", torch.Generator().manual_seed(0), "disk")
    v = b.velocities.reshape(-1, 2)
    r = v.norm(dim=-1)
    assert r.max() <= 0.15 + 1e-6
    assert abs(float((r < 0.075).float().mean()) - 0.25) < 0.02  # uniform in area
    ang = torch.atan2(v[:, 1], v[:, 0])
    hist = torch.histc(ang, bins=8, min=-3.1416, max=3.1416) / len(ang)
    assert (hist - 1 / 8).abs().max() < 0.02
