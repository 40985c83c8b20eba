"""Rate maps: per-bin average activity of many units along a trajectory.

Conventions (shared by the whole analysis package):

* positions are in metres, columns ``(x, y)``;
* maps use the image convention ``[y, x]``: row ``i`` holds bins with ``y`` in
  ``[ymin + i * bin_size, ymin + (i + 1) * bin_size)``, so the row index grows with ``y``
  (plot with ``origin="lower"``);
* unvisited bins (occupancy below ``min_occupancy``) are ``NaN``.

Everything is vectorised over units: the binning is one sparse ``(n_bins, S)`` one-hot matrix and
the per-bin sums of all units are a single sparse-dense product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.ndimage import gaussian_filter

__all__ = ["RateMaps", "Binning", "bin_positions", "rate_maps", "smooth_nan", "as_numpy"]


def as_numpy(x, dtype=np.float64) -> np.ndarray:
    """Convert an array-like (numpy array, list, CPU or GPU torch tensor) to a numpy array."""
    if hasattr(x, "detach"):  # torch tensor: detach from the graph and move to the CPU
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


@dataclass
class RateMaps:
    """Rate maps of ``U`` units.

    Attributes
    ----------
    maps : (U, ny, nx) float64
        Mean activity per bin, ``NaN`` in unvisited bins (image convention ``[y, x]``).
    occupancy : (ny, nx) int64
        Number of samples per bin.
    box : (xmin, xmax, ymin, ymax)
        Arena bounds in metres.
    bin_size : float
        Bin side in metres.
    """

    maps: np.ndarray
    occupancy: np.ndarray
    box: tuple[float, float, float, float]
    bin_size: float

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.occupancy.shape

    @property
    def visited(self) -> np.ndarray:
        """Boolean ``(ny, nx)`` mask of bins with enough occupancy (not NaN)."""
        return ~np.isnan(self.maps[0]) if len(self.maps) else self.occupancy > 0

    def bin_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Bin-centre coordinates in metres: ``xc (nx,)`` and ``yc (ny,)``."""
        xmin, _, ymin, _ = self.box
        ny, nx = self.shape
        return (
            xmin + (np.arange(nx) + 0.5) * self.bin_size,
            ymin + (np.arange(ny) + 0.5) * self.bin_size,
        )


@dataclass
class Binning:
    """Assignment of ``S`` samples to the bins of a box; reusable for many activity arrays.

    Attributes
    ----------
    onehot : scipy.sparse.csr_matrix (ny * nx, S)
        ``onehot[b, t] = 1`` when sample ``t`` falls in flat bin ``b`` (row-major ``[y, x]``);
        samples outside the box have an all-zero column.
    occupancy : (ny, nx) int64
        Samples per bin.
    box, bin_size : as in :class:`RateMaps`.
    """

    onehot: sparse.csr_matrix
    occupancy: np.ndarray
    box: tuple[float, float, float, float]
    bin_size: float

    def rate_maps(self, activity, smooth_sigma: float = 0.0, min_occupancy: int = 1) -> RateMaps:
        """Rate maps of ``activity (S, U)`` on this binning (see :func:`rate_maps`)."""
        act = as_numpy(activity)
        if act.ndim == 1:
            act = act[:, None]
        if act.shape[0] != self.onehot.shape[1]:
            raise ValueError(
                f"activity has {act.shape[0]} samples, binning has {self.onehot.shape[1]}"
            )
        ny, nx = self.occupancy.shape
        sums = np.asarray(self.onehot @ act)  # (ny*nx, U)
        occ = self.occupancy.reshape(-1)
        visited = occ >= max(int(min_occupancy), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / occ[:, None]
        means[~visited] = np.nan
        maps = np.ascontiguousarray(means.T).reshape(-1, ny, nx)
        if smooth_sigma > 0:
            maps = smooth_nan(maps, smooth_sigma / self.bin_size)
        return RateMaps(
            maps=maps, occupancy=self.occupancy.copy(), box=self.box, bin_size=self.bin_size
        )


def _grid_shape(box, bin_size: float) -> tuple[int, int]:
    xmin, xmax, ymin, ymax = (float(b) for b in box)
    if xmax <= xmin or ymax <= ymin or bin_size <= 0:
        raise ValueError(f"bad box {box} or bin_size {bin_size}")
    nx = int(np.ceil((xmax - xmin) / bin_size - 1e-9))
    ny = int(np.ceil((ymax - ymin) / bin_size - 1e-9))
    return ny, nx


def bin_positions(positions, box, bin_size: float) -> Binning:
    """Bin positions ``(S, 2)`` (metres, ``x, y``) into square bins of ``bin_size`` metres.

    The grid has ``nx = ceil((xmax - xmin) / bin_size)`` columns (likewise ``ny`` rows). A sample
    exactly on the upper edge goes in the last bin; samples outside the box (or non-finite) are
    ignored (they count in no bin).
    """
    pos = as_numpy(positions)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must be (S, 2), got {pos.shape}")
    box = tuple(float(b) for b in box)
    xmin, xmax, ymin, ymax = box
    ny, nx = _grid_shape(box, bin_size)
    tol = 1e-6 * bin_size  # float32 positions on the box edge still count
    x, y = pos[:, 0], pos[:, 1]
    inside = (
        np.isfinite(x)
        & np.isfinite(y)
        & (x >= xmin - tol)
        & (x <= xmax + tol)
        & (y >= ymin - tol)
        & (y <= ymax + tol)
    )
    ix = np.clip(np.floor((x[inside] - xmin) / bin_size).astype(np.int64), 0, nx - 1)
    iy = np.clip(np.floor((y[inside] - ymin) / bin_size).astype(np.int64), 0, ny - 1)
    flat = iy * nx + ix
    cols = np.flatnonzero(inside)
    onehot = sparse.csr_matrix((np.ones(flat.size), (flat, cols)), shape=(ny * nx, pos.shape[0]))
    occupancy = np.bincount(flat, minlength=ny * nx).reshape(ny, nx).astype(np.int64)
    return Binning(onehot=onehot, occupancy=occupancy, box=box, bin_size=float(bin_size))


def rate_maps(
    positions,
    activity,
    box,
    bin_size: float,
    smooth_sigma: float = 0.0,
    min_occupancy: int = 1,
) -> RateMaps:
    """Average activity per spatial bin, for all units at once.

    Parameters
    ----------
    positions : (S, 2) array-like, metres
        Trajectory ``(x, y)``; numpy arrays or torch tensors.
    activity : (S, U) or (S,) array-like
        Activity of ``U`` units at the same ``S`` samples (any unit, e.g. firing rate).
    box : (xmin, xmax, ymin, ymax), metres
        Arena bounds. Samples outside are ignored.
    bin_size : float, metres
        Side of the square bins.
    smooth_sigma : float, metres
        Standard deviation of an optional NaN-aware Gaussian smoothing (see :func:`smooth_nan`),
        applied to the binned means; 0 (default) means no smoothing.
    min_occupancy : int
        Bins with fewer samples are unvisited (``NaN``).

    Returns
    -------
    RateMaps
        ``maps (U, ny, nx)`` with ``NaN`` in unvisited bins, ``occupancy (ny, nx)``.
    """
    return bin_positions(positions, box, bin_size).rate_maps(
        activity, smooth_sigma=smooth_sigma, min_occupancy=min_occupancy
    )


def smooth_nan(maps, sigma_bins: float, truncate: float = 4.0) -> np.ndarray:
    """NaN-aware Gaussian smoothing by normalised convolution.

    ``smoothed = G * (m * v) / G * v`` with ``v`` the indicator of finite bins and ``m`` the map
    with NaN replaced by 0; bins that were NaN stay NaN (no extrapolation into unvisited bins).
    Zero padding outside the map, so edges are not biased towards 0.

    Parameters
    ----------
    maps : (..., ny, nx) array
        One or many maps; smoothing acts on the last two axes only.
    sigma_bins : float
        Gaussian standard deviation in bins (``sigma_metres / bin_size``).
    truncate : float
        Kernel radius in standard deviations.
    """
    m = as_numpy(maps)
    if sigma_bins <= 0:
        return m.copy()
    valid = np.isfinite(m)
    sig = (0.0,) * (m.ndim - 2) + (float(sigma_bins),) * 2
    num = gaussian_filter(
        np.where(valid, m, 0.0), sig, mode="constant", cval=0.0, truncate=truncate
    )
    den = gaussian_filter(
        valid.astype(np.float64), sig, mode="constant", cval=0.0, truncate=truncate
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out
