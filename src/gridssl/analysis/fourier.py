"""Population (module-level) Fourier analysis of grid rate maps.

For the rate maps of one module, :func:`module_lattice` finds the module's three lattice
wave-vectors in the mean 2-D power spectrum, each unit's spatial phase along them and in the unit
cell, and tests whether the phases tile the unit cell uniformly. Per-unit Fourier peaks are in
``lattice.py``; this module is the population level.

Conventions
-----------
- Maps are ``(U, ny, nx)`` in the image convention ``[y, x]``, square bins of ``bin_size`` metres.
  Positions ``r`` are measured from the **map centre** (as :func:`synthetic.bin_centres`): bin
  ``(i, j)`` sits at ``x = (j - (nx - 1) / 2) bin_size``, ``y = (i - (ny - 1) / 2) bin_size``.
- Wave-vectors are in rad/m. A map ``cos(k . (r - p))`` has Fourier coefficient
  ``F(k) = sum_r m(r) exp(-i k . r)`` with angle ``-k . p``; the unit's **phase** along ``k`` is
  ``phi = -angle F(k) = k . p`` (mod 2 pi), so a unit whose fields sit at ``p`` has phases
  ``k_i . p``.
- Of each pair ``+-k`` the member with angle in ``[0, 180)`` degrees is kept, and ``k1, k2, k3`` are
  sorted by that angle; for a hexagonal lattice the angles are ``orientation + 30 + {0, 60, 120}``
  (mod 180, package convention in :mod:`synthetic`) and ``k1 - k2 + k3 = 0``.

Preprocessing (per unit): NaN (unvisited) bins are filled with the unit's mean over visited bins,
the mean is subtracted (so unvisited bins contribute 0), and the map is scaled to unit RMS so that
every unit weighs the same in the mean spectrum. The coarse spectrum is an FFT zero-padded to
``pad`` times the map size (finer frequency grid; no window). Each peak found on it is then refined
off-grid by maximising the mean power ``mean_u |F_u(k)|^2`` over continuous ``k`` (direct
evaluation, Nelder-Mead), so |k| and angles are not limited to the FFT grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import maximum_filter
from scipy.optimize import minimize
from scipy.stats import chi2
from threadpoolctl import threadpool_limits

from .lattice import circular_mean_mod


@dataclass
class PhaseUniformity:
    """Result of :func:`phase_uniformity`.

    Attributes:
        statistic: ``T = 2 n sum_m |mean_u exp(2 pi i m . c_u)|^2`` over the torus Fourier modes m.
        dof: degrees of freedom of the chi-square null, ``2 x (number of modes)``.
        p_value: chi-square survival probability of T.
        uniform: ``p_value > alpha`` (uniformity not rejected).
        alpha: significance level used.
        n: number of phases tested.
    """

    statistic: float
    dof: int
    p_value: float
    uniform: bool
    alpha: float
    n: int


@dataclass
class ModuleLattice:
    """Result of :func:`module_lattice` for one module of U units.

    Attributes:
        power: (Ny, Nx) mean normalised power spectrum of the zero-padded maps, fft-shifted,
            image convention ``[ky, kx]`` (per unit: ``|F|^2 / n_bins`` of the unit-RMS map).
        kx: (Nx,) wave-numbers of the ``power`` columns, rad/m. ky: (Ny,) of its rows.
        wavevectors: (3, 2) lattice wave-vectors k1..k3 (kx, ky), rad/m, angles in [0, 180),
            sorted by angle.
        wavenumbers: (3,) |k_i|, rad/m.
        angles: (3,) angles of k_i anticlockwise from +x, degrees in [0, 180).
        spacing: lattice spacing implied by the mean |k|, ``4 pi / (sqrt(3) mean|k|)``, metres.
        orientation: lattice orientation, circular mean (period 60) of ``angles - 30``, degrees.
        lattice_vectors: (2, 2) real-space basis a1, a2 (rows, metres) dual to k1, k2
            (``a_i . k_j = 2 pi delta_ij``): the unit cell used for ``phase_xy``.
        coefficients: (U, 3) complex Fourier coefficients ``F_u(k_i)`` of the normalised maps.
        phases: (U, 3) phases ``-angle F_u(k_i)`` in [0, 2 pi), rad (NaN for unusable units).
        phase_cell: (U, 2) torus coordinates ``(phi_1, phi_2) / 2 pi`` in [0, 1).
        phase_xy: (U, 2) the same phase as a position in the unit cell, metres:
            ``u a1 + v a2``; a unit with fields at ``p`` gets ``p`` modulo the lattice.
        triad_residual: (U,) ``phi_1 - phi_2 + phi_3`` wrapped to (-pi, pi], rad; ~0 for units
            whose three gratings meet at common peaks (hexagonal fields), large otherwise.
        lattice_fraction: (U,) fraction of each unit's variance carried by the three wave-vectors
            (about 1 for a pure module member; low for units of other modules or non-grids).
        usable: (U,) bool, units with at least one visited bin and non-zero variance.
        uniformity: :class:`PhaseUniformity` of the usable units' ``phase_cell``.
    """

    power: np.ndarray
    kx: np.ndarray
    ky: np.ndarray
    wavevectors: np.ndarray
    wavenumbers: np.ndarray
    angles: np.ndarray
    spacing: float
    orientation: float
    lattice_vectors: np.ndarray
    coefficients: np.ndarray
    phases: np.ndarray
    phase_cell: np.ndarray
    phase_xy: np.ndarray
    triad_residual: np.ndarray
    lattice_fraction: np.ndarray
    usable: np.ndarray
    uniformity: PhaseUniformity


def normalise_maps(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN-fill with the unit mean, subtract the mean and scale to unit RMS.

    Args:
        maps: (U, ny, nx) rate maps, NaN for unvisited bins.
    Returns:
        ``(out, usable)``: out (U, ny, nx) with zeros at unvisited bins (all zeros for unusable
        units) and usable (U,) bool.
    """
    maps = np.asarray(maps, float)
    if maps.ndim != 3:
        raise ValueError("maps must be (U, ny, nx)")
    finite = np.isfinite(maps)
    count = finite.sum((1, 2))
    total = np.where(finite, maps, 0.0).sum((1, 2))
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    out = np.where(finite, maps - mean[:, None, None], 0.0)
    rms = np.sqrt((out**2).mean((1, 2)))
    usable = (count > 0) & (rms > 1e-12 * (np.abs(mean) + 1.0))
    out = np.where(usable[:, None, None], out / np.where(usable, rms, 1.0)[:, None, None], 0.0)
    return out, usable


def _centred_coords(ny: int, nx: int, bin_size: float) -> np.ndarray:
    """Bin-centre positions (ny * nx, 2) in metres from the map centre, row-major like the maps."""
    x = (np.arange(nx) - (nx - 1) / 2) * bin_size
    y = (np.arange(ny) - (ny - 1) / 2) * bin_size
    xx, yy = np.meshgrid(x, y)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _half_plane(k: np.ndarray) -> np.ndarray:
    """Flip wave-vectors (..., 2) so that their angle lies in [0, 180)."""
    flip = (k[..., 1] < 0) | ((k[..., 1] == 0) & (k[..., 0] < 0))
    return np.where(flip[..., None], -k, k)


def _angle_deg(k: np.ndarray) -> np.ndarray:
    return np.mod(np.rad2deg(np.arctan2(k[..., 1], k[..., 0])), 180.0)


def phase_uniformity(
    phase_cell: np.ndarray, order: int = 2, alpha: float = 0.05
) -> PhaseUniformity:
    """Test whether 2-D phases are uniform on the torus (truncated Beran / multi-mode Rayleigh).

    For each integer mode ``m = (a, b)`` with ``max(|a|, |b|) <= order`` (one of each ``+-m`` pair,
    ``m != 0``) the empirical Fourier coefficient ``z_m = mean_u exp(2 pi i m . c_u)`` is formed.
    Under uniformity ``2 n |z_m|^2`` are asymptotically independent chi-square(2) variables (the
    Rayleigh test generalised to the torus), so ``T = 2 n sum_m |z_m|^2 ~ chi-square(2 M)``. Order 1
    detects one cluster of phases; order 2 also detects two clusters, bands or a lattice of
    clusters at half the cell. Phases concentrated anywhere in the cell give a large T.

    Args:
        phase_cell: (n, 2) torus coordinates in units of the cell (period 1). NaN rows are ignored.
        order: highest mode order.
        alpha: significance level for ``uniform``.
    """
    c = np.asarray(phase_cell, float).reshape(-1, 2)
    c = c[np.isfinite(c).all(1)]
    n = len(c)
    modes = [(a, b) for a in range(0, order + 1) for b in range(-order, order + 1)]
    modes = np.array([m for m in modes if m[0] > 0 or (m[0] == 0 and m[1] > 0)], float)
    if n == 0:
        return PhaseUniformity(np.nan, 2 * len(modes), np.nan, False, alpha, 0)
    z = np.exp(2j * np.pi * c @ modes.T).mean(0)  # (M,)
    stat = float(2 * n * np.sum(np.abs(z) ** 2))
    dof = 2 * len(modes)
    p = float(chi2.sf(stat, dof))
    return PhaseUniformity(stat, dof, p, bool(p > alpha), alpha, n)


def _coarse_spectrum(
    norm: np.ndarray, usable: np.ndarray, bin_size: float, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Mean power spectrum of the usable normalised maps, zero-padded ``pad``-fold per axis.

    Args:
        norm: (U, ny, nx) normalised maps (:func:`normalise_maps`). usable: (U,) bool.
        bin_size: bin side, metres. pad: zero-padding factor (rounded up to a fast FFT size).
    Returns:
        ``(power, kx, ky, shape)``: power (Ny, Nx) fft-shifted, per unit ``|F|^2 / n_bins``;
        kx (Nx,), ky (Ny,) wave-numbers in rad/m; shape ``(Ny, Nx)`` the padded FFT size.
    """
    _, ny, nx = norm.shape
    shape = (sfft.next_fast_len(pad * ny), sfft.next_fast_len(pad * nx))
    spec = sfft.fft2(norm[usable], s=shape, axes=(1, 2), workers=1)
    power = sfft.fftshift((np.abs(spec) ** 2).mean(0) / (ny * nx))
    kx = sfft.fftshift(sfft.fftfreq(shape[1], d=bin_size)) * 2 * np.pi
    ky = sfft.fftshift(sfft.fftfreq(shape[0], d=bin_size)) * 2 * np.pi
    return power, kx, ky, shape


def _pick_peaks(
    power: np.ndarray,
    kx: np.ndarray,
    ky: np.ndarray,
    k_min: float,
    ratio_tol: float,
    min_angle_sep: float,
) -> list[np.ndarray]:
    """The three lattice peaks on the coarse grid (selection rules of :func:`module_lattice`).

    Args:
        power: (Ny, Nx) fft-shifted mean power; kx (Nx,), ky (Ny,) its wave-numbers, rad/m.
        k_min: smallest |k| accepted, rad/m. ratio_tol, min_angle_sep: as in module_lattice.
    Returns:
        three wave-vectors (2,) (kx, ky) in rad/m, strongest first.
    Raises:
        ValueError: when fewer than three admissible peaks exist.
    """
    kxx, kyy = np.meshgrid(kx, ky)
    kgrid = np.stack([kxx, kyy], axis=-1)
    kmag = np.hypot(kxx, kyy)
    # candidate peaks: local maxima in the half plane, strongest first
    is_max = power >= maximum_filter(power, size=3, mode="wrap")
    half = (kyy > 0) | ((kyy == 0) & (kxx > 0))
    cand = np.flatnonzero((is_max & half & (kmag >= k_min) & (power > 0)).ravel())
    cand = cand[np.argsort(power.ravel()[cand])[::-1]]
    cand_k = kgrid.reshape(-1, 2)[cand]
    chosen: list[np.ndarray] = []
    for k in cand_k:
        if not chosen:
            chosen.append(k)
            continue
        ratio = np.linalg.norm(k) / np.linalg.norm(chosen[0])
        if not (1 / ratio_tol <= ratio <= ratio_tol):
            continue
        d = np.abs(_angle_deg(k) - _angle_deg(np.array(chosen)))
        if np.all(np.minimum(d, 180 - d) >= min_angle_sep):
            chosen.append(k)
        if len(chosen) == 3:
            break
    if len(chosen) < 3:
        raise ValueError(f"found {len(chosen)} admissible lattice peaks, need 3")
    return chosen


def _refine_peaks(
    m: np.ndarray, r: np.ndarray, chosen: list[np.ndarray], dk: np.ndarray
) -> np.ndarray:
    """Refine coarse peaks off-grid by maximising the exact mean power (Nelder-Mead).

    Args:
        m: (Uu, P) usable normalised maps, flattened. r: (P, 2) bin positions, metres.
        chosen: coarse wave-vectors (2,), rad/m. dk: (2,) coarse grid step (kx, ky), rad/m.
    Returns:
        (3, 2) refined wave-vectors, rad/m, flipped to angles in [0, 180) and sorted by angle.
    """
    n_bins = m.shape[1]

    def neg_power(k: np.ndarray) -> float:
        f = m @ np.exp(-1j * (r @ k))
        return -float(np.mean(np.abs(f) ** 2)) / n_bins

    refined = []
    # many small products: multi-threaded BLAS only adds overhead here (10x on a busy machine)
    with threadpool_limits(limits=1):
        for k0 in chosen:
            simplex = np.array([k0, k0 + [dk[0] / 2, 0], k0 + [0, dk[1] / 2]])
            res = minimize(
                neg_power,
                k0,
                method="Nelder-Mead",
                options={
                    "initial_simplex": simplex,
                    "xatol": 1e-4 * np.linalg.norm(k0),
                    "fatol": 1e-10,
                },
            )
            refined.append(res.x)
    kvec = _half_plane(np.array(refined))
    return kvec[np.argsort(_angle_deg(kvec))]


def _unit_phases(
    m_all: np.ndarray,
    usable: np.ndarray,
    r: np.ndarray,
    kvec: np.ndarray,
    lattice_vectors: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each unit's Fourier coefficients at the lattice wave-vectors and its phases.

    Args:
        m_all: (U, P) normalised maps, flattened. usable: (U,) bool. r: (P, 2) bin positions, m.
        kvec: (3, 2) lattice wave-vectors, rad/m. lattice_vectors: (2, 2) real-space basis, m.
    Returns:
        the per-unit fields of :class:`ModuleLattice`, by name: ``coefficients``, ``phases``,
        ``phase_cell``, ``phase_xy``, ``triad_residual``, ``lattice_fraction`` (NaN coefficients
        and phases for unusable units).
    """
    n_bins = m_all.shape[1]
    coef = m_all @ np.exp(-1j * (r @ kvec.T))  # (U, 3)
    phases = np.mod(-np.angle(coef), 2 * np.pi)
    phases[~usable] = np.nan
    coef[~usable] = np.nan
    phase_cell = np.mod(phases[:, :2] / (2 * np.pi), 1.0)
    return dict(
        coefficients=coef,
        phases=phases,
        phase_cell=phase_cell,
        phase_xy=phase_cell @ lattice_vectors,
        triad_residual=np.angle(np.exp(1j * (phases[:, 0] - phases[:, 1] + phases[:, 2]))),
        # unit variance of the normalised map is 1
        lattice_fraction=2 * (np.abs(coef) ** 2).sum(1) / n_bins**2,
    )


def module_lattice(
    maps: np.ndarray,
    bin_size: float,
    pad: int = 4,
    k_min: float | None = None,
    ratio_tol: float = 1.5,
    min_angle_sep: float = 20.0,
    uniformity_order: int = 2,
    alpha: float = 0.05,
) -> ModuleLattice:
    """Lattice wave-vectors, unit phases and phase-tiling uniformity of one module.

    Args:
        maps: (U, ny, nx) rate maps of the module's units, NaN allowed for unvisited bins.
        bin_size: bin side, metres.
        pad: zero-padding factor of the coarse FFT (per axis; rounded up to a fast FFT size).
        k_min: smallest |k| (rad/m) accepted as a lattice peak; default ``1.5 * 2 pi / L`` with L
            the larger map side (wavelengths longer than L / 1.5 are not resolvable lattices).
        ratio_tol: k2, k3 must have ``|k| / |k1|`` in ``[1/ratio_tol, ratio_tol]`` (k1 = strongest).
        min_angle_sep: k2, k3 must differ in angle (mod 180) by at least this many degrees from
            the peaks already chosen, which excludes harmonics collinear with them.
        uniformity_order, alpha: passed to :func:`phase_uniformity`.

    Peak selection: local maxima of the mean power in the half plane (angle in [0, 180)) with
    ``|k| >= k_min``, strongest first; k1 is the strongest, then the next strongest peaks that
    satisfy the ratio and angle rules; then every k is refined off-grid (module docstring).

    Raises:
        ValueError: when no usable unit or fewer than three admissible peaks exist.
    """
    norm, usable = normalise_maps(maps)
    n_units, ny, nx = norm.shape
    if not usable.any():
        raise ValueError("no usable unit (all NaN or constant maps)")
    n_bins = ny * nx

    power, kx, ky, shape = _coarse_spectrum(norm, usable, bin_size, pad)
    if k_min is None:
        k_min = 1.5 * 2 * np.pi / (max(ny, nx) * bin_size)
    chosen = _pick_peaks(power, kx, ky, k_min, ratio_tol, min_angle_sep)

    # off-grid refinement on the exact mean power
    r = _centred_coords(ny, nx, bin_size)  # (P, 2)
    dk = 2 * np.pi / (np.array([shape[1], shape[0]]) * bin_size)
    kvec = _refine_peaks(norm[usable].reshape(-1, n_bins), r, chosen, dk)  # (3, 2)
    angles = _angle_deg(kvec)
    knorm = np.linalg.norm(kvec, axis=1)
    lattice_vectors = 2 * np.pi * np.linalg.inv(kvec[:2]).T  # rows a_i with a_i . k_j = 2pi d_ij

    units = _unit_phases(norm.reshape(n_units, n_bins), usable, r, kvec, lattice_vectors)
    return ModuleLattice(
        power=power,
        kx=kx,
        ky=ky,
        wavevectors=kvec,
        wavenumbers=knorm,
        angles=angles,
        spacing=float(4 * np.pi / (np.sqrt(3) * knorm.mean())),
        orientation=float(circular_mean_mod(angles - 30.0, 60.0)),
        lattice_vectors=lattice_vectors,
        usable=usable,
        uniformity=phase_uniformity(units["phase_cell"][usable], uniformity_order, alpha),
        **units,
    )
