"""Synthetic spatial codes with known ground truth, for testing the analysis.

Every map uses the image convention ``[y, x]`` and positions in metres. The lattice
orientation convention (used by the whole analysis package): the angle, in degrees in
``[0, 60)``, of the lattice vector (centre-to-nearest-peak direction) measured anticlockwise
from the +x axis. The three wave-vectors of a hexagonal grid then lie at
``orientation + 30 + {0, 60, 120}`` degrees, with ``|k| = 4 pi / (sqrt(3) spacing)``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def bin_centres(n_bins: int, bin_size: float) -> np.ndarray:
    """Centres (ny, nx, 2) of an n_bins x n_bins map of square bins, in metres, centred on 0."""
    c = (np.arange(n_bins) - (n_bins - 1) / 2) * bin_size
    x, y = np.meshgrid(c, c)  # x varies along columns, y along rows: [y, x]
    return np.stack([x, y], axis=-1)


def hex_wavevectors(spacing: float, orientation_deg: float) -> np.ndarray:
    """The three wave-vectors (3, 2), rad/m, of a hexagonal grid of given spacing, orientation."""
    k = 4 * np.pi / (np.sqrt(3) * spacing)
    ang = np.deg2rad(orientation_deg + 30 + np.array([0.0, 60.0, 120.0]))
    return k * np.stack([np.cos(ang), np.sin(ang)], axis=-1)


def hex_field(
    xy: np.ndarray, spacing: float, orientation_deg: float, phase=(0.0, 0.0)
) -> np.ndarray:
    """Hexagonal grid activity in [0, 1] at positions xy (..., 2); peaks at ``phase`` + lattice."""
    kv = hex_wavevectors(spacing, orientation_deg)
    d = xy - np.asarray(phase, dtype=float)
    s = np.cos(d @ kv.T).sum(-1)  # in [-1.5, 3]
    return (s + 1.5) / 4.5


def hex_map(n_bins=40, bin_size=0.05, spacing=0.5, orientation_deg=0.0, phase=(0.0, 0.0)):
    """One hexagonal rate map (n_bins, n_bins)."""
    return hex_field(bin_centres(n_bins, bin_size), spacing, orientation_deg, phase)


def square_map(n_bins=40, bin_size=0.05, spacing=0.5, orientation_deg=0.0, phase=(0.0, 0.0)):
    """A square lattice: two orthogonal cosines, peaks ``spacing`` apart (one at ``phase``, m),
    in [0, 1]."""
    xy = bin_centres(n_bins, bin_size) - np.asarray(phase, dtype=float)
    k = 2 * np.pi / spacing
    a = np.deg2rad(orientation_deg)
    u = xy @ np.array([np.cos(a), np.sin(a)])
    w = xy @ np.array([-np.sin(a), np.cos(a)])
    return (np.cos(k * u) + np.cos(k * w) + 2) / 4


def stripe_map(n_bins=40, bin_size=0.05, spacing=0.5, orientation_deg=0.0, phase=(0.0, 0.0)):
    """Parallel bands ``spacing`` apart (a one-dimensional periodic code), one through ``phase``
    (m), in [0, 1]."""
    xy = bin_centres(n_bins, bin_size) - np.asarray(phase, dtype=float)
    a = np.deg2rad(orientation_deg)
    u = xy @ np.array([np.cos(a), np.sin(a)])
    return (np.cos(2 * np.pi * u / spacing) + 1) / 2


def noise_map(n_bins=40, smooth_bins=2.0, rng=None):
    """Gaussian-smoothed white noise, rescaled to [0, 1]."""
    rng = np.random.default_rng(rng)
    m = gaussian_filter(rng.standard_normal((n_bins, n_bins)), smooth_bins, mode="wrap")
    return (m - m.min()) / (m.max() - m.min())


def place_map(n_bins=40, bin_size=0.05, centre=(0.0, 0.0), width=0.15):
    """One compact Gaussian field of s.d. ``width`` metres at ``centre``."""
    xy = bin_centres(n_bins, bin_size)
    d2 = ((xy - np.asarray(centre)) ** 2).sum(-1)
    return np.exp(-d2 / (2 * width**2))


def modular_population(
    periods, units_per_module, orientations_deg=0.0, n_bins=40, bin_size=0.05, rng=None
):
    """Planted modules: hexagonal maps with shared period/orientation per module and random phases.

    Phases are uniform on a ``spacing`` x ``spacing`` square, which covers the rhombic unit cell
    about 1.15 times: not uniform on the unit cell (a phase-uniformity test may rightly reject
    them with many units).

    Returns ``maps (U, n, n)``, ``labels (U,)`` and ``phases (U, 2)`` in metres.
    """
    rng = np.random.default_rng(rng)
    periods = np.atleast_1d(np.asarray(periods, float))
    oris = np.broadcast_to(np.asarray(orientations_deg, float), periods.shape)
    xy = bin_centres(n_bins, bin_size)
    maps, labels, phases = [], [], []
    for m, (lam, ori) in enumerate(zip(periods, oris)):
        ph = rng.uniform(0, lam, size=(units_per_module, 2))
        for p in ph:
            maps.append(hex_field(xy, lam, ori, p))
        labels += [m] * units_per_module
        phases.append(ph)
    return np.stack(maps), np.asarray(labels), np.concatenate(phases)


def torus_activity(positions: np.ndarray, n_units=64, spacing=0.5, orientation_deg=0.0, rng=None):
    """One module's population activity (S, n_units) along positions (S, 2): a code on a 2-torus."""
    rng = np.random.default_rng(rng)
    ph = rng.uniform(0, spacing, size=(n_units, 2))
    kv = hex_wavevectors(spacing, orientation_deg)
    d = positions[:, None, :] - ph[None]  # (S, U, 2)
    s = np.cos(d @ kv.T).sum(-1)
    return (s + 1.5) / 4.5
