"""Grid lattice geometry per unit: spacing, orientation and ellipticity.

Orientation convention (that of :mod:`gridssl.analysis.synthetic`, used by the whole package):
the angle in degrees, in ``[0, 60)``, of a lattice vector (centre-to-nearest-peak direction),
anticlockwise from the +x axis; ``y`` grows with the row index of a map (``[y, x]`` images).
The three wave-vectors of a hexagonal grid lie at ``orientation + 30 + {0, 60, 120}`` degrees and
have ``|k| = 4 pi / (sqrt(3) spacing)``.

Two estimators:

* :func:`lattice_from_sac`: the six local maxima of the autocorrelogram nearest its centre
  (excluding the central peak), refined to sub-bin precision by a parabola through each peak
  and its neighbours along x and y. Spacing = their mean distance; orientation = circular mean
  of their angles modulo 60 degrees; an origin-centred ellipse ``A x^2 + B xy + C y^2 = 1``
  fitted to them by least squares gives the shear (axis ratio, eccentricity, major-axis angle).
* :func:`lattice_from_fourier`: the three strongest local maxima (in a half-plane) of the 2-D
  power spectrum of the mean-subtracted, zero-padded map. Spacing from the mean ``|k|``;
  orientation = circular mean (period 60) of ``wave angle + 30``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import maximum_filter

from .gridscore import central_field_radius
from .ratemaps import as_numpy
from .sac import sac_centre

__all__ = [
    "SACLattice",
    "FourierLattice",
    "lattice_from_sac",
    "lattice_from_fourier",
    "circular_mean_mod",
]


def circular_mean_mod(
    angles_deg: np.ndarray, period: float = 60.0, axis: int = -1, weights=None
) -> np.ndarray:
    """Circular mean of angles (degrees) taken modulo ``period``; result in ``[0, period)``.

    NaN entries are ignored; all-NaN gives NaN.
    """
    a = np.asarray(angles_deg, dtype=float)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(a) & np.isfinite(w)
    z = np.where(ok, w * np.exp(2j * np.pi * np.where(ok, a, 0.0) / period), 0.0).sum(axis=axis)
    out = np.mod(np.angle(z) * period / (2 * np.pi), period)
    out = np.where(out >= period * (1 - 1e-12), 0.0, out)  # rounding: -0.0...01 -> period
    return np.where(ok.any(axis=axis), out, np.nan)


@dataclass
class SACLattice:
    """Lattice geometry from the six SAC peaks nearest the centre (``U`` units).

    Attributes (NaN where no lattice was found: fewer than six peaks)
    ----------
    spacing : (U,) metres, mean distance of the six peaks from the centre.
    orientation : (U,) degrees in [0, 60), circular mean of the peak angles modulo 60.
    peaks : (U, 6, 2) metres, peak positions ``(x, y)`` relative to the centre, sorted by angle.
    peak_values : (U, 6) SAC correlation at the peaks.
    ellipse_major, ellipse_minor : (U,) metres, semi-axes of the fitted ellipse.
    ellipse_angle : (U,) degrees in [0, 180), direction of the major axis.
    axis_ratio : (U,) minor / major (1 for an unsheared hexagonal lattice).
    eccentricity : (U,) ``sqrt(1 - axis_ratio**2)`` (0 for an unsheared lattice).
    orientation_spread : (U,) degrees, circular s.d. of the six angles modulo 60.
    params : dict of the settings used.
    """

    spacing: np.ndarray
    orientation: np.ndarray
    peaks: np.ndarray
    peak_values: np.ndarray
    ellipse_major: np.ndarray
    ellipse_minor: np.ndarray
    ellipse_angle: np.ndarray
    axis_ratio: np.ndarray
    eccentricity: np.ndarray
    orientation_spread: np.ndarray
    params: dict = field(default_factory=dict)


@dataclass
class FourierLattice:
    """Lattice geometry from the 2-D power spectrum of each map (``U`` units).

    Attributes
    ----------
    spacing : (U,) metres, ``4 pi / (sqrt(3) mean|k|)`` over the three strongest peaks.
    orientation : (U,) degrees in [0, 60), circular mean (period 60) of ``wave angle + 30``.
    k : (U, 3) rad/m, ``|k|`` of the three strongest peaks (strongest first).
    wave_angles : (U, 3) degrees in (-90, 90], their angles (half-plane ``kx > 0``).
    power : (U, 3) their spectral power, normalised by the total power of the padded map.
    k_peak : (U,) rad/m, ``|k|`` of the strongest peak.
    params : dict of the settings used (padding, k range).
    """

    spacing: np.ndarray
    orientation: np.ndarray
    k: np.ndarray
    wave_angles: np.ndarray
    power: np.ndarray
    k_peak: np.ndarray
    params: dict = field(default_factory=dict)


def _parabolic_offset(fm: np.ndarray, f0: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Sub-bin offset of a maximum from values at -1, 0, +1 (0 where undefined)."""
    den = fm - 2 * f0 + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        off = 0.5 * (fm - fp) / den
    ok = np.isfinite(off) & (den < 0)
    return np.where(ok, np.clip(off, -0.5, 0.5), 0.0)


def _nearest_sac_peaks(
    s: np.ndarray, centre: tuple[int, int], min_peak: float, exclude_radius, n_peaks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n_peaks`` local maxima of each SAC nearest its centre, outside the central peak.

    Args:
        s: (U, H, W) SACs, NaN = invalid. centre: ``(row, col)`` of zero lag.
        min_peak, exclude_radius (bins), n_peaks: as in :func:`lattice_from_sac`.
    Returns:
        ``(py, px, found)``: (U, k) row and column indices of the peaks, unordered
        (``k = min(n_peaks, H * W)``), and (U,) bool, True where all k peaks exist.
    """
    U, H, W = s.shape
    cy, cx = centre
    filled = np.where(np.isfinite(s), s, -np.inf)
    is_max = filled == maximum_filter(filled, size=(1, 3, 3), mode="constant", cval=-np.inf)
    is_max &= np.isfinite(s) & (s > min_peak)
    yy, xx = np.mgrid[0:H, 0:W]
    d = np.hypot(yy - cy, xx - cx)
    if exclude_radius is None:
        rc = central_field_radius(s)
        excl = np.maximum(1.5, np.where(np.isfinite(rc), rc, 1.5))
    else:
        excl = np.broadcast_to(np.asarray(exclude_radius, dtype=float), (U,))
    is_max &= d[None] > excl[:, None, None]
    dist = np.where(is_max, d[None], np.inf).reshape(U, -1)
    k = min(n_peaks, dist.shape[1])
    idx = np.argpartition(dist, k - 1, axis=1)[:, :k]  # (U, k) flat indices, unordered
    found = np.isfinite(np.take_along_axis(dist, idx, axis=1)).all(axis=1)
    py, px = np.divmod(idx, W)
    return py, px, found


def _sac_peak_vectors(
    s: np.ndarray, py: np.ndarray, px: np.ndarray, centre: tuple[int, int], bin_size: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peak positions refined to sub-bin precision (parabola along x and y), sorted by angle.

    Args:
        s: (U, H, W) SACs. py, px: (U, k) peak row and column indices. centre: ``(row, col)``
            of zero lag. bin_size: metres per lag.
    Returns:
        ``(vx, vy, ang, f0)``, each (U, k): peak position relative to the centre (metres), its
        angle (degrees in (-180, 180]) and the SAC value at the peak's bin.
    """
    U, H, W = s.shape
    cy, cx = centre

    def val(oy, ox):
        yi, xi = py + oy, px + ox
        inside = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
        v = s[np.arange(U)[:, None], np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)]
        return np.where(inside, v, np.nan)

    f0 = val(0, 0)
    ox = _parabolic_offset(val(0, -1), f0, val(0, 1))
    oy = _parabolic_offset(val(-1, 0), f0, val(1, 0))
    vx = (px + ox - cx) * bin_size
    vy = (py + oy - cy) * bin_size
    ang = np.degrees(np.arctan2(vy, vx))
    order = np.argsort(ang, axis=1)
    vx, vy = np.take_along_axis(vx, order, 1), np.take_along_axis(vy, order, 1)
    ang, f0 = np.take_along_axis(ang, order, 1), np.take_along_axis(f0, order, 1)
    return vx, vy, ang, f0


def _fit_ellipse(vx: np.ndarray, vy: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, ...]:
    """Origin-centred ellipse ``A x^2 + B xy + C y^2 = 1`` through the peaks, least squares.

    Args:
        vx, vy: (U, k) peak positions, metres. found: (U,) bool, units with all k peaks.
    Returns:
        ``(major, minor, angle, ratio, ecc, posdef)``, each (U,): semi-axes (metres), major-axis
        direction (degrees in [0, 180)), minor / major, eccentricity, and True where the fit is
        a real ellipse (the other values are meaningless elsewhere).
    """
    # batched normal equations
    D = np.stack([vx**2, vx * vy, vy**2], axis=-1)  # (U, k, 3)
    DtD = np.einsum("uki,ukj->uij", D, D)
    Dt1 = D.sum(axis=1)
    good = found & (np.abs(np.linalg.det(np.where(found[:, None, None], DtD, np.eye(3)))) > 0)
    coef = np.linalg.solve(
        np.where(good[:, None, None], DtD, np.eye(3)), np.where(good[:, None], Dt1, 1.0)[..., None]
    )[..., 0]
    A, B, C = coef[:, 0], coef[:, 1], coef[:, 2]
    Q = np.stack([np.stack([A, B / 2], -1), np.stack([B / 2, C], -1)], -2)
    lam, vec = np.linalg.eigh(Q)  # ascending: lam[0] small -> major axis
    posdef = good & (lam[:, 0] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        major = 1 / np.sqrt(lam[:, 0])
        minor = 1 / np.sqrt(lam[:, 1])
    e_ang = np.mod(np.degrees(np.arctan2(vec[:, 1, 0], vec[:, 0, 0])), 180.0)
    ratio = minor / major
    ecc = np.sqrt(np.clip(1 - ratio**2, 0.0, 1.0))
    return major, minor, e_ang, ratio, ecc, posdef


def _nan_if(mask: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a`` (U, ...) where ``mask`` (U,) is True, NaN elsewhere."""
    return np.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, np.nan)


def lattice_from_sac(
    sacs, bin_size: float, min_peak: float = 0.0, exclude_radius=None, n_peaks: int = 6
) -> SACLattice:
    """Spacing, orientation and ellipse from the SAC peaks nearest the centre.

    Parameters
    ----------
    sacs : (U, H, W) or (H, W) array
        Autocorrelograms (:func:`gridssl.analysis.sac.autocorrelogram`), NaN = invalid.
    bin_size : float, metres
        Bin size of the maps the SACs came from (one SAC lag = one bin).
    min_peak : float
        Local maxima (3 x 3 neighbourhood) with a correlation at or below this are ignored.
    exclude_radius : None, float or (U,), bins
        Peaks at this distance from the centre or closer are part of the central peak and are
        ignored. Default: ``max(1.5, central field radius)`` from
        :func:`gridssl.analysis.gridscore.central_field_radius` (half-height crossing).
    n_peaks : int
        Number of nearest peaks used (6 for a hexagonal lattice).
    """
    s = as_numpy(sacs)
    if s.ndim == 2:
        s = s[None]
    _, H, W = s.shape
    centre = sac_centre((H, W))
    py, px, found = _nearest_sac_peaks(s, centre, min_peak, exclude_radius, n_peaks)
    vx, vy, ang, f0 = _sac_peak_vectors(s, py, px, centre, bin_size)  # (U, k) each
    r = np.hypot(vx, vy)
    spacing = r.mean(axis=1)
    orientation = circular_mean_mod(ang, 60.0, axis=1)
    z = np.exp(2j * np.pi * ang / 60.0).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.sqrt(-2 * np.log(np.clip(np.abs(z), 1e-12, 1.0))) * 60 / (2 * np.pi)
    major, minor, e_ang, ratio, ecc, posdef = _fit_ellipse(vx, vy, found)

    return SACLattice(
        spacing=_nan_if(found, spacing),
        orientation=_nan_if(found, orientation),
        peaks=_nan_if(found, np.stack([vx, vy], axis=-1)),
        peak_values=_nan_if(found, f0),
        ellipse_major=_nan_if(posdef, major),
        ellipse_minor=_nan_if(posdef, minor),
        ellipse_angle=_nan_if(posdef, e_ang),
        axis_ratio=_nan_if(posdef, ratio),
        eccentricity=_nan_if(posdef, ecc),
        orientation_spread=_nan_if(found, spread),
        params=dict(
            method="sac_peaks",
            bin_size=bin_size,
            min_peak=min_peak,
            n_peaks=n_peaks,
            exclude_radius="max(1.5, central_field_radius)"
            if exclude_radius is None
            else exclude_radius,
            local_max="3x3",
            refinement="parabolic along x and y",
            orientation="circular mean of peak angles mod 60, degrees in [0, 60)",
        ),
    )


def _padded_power(
    m: np.ndarray, bin_size: float, pad_factor: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Power spectra of the mean-subtracted, zero-padded maps, each over its total power.

    Args:
        m: (U, ny, nx) rate maps, NaN = unvisited. bin_size: metres. pad_factor: as in
            :func:`lattice_from_fourier`.
    Returns:
        ``(P, kx, ky, (Ny, Nx))``: P (U, Ny, Nx//2+1) normalised ``rfft2`` power; kx (Nx//2+1,)
        and ky (Ny,) wave-numbers in rad/m, fftfreq order; ``(Ny, Nx)`` the padded map shape.
    """
    _, ny, nx = m.shape
    v = np.isfinite(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(v, m, 0.0).sum(axis=(1, 2), keepdims=True) / v.sum(
            axis=(1, 2), keepdims=True
        )
    x = np.where(v, m - mean, 0.0)
    Ny = sfft.next_fast_len(int(pad_factor * ny), real=True)
    Nx = sfft.next_fast_len(int(pad_factor * nx), real=True)
    P = np.abs(sfft.rfft2(x, s=(Ny, Nx))) ** 2  # (U, Ny, Nx//2+1)
    total = P.sum(axis=(1, 2), keepdims=True)
    P = P / np.where(total > 0, total, 1.0)
    ky = 2 * np.pi * sfft.fftfreq(Ny, d=bin_size)
    kx = 2 * np.pi * sfft.rfftfreq(Nx, d=bin_size)
    return P, kx, ky, (Ny, Nx)


def _strongest_waves(
    P: np.ndarray, kx: np.ndarray, ky: np.ndarray, k_min: float, n_waves: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_waves`` strongest local maxima of each spectrum in the half-plane, ``|k| >= k_min``.

    Args:
        P: (U, Ny, Nkx) power spectra. kx (Nkx,), ky (Ny,): their wave-numbers, rad/m.
        k_min: rad/m. n_waves: number of peaks.
    Returns:
        ``(cand, top)``: cand (U, Ny * Nkx) the power at allowed local maxima, -1 elsewhere;
        top (U, n_waves) flat indices of the strongest, strongest first.
    """
    U = P.shape[0]
    KX, KY = np.meshgrid(kx, ky)
    kmag = np.hypot(KX, KY)
    half = (KX > 0) | ((KX == 0) & (KY > 0))
    allowed = half & (kmag >= k_min)
    # local maxima: ky wraps around (fftfreq order), kx does not
    mf = maximum_filter(P, size=(1, 3, 3), mode=("constant", "wrap", "nearest"), cval=0.0)
    cand = np.where((P >= mf) & allowed[None], P, -1.0).reshape(U, -1)
    n = n_waves
    top = np.argpartition(-cand, n - 1, axis=1)[:, :n]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(cand, top, 1), axis=1), 1)
    return cand, top


def _refine_waves(
    P: np.ndarray,
    top: np.ndarray,
    kx: np.ndarray,
    ky: np.ndarray,
    shape: tuple[int, int],
    bin_size: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Wave-vectors of the peaks ``top``, refined by a parabola through log-power along kx, ky.

    Args:
        P: (U, Ny, Nkx) power spectra; top: (U, n) flat peak indices into ``P[u]``; kx (Nkx,),
            ky (Ny,) rad/m; shape: ``(Ny, Nx)`` padded map shape; bin_size: metres.
    Returns:
        ``(kxs, kys)``, each (U, n), rad/m.
    """
    Ny, Nx = shape
    iy, ix = np.divmod(top, kx.size)
    rows = np.arange(P.shape[0])[:, None]

    def logp(oy, ox):
        yi = (iy + oy) % Ny
        xi = np.clip(ix + ox, 0, kx.size - 1)
        return np.log(np.maximum(P[rows, yi, xi], 1e-300))

    l0 = logp(0, 0)
    offx = np.where(
        (ix > 0) & (ix < kx.size - 1), _parabolic_offset(logp(0, -1), l0, logp(0, 1)), 0.0
    )
    offy = _parabolic_offset(logp(-1, 0), l0, logp(1, 0))
    dk_x, dk_y = 2 * np.pi / (Nx * bin_size), 2 * np.pi / (Ny * bin_size)
    return kx[ix] + offx * dk_x, ky[iy] + offy * dk_y


def lattice_from_fourier(
    maps, bin_size: float, pad_factor: int = 8, k_min=None, n_waves=3
) -> FourierLattice:
    """Spacing and orientation from the peaks of the 2-D Fourier power of each map.

    Parameters
    ----------
    maps : (U, ny, nx) or (ny, nx) array
        Rate maps, NaN = unvisited. Each map's mean over visited bins is subtracted and unvisited
        bins are set to 0 (so they carry no power).
    bin_size : float, metres
    pad_factor : int
        The map is zero-padded to ``next_fast_len(pad_factor * n)`` bins per axis (default 8,
        giving a wave-number grid ``2 pi / (pad_factor * n * bin_size)`` rad/m); each peak is
        then refined by a parabola through log-power along kx and ky.
    k_min : float, rad/m
        Wave numbers below this are ignored. Default ``2 pi / L`` with ``L`` the longer side of
        the map: periods longer than the box are not lattices.
    n_waves : int
        Number of strongest peaks used (3 for a hexagonal lattice; 2 for a square one).

    Notes
    -----
    The box is a rectangular window: with only about two periods in the box, leakage between the
    peaks biases ``|k|`` by a few percent (docs/METHOD.md section 6).
    """
    m = as_numpy(maps)
    if m.ndim == 2:
        m = m[None]
    _, ny, nx = m.shape
    P, kx, ky, (Ny, Nx) = _padded_power(m, bin_size, pad_factor)
    if k_min is None:
        k_min = 2 * np.pi / (max(ny, nx) * bin_size)
    cand, top = _strongest_waves(P, kx, ky, k_min, n_waves)
    kxs, kys = _refine_waves(P, top, kx, ky, (Ny, Nx), bin_size)
    kk = np.hypot(kxs, kys)
    ang = np.degrees(np.arctan2(kys, kxs))
    pw = np.take_along_axis(cand, top, 1)
    ok = pw > 0
    kk = np.where(ok, kk, np.nan)
    ang = np.where(ok, ang, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        spacing = 4 * np.pi / (np.sqrt(3) * np.nanmean(kk, axis=1))
    orientation = circular_mean_mod(ang + 30.0, 60.0, axis=1)
    return FourierLattice(
        spacing=spacing,
        orientation=orientation,
        k=kk,
        wave_angles=ang,
        power=np.where(ok, pw, np.nan),
        k_peak=kk[:, 0],
        params=dict(
            method="fourier",
            bin_size=bin_size,
            pad_factor=pad_factor,
            padded_shape=(Ny, Nx),
            k_min=float(k_min),
            n_waves=n_waves,
            preprocessing="mean over visited bins subtracted, unvisited -> 0",
            spacing="4 pi / (sqrt(3) mean |k|)",
            orientation="circular mean mod 60 of wave angle + 30, degrees in [0, 60)",
        ),
    )
