"""Every active unit's spatial period and lattice type, and the modules they form.

The grid-cell analysis (``population``, ``modules``) sees only units that pass the grid-cell rule.
A code can instead be made of square lattices, bands or place-like fields, or hold a second module
whose units score poorly. This module classifies **every active unit** from the 2-D power spectrum
of its rate map and clusters the periodic ones by period (docs/MODULES.md, third round).

Per unit (maps ``(U, ny, nx)``, ``[y, x]`` images, NaN = unvisited, square bins of ``bin_size`` m):

1. The map's mean over visited bins is subtracted and unvisited bins set to 0; ``x`` is the
   result, ``n`` the number of visited bins. A unit is **active** when its s.d. over visited bins is
   at least ``active_fraction`` of the population's largest s.d.
2. Each wave-vector ``k`` (rad/m) is scored by the fraction of the map's variance a plane wave at
   ``k`` explains, ``e(k) = 2 |F(k)|^2 / (n sum x^2)`` with ``F(k) = sum_r x(r) exp(-i k . r)``
   (exact for a whole number of periods in the box, 1 for a pure cosine). ``F`` is read off an
   FFT zero-padded ``SPECTRUM_PAD``-fold; waves longer than the box side are ignored.
3. The strongest wave ``k1`` (angle ``a1``) and, within ``k_tolerance`` of ``|k1|`` and
   ``angle_tolerance_deg`` of the angles ``a1 + 60``, ``a1 + 120`` and ``a1 + 90``, the strongest
   partner waves. A partner counts when it explains at least ``partner_ratio`` of what ``k1``
   explains. Both hexagonal partners: **hexagonal** (unless the square partner is stronger than
   the weaker of them); else the 90-degree partner: **square**; else **bands**.
4. The lattice's waves together (3, 2 or 1) must explain ``min_explained`` of the variance, else
   the unit is **aperiodic** (place-like fields, noise, a ramp) and has no period.

Periods (metres): hexagonal, the spacing between fields ``4 pi / (sqrt(3) mean |k|)``; square,
``2 pi / mean |k|`` (the side of the square cell); bands, ``2 pi / |k1|``.

Modules: the periodic units sorted by the wavelength of their strongest wave, ``2 pi / |k1|``; a
gap between consecutive wavelengths larger than the ratio ``period_ratio`` starts a new module
(single linkage in log wavelength). The wavelength, not the period, is what a module's units share
whatever lattice each is read as: a hexagonal unit whose weaker waves fall under
``partner_ratio`` reads as bands with a period sqrt(3)/2 of its spacing, and clustering periods
would split it into a spurious module. A module's period is the median period of its units of the
majority lattice type. Groups with fewer than ``min_units`` units are left unassigned (label -1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from .ratemaps import as_numpy

__all__ = ["LATTICES", "UnitPeriods", "CodeModule", "unit_periods", "period_modules"]

LATTICES = ("hexagonal", "square", "bands", "aperiodic", "silent")
SPECTRUM_PAD = 8  # zero-padding of the FFT: a wave-number grid 8x finer than 2 pi / box side
PARTNER_ANGLES_DEG = (60.0, 120.0, 90.0)  # hexagonal partners, then the square partner
UNITS_PER_CHUNK = 16  # maps transformed at once (bounds the padded spectra's memory)


@dataclass
class UnitPeriods:
    """Per unit (``U``): lattice type, period and the strongest wave.

    Attributes
    ----------
    lattice : (U,) str, one of :data:`LATTICES`.
    period : (U,) metres (NaN for aperiodic and silent units), as the module docstring defines.
    wave_angle : (U,) degrees in [0, 180), the strongest wave's direction.
    explained : (U,) fraction of the map's variance explained by its lattice's waves (by the
        strongest wave for aperiodic units; NaN for silent ones).
    partner_ratios : (U, 3) explained variance of the 60, 120 and 90 degree partners over the
        strongest wave's.
    module : (U,) int, the unit's module in :func:`period_modules` order (-1: none).
    modules : the modules, finest first.
    params : the settings used.
    """

    lattice: np.ndarray
    period: np.ndarray
    wave_angle: np.ndarray
    explained: np.ndarray
    partner_ratios: np.ndarray
    module: np.ndarray
    modules: list[CodeModule]
    params: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Units per lattice type."""
        return {name: int((self.lattice == name).sum()) for name in LATTICES}

    def summary(self) -> dict:
        return {
            "units": int(len(self.lattice)),
            "lattice_counts": self.counts(),
            "modules": [m.summary() for m in self.modules],
            "params": self.params,
        }


@dataclass
class CodeModule:
    """A group of periodic units with similar periods."""

    units: np.ndarray  # (n,) unit indices
    period_m: float  # median period
    period_range_m: tuple[float, float]  # smallest and largest period in the module
    lattice_counts: dict[str, int]  # hexagonal / square / bands

    @property
    def lattice(self) -> str:
        """The majority lattice type (ties: hexagonal, then square, then bands)."""
        return max(self.lattice_counts, key=lambda k: self.lattice_counts[k])

    def summary(self) -> dict:
        return {
            "n_units": int(len(self.units)),
            "period_m": round(float(self.period_m), 4),
            "period_range_m": [round(float(p), 4) for p in self.period_range_m],
            "lattice": self.lattice,
            "lattice_counts": dict(self.lattice_counts),
        }


def _wave_grid(ny: int, nx: int, bin_size: float) -> tuple[np.ndarray, ...]:
    """|k| (rad/m) and angle (deg in [0, 180)) of the padded rfft2 grid, and the allowed waves."""
    Ny = sfft.next_fast_len(SPECTRUM_PAD * ny, real=True)
    Nx = sfft.next_fast_len(SPECTRUM_PAD * nx, real=True)
    ky = 2 * np.pi * sfft.fftfreq(Ny, d=bin_size)
    kx = 2 * np.pi * sfft.rfftfreq(Nx, d=bin_size)
    KX, KY = np.meshgrid(kx, ky)
    kmag = np.hypot(KX, KY)
    angle = np.degrees(np.arctan2(KY, KX)) % 180.0
    k_min = 2 * np.pi / (max(ny, nx) * bin_size)  # no wave longer than the box
    allowed = ((KX > 0) | ((KX == 0) & (KY > 0))) & (kmag >= k_min)
    return (Ny, Nx), kmag.ravel(), angle.ravel(), allowed.ravel()


def _angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| modulo 180 degrees, in [0, 90]."""
    d = np.abs(a - b) % 180.0
    return np.minimum(d, 180.0 - d)


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    """Mean of each row over its finite entries (NaN where none, without a warning)."""
    ok = np.isfinite(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(1) / ok.sum(1)


def _centre_maps(
    m: np.ndarray, active_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Subtract each map's mean over visited bins, zero the unvisited bins, flag active units.

    Args:
        m: (U, ny, nx) rate maps, NaN = unvisited. active_fraction: as in :func:`unit_periods`.
    Returns:
        ``(x, n, ss, active)``: x (U, ny, nx) centred maps; n (U,) visited bins; ss (U,) sum of
        squares of x; active (U,) bool, s.d. at least ``active_fraction`` of the largest.
    """
    U = m.shape[0]
    visited = np.isfinite(m)
    n = visited.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(visited, m, 0.0).sum(axis=(1, 2)) / n
    x = np.where(visited, m - mean[:, None, None], 0.0)
    ss = (x**2).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(ss / n)
    sd = np.nan_to_num(sd)
    active = (sd > 0) & (sd >= active_fraction * sd.max()) if U else np.zeros(0, bool)
    return x, n, ss, active


def _partner_waves(
    e: np.ndarray,
    kmag: np.ndarray,
    angle: np.ndarray,
    k1: np.ndarray,
    a1: np.ndarray,
    k_tolerance: float,
    angle_tolerance_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The strongest wave in each partner window of the strongest wave (step 3).

    Args:
        e: (u, waves) explained variance per wave (-1 where not allowed). kmag, angle: (waves,)
            |k| (rad/m) and angle (deg). k1, a1: (u,) the strongest wave's |k| and angle.
        k_tolerance, angle_tolerance_deg: the window sizes.
    Returns:
        ``(explained, k)``, each (u, len(PARTNER_ANGLES_DEG)): the partner's explained variance
        (0 when the window is empty) and its |k| in rad/m (NaN when empty).
    """
    u = len(e)
    got_e = np.empty((u, len(PARTNER_ANGLES_DEG)))
    got_k = np.empty((u, len(PARTNER_ANGLES_DEG)))
    near_k = np.abs(kmag[None] / k1[:, None] - 1.0) <= k_tolerance  # (u, waves)
    for j, offset in enumerate(PARTNER_ANGLES_DEG):
        window = near_k & (_angle_diff(angle[None], a1[:, None] + offset) <= angle_tolerance_deg)
        ew = np.where(window, e, -1.0)
        pick = ew.argmax(1)
        got = ew[np.arange(u), pick]
        got_e[:, j] = np.maximum(got, 0.0)
        got_k[:, j] = np.where(got >= 0, kmag[pick], np.nan)
    return got_e, got_k


def _wave_fits(
    x: np.ndarray,
    n: np.ndarray,
    ss: np.ndarray,
    active: np.ndarray,
    bin_size: float,
    k_tolerance: float,
    angle_tolerance_deg: float,
) -> tuple[np.ndarray, ...]:
    """The strongest wave of every active unit's spectrum and its partners (steps 2 and 3).

    Args:
        x, n, ss, active: from :func:`_centre_maps`. bin_size: metres. k_tolerance,
            angle_tolerance_deg: the partner windows.
    Returns:
        ``(k1, a1, e1, partners, partner_k)``: (U,) the strongest wave's |k| (rad/m), angle (deg
        in [0, 180)) and explained variance; (U, 3) the partners' explained variance and |k|.
        NaN for inactive units.
    """
    U, ny, nx = x.shape
    shape, kmag, angle, allowed = _wave_grid(ny, nx, bin_size)
    k1 = np.full(U, np.nan)
    a1 = np.full(U, np.nan)
    e1 = np.full(U, np.nan)
    partners = np.full((U, len(PARTNER_ANGLES_DEG)), np.nan)  # explained variance
    partner_k = np.full((U, len(PARTNER_ANGLES_DEG)), np.nan)
    idx = np.flatnonzero(active)
    for start in range(0, len(idx), UNITS_PER_CHUNK):
        rows = idx[start : start + UNITS_PER_CHUNK]
        F = sfft.rfft2(x[rows], s=shape, workers=1).reshape(len(rows), -1)
        e = 2 * np.abs(F) ** 2 / (n[rows] * ss[rows])[:, None]  # (u, waves)
        e[:, ~allowed] = -1.0
        best = e.argmax(1)
        k1[rows], a1[rows], e1[rows] = kmag[best], angle[best], e[np.arange(len(rows)), best]
        partners[rows], partner_k[rows] = _partner_waves(
            e, kmag, angle, k1[rows], a1[rows], k_tolerance, angle_tolerance_deg
        )
    return k1, a1, e1, partners, partner_k


def _classify(
    k1: np.ndarray,
    e1: np.ndarray,
    partners: np.ndarray,
    partner_k: np.ndarray,
    active: np.ndarray,
    min_explained: float,
    partner_ratio: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lattice type and period of each unit from its waves (steps 3 and 4, periods).

    Args:
        k1, e1, partners, partner_k, active: from :func:`_wave_fits` and :func:`_centre_maps`.
        min_explained, partner_ratio: as in :func:`unit_periods`.
    Returns:
        ``(lattice, period, explained, ratios)``: (U,) str lattice type, (U,) period in metres,
        (U,) variance explained by the lattice's waves, (U, 3) partner over strongest ratios.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = partners / e1[:, None]
    hex_ok = np.minimum(ratios[:, 0], ratios[:, 1]) >= partner_ratio
    square_ok = ratios[:, 2] >= partner_ratio
    is_hex = hex_ok & ~(square_ok & (ratios[:, 2] > np.minimum(ratios[:, 0], ratios[:, 1])))
    is_square = ~is_hex & square_ok
    explained = np.where(
        is_hex,
        e1 + partners[:, 0] + partners[:, 1],
        np.where(is_square, e1 + partners[:, 2], e1),
    )
    lattice = np.where(is_hex, "hexagonal", np.where(is_square, "square", "bands")).astype(object)
    lattice[active & ~(explained >= min_explained)] = "aperiodic"
    lattice[~active] = "silent"
    k_hex = _nanmean_rows(np.column_stack([k1, partner_k[:, 0], partner_k[:, 1]]))
    k_sq = _nanmean_rows(np.column_stack([k1, partner_k[:, 2]]))
    period = np.select(
        [lattice == "hexagonal", lattice == "square", lattice == "bands"],
        [4 * np.pi / (np.sqrt(3) * k_hex), 2 * np.pi / k_sq, 2 * np.pi / k1],
        np.nan,
    )
    explained = np.where(active, explained, np.nan)
    return lattice.astype(str), period, explained, ratios


def unit_periods(
    maps,
    bin_size: float,
    *,
    active_fraction: float,
    min_explained: float,
    partner_ratio: float,
    angle_tolerance_deg: float,
    k_tolerance: float,
    period_ratio: float,
    min_units: int,
) -> UnitPeriods:
    """Lattice type and period of every unit of ``maps`` (U, ny, nx), and their modules.

    ``bin_size`` in metres; the other arguments are the ``analysis.unit_*`` and
    ``analysis.module_*`` settings (gridssl.config.AnalysisConfig), as the module docstring uses
    them.
    """
    m = as_numpy(maps).astype(np.float64)
    if m.ndim != 3:
        raise ValueError(f"maps must be (U, ny, nx), got shape {m.shape}")
    _, ny, nx = m.shape
    x, n, ss, active = _centre_maps(m, active_fraction)
    k1, a1, e1, partners, partner_k = _wave_fits(
        x, n, ss, active, bin_size, k_tolerance, angle_tolerance_deg
    )
    lattice, period, explained, ratios = _classify(
        k1, e1, partners, partner_k, active, min_explained, partner_ratio
    )
    wavelength = np.where(np.isfinite(period), 2 * np.pi / k1, np.nan)
    module, modules = period_modules(period, lattice, period_ratio, min_units, wavelength)
    return UnitPeriods(
        lattice=lattice,
        period=period,
        wave_angle=a1,
        explained=explained,
        partner_ratios=ratios,
        module=module,
        modules=modules,
        params=dict(
            bin_size=bin_size,
            map_shape=[ny, nx],
            spectrum_pad=SPECTRUM_PAD,
            active_fraction=active_fraction,
            min_explained=min_explained,
            partner_ratio=partner_ratio,
            angle_tolerance_deg=angle_tolerance_deg,
            k_tolerance=k_tolerance,
            period_ratio=period_ratio,
            min_units=min_units,
        ),
    )


def period_modules(
    period: np.ndarray,
    lattice: np.ndarray,
    period_ratio: float,
    min_units: int,
    wavelength: np.ndarray | None = None,
) -> tuple[np.ndarray, list[CodeModule]]:
    """Cluster units with a finite period into modules by gaps in log ``wavelength`` (default:
    the period itself).

    -> labels (U,) (-1: no period or a group smaller than ``min_units``) and the modules, finest
    first. A gap between consecutive sorted values with ratio > ``period_ratio`` separates two
    modules; a module's period is the median period of its units of the majority lattice.
    """
    period = np.asarray(period, float)
    key = period if wavelength is None else np.asarray(wavelength, float)
    labels = np.full(len(period), -1)
    have = np.flatnonzero(np.isfinite(period) & np.isfinite(key))
    if not len(have):
        return labels, []
    order = have[np.argsort(key[have])]
    gaps = np.flatnonzero(key[order][1:] / key[order][:-1] > period_ratio) + 1
    modules = []
    for group in np.split(order, gaps):
        if len(group) < min_units:
            continue
        labels[group] = len(modules)
        counts = {n: int((lattice[group] == n).sum()) for n in ("hexagonal", "square", "bands")}
        majority = max(counts, key=lambda n: counts[n])
        p = period[group]
        modules.append(
            CodeModule(
                units=np.sort(group),
                period_m=float(np.median(period[group][lattice[group] == majority])),
                period_range_m=(float(p.min()), float(p.max())),
                lattice_counts=counts,
            )
        )
    return labels, modules
