"""Grid modules: cluster units by lattice spacing and orientation (and optionally shear).

Inputs are per-unit lattice features, e.g. from the autocorrelogram peaks (``lattice.py``) or the
Fourier peaks. Orientation follows the package convention (see :mod:`gridssl.analysis.synthetic`):
degrees in ``[0, 60)``, the angle of the lattice vector anticlockwise from +x. It is **circular with
period 60 degrees** (59 and 1 degree are 2 degrees apart) and is handled as such everywhere here.

Method (``find_modules``)
-------------------------
1. Units with a NaN feature, or excluded by ``valid``, get label -1 and take no further part.
2. Each unit becomes a point in a feature space whose unit is "one tolerance":
   ``log(spacing) / log(spacing_tol)``, the orientation on a circle
   ``R (cos 6 theta, sin 6 theta)`` with ``R = 1 / (6 rad(orientation_tol))`` (so a small
   orientation difference of ``orientation_tol`` degrees is a distance of about 1, and the
   60-degree wrap is exact), and optionally ``shear / shear_tol``.
3. Gaussian mixtures (full covariance, several initialisations, all draws from ``rng``) are fitted
   for k = 1 .. k_max and the k with the lowest BIC is kept.
4. Robustness against splitting one module: BIC over-splits clusters that are not Gaussian (flat,
   skewed or heavy-tailed spreads). Components whose means are *not* separated by a minimum
   distance are merged, transitively (single linkage): two components stay distinct modules only
   if their mean spacings differ by a ratio of at least ``min_spacing_ratio`` **or** their mean
   orientations differ by at least ``min_orientation_sep`` degrees (or, with shear, their mean
   shears differ by at least ``min_shear_sep``). Known module ratios are 1.3-1.7, so the default
   1.15 ratio leaves a wide margin; orientation spreads within a module are a few degrees.
5. Groups smaller than ``min_size`` units are treated as outliers (label -1), not modules.
6. Modules are renumbered by increasing mean period (module 0 is the smallest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from ..config import MODULE_PERIOD_RATIO
from .lattice import circular_mean_mod

PERIOD_DEG = 60.0  # orientation period of a hexagonal lattice, degrees


@dataclass
class ModuleResult:
    """Modules found by :func:`find_modules`. ``M`` is the number of modules (``k``).

    Attributes:
        labels: (U,) int, module index per unit, 0..M-1 by increasing period; -1 for units that
            were invalid (NaN features / ``valid`` False) or fell in a group smaller than
            ``min_size``.
        k: number of modules M after merging.
        k_bic: number of mixture components chosen by BIC, before merging.
        bic: (k_max,) BIC of the mixture for k = 1..k_max (NaN where k exceeded the unit count).
        periods: (M,) mean spacing of each module, metres, ascending.
        period_ratios: (M-1,) successive ratios ``periods[i+1] / periods[i]``.
        period_spread: (M,) standard deviation of the spacings in each module, metres.
        orientations: (M,) circular mean orientation of each module, degrees in [0, 60).
        orientation_spread: (M,) circular standard deviation of the orientation in each module,
            degrees, computed on the 60-degree circle: ``sqrt(-2 ln R) / 6`` with R the mean
            resultant length of ``exp(6 i theta)``.
        shears: (M, d) mean shear feature(s) per module, or None when no shear was given.
        sizes: (M,) number of units per module.
    """

    labels: np.ndarray
    k: int
    k_bic: int
    bic: np.ndarray
    periods: np.ndarray
    period_ratios: np.ndarray
    period_spread: np.ndarray
    orientations: np.ndarray
    orientation_spread: np.ndarray
    shears: np.ndarray | None
    sizes: np.ndarray


def circular_std_deg(angles_deg: np.ndarray, period: float = PERIOD_DEG) -> float:
    """Circular standard deviation ``sqrt(-2 ln R)`` of angles (degrees) with the given period."""
    r = np.abs(np.exp(2j * np.pi * np.asarray(angles_deg, float) / period).mean())
    return float(np.sqrt(-2 * np.log(max(r, 1e-300))) * period / (2 * np.pi))


def circular_diff_deg(a: np.ndarray, b: np.ndarray, period: float = PERIOD_DEG) -> np.ndarray:
    """Absolute circular difference of angles (degrees) with the given period, in [0, period/2]."""
    d = np.mod(np.asarray(a, float) - np.asarray(b, float), period)
    return np.minimum(d, period - d)


def module_features(
    spacing: np.ndarray,
    orientation: np.ndarray,
    shear: np.ndarray | None = None,
    spacing_tol: float = 1.05,
    orientation_tol: float = 3.0,
    shear_tol: float = 0.05,
) -> np.ndarray:
    """Feature matrix (U, 3 [+ n_shear]) used for clustering, in units of the tolerances.

    Columns: ``log(spacing) / log(spacing_tol)``, ``R cos(6 theta)``, ``R sin(6 theta)`` with
    ``R = 1 / (6 rad(orientation_tol))``, then ``shear / shear_tol`` (one column per shear feature).
    Args:
        spacing: (U,) metres. orientation: (U,) degrees, period 60. shear: (U,) or (U, d), or None.
    """
    spacing = np.asarray(spacing, float)
    theta = np.deg2rad(np.asarray(orientation, float)) * (360.0 / PERIOD_DEG)
    radius = 1.0 / ((360.0 / PERIOD_DEG) * np.deg2rad(orientation_tol))
    cols = [np.log(spacing) / np.log(spacing_tol), radius * np.cos(theta), radius * np.sin(theta)]
    feats = np.stack(cols, axis=1)
    if shear is not None:
        sh = np.asarray(shear, float).reshape(len(spacing), -1)
        feats = np.concatenate([feats, sh / shear_tol], axis=1)
    return feats


def _merge_groups(
    log_sp: np.ndarray,
    ori: np.ndarray,
    shear: np.ndarray | None,
    min_spacing_ratio: float,
    min_orientation_sep: float,
    min_shear_sep: float,
) -> np.ndarray:
    """Single-linkage merge of component means closer than the minimum separations.

    Args: per-component mean log-spacing (C,), orientation (C,) degrees, shear (C, d) or None.
    Returns: (C,) group id per component, 0..G-1.
    """
    c = len(log_sp)
    close = np.abs(log_sp[:, None] - log_sp[None, :]) < np.log(min_spacing_ratio)
    close &= circular_diff_deg(ori[:, None], ori[None, :]) < min_orientation_sep
    if shear is not None:
        close &= np.abs(shear[:, None, :] - shear[None, :, :]).max(-1) < min_shear_sep
    group = np.arange(c)
    for _ in range(c):  # label propagation to the transitive closure (C <= k_max, tiny)
        new = np.array([group[close[i]].min() for i in range(c)])
        if np.array_equal(new, group):
            break
        group = new
    _, group = np.unique(group, return_inverse=True)
    return group


def _usable_units(
    spacing: np.ndarray, orientation: np.ndarray, sh: np.ndarray | None, valid: np.ndarray | None
) -> np.ndarray:
    """Indices of the units (step 1) with finite features, spacing > 0 and ``valid`` True.

    Args: spacing (U,) metres, orientation (U,) degrees, sh (U, d) or None, valid (U,) or None.
    """
    ok = np.isfinite(spacing) & np.isfinite(orientation) & (spacing > 0)
    if sh is not None:
        ok &= np.isfinite(sh).all(1)
    if valid is not None:
        ok &= np.asarray(valid, bool).ravel()
    return np.flatnonzero(ok)


def _best_mixture(
    feats: np.ndarray, k_max: int, n_init: int, rng: np.random.Generator
) -> tuple[int, np.ndarray, np.ndarray]:
    """Gaussian mixtures for k = 1..min(k_max, n); the one with the lowest BIC labels the units.

    Args:
        feats: (n, d) features (:func:`module_features`). k_max, n_init: as in
            :func:`find_modules`. rng: source of every mixture's random_state.
    Returns:
        ``(k_bic, comp, bic)``: chosen number of components, (n,) component per unit and
        (k_max,) BIC per k (NaN where k exceeded n).
    """
    bic = np.full(k_max, np.nan)
    # The matrices are tiny: multi-threaded BLAS only adds overhead (30x slower on a busy 2-core
    # machine), so BLAS/OpenMP use one thread meanwhile.
    best = None
    with threadpool_limits(limits=1):
        for k in range(1, min(k_max, len(feats)) + 1):
            gm = GaussianMixture(
                n_components=k,
                covariance_type="full",
                n_init=n_init,
                reg_covar=1e-2,  # variance floor = (0.1 tolerance)^2 in feature units
                random_state=int(rng.integers(2**31 - 1)),
            ).fit(feats)
            bic[k - 1] = gm.bic(feats)
            if best is None or bic[k - 1] < bic[best[0] - 1]:
                best = (k, gm)
    k_bic, gm = best
    return k_bic, gm.predict(feats), bic


def _merge_components(
    comp: np.ndarray,
    spacing: np.ndarray,
    orientation: np.ndarray,
    sh: np.ndarray | None,
    min_spacing_ratio: float,
    min_orientation_sep: float,
    min_shear_sep: float,
) -> np.ndarray:
    """Merge mixture components whose member means are closer than the minimum separations.

    Args:
        comp: (n,) component per unit. spacing: (n,) metres. orientation: (n,) degrees, period
            60. sh: (n, d) shear or None. min_*: as in :func:`find_modules`.
    Returns:
        (n,) merged group per unit, 0..G-1.
    """
    used = np.unique(comp)
    c_log = np.array([np.log(spacing[comp == c]).mean() for c in used])
    c_ori = np.array([circular_mean_mod(orientation[comp == c], PERIOD_DEG) for c in used])
    c_sh = None if sh is None else np.stack([sh[comp == c].mean(0) for c in used])
    group_of_comp = _merge_groups(
        c_log, c_ori, c_sh, min_spacing_ratio, min_orientation_sep, min_shear_sep
    )
    return group_of_comp[np.searchsorted(used, comp)]


def _rank_groups(group: np.ndarray, spacing: np.ndarray, min_size: int) -> np.ndarray:
    """Module labels (n,): groups of at least ``min_size`` units numbered by increasing mean
    spacing (metres, (n,)), -1 for smaller groups."""
    gids, counts = np.unique(group, return_counts=True)
    keep = gids[counts >= min_size]
    means = np.array([spacing[group == g].mean() for g in keep])
    order = keep[np.argsort(means)]
    remap = -np.ones(group.max() + 1, int)
    remap[order] = np.arange(order.size)
    return remap[group]


def find_modules(
    spacing: np.ndarray,
    orientation: np.ndarray,
    shear: np.ndarray | None = None,
    k_max: int = 6,
    rng: np.random.Generator | int | None = None,
    valid: np.ndarray | None = None,
    spacing_tol: float = 1.05,
    orientation_tol: float = 3.0,
    shear_tol: float = 0.05,
    min_spacing_ratio: float = MODULE_PERIOD_RATIO,
    min_orientation_sep: float = 7.5,
    min_shear_sep: float = 0.15,
    min_size: int = 3,
    n_init: int = 5,
) -> ModuleResult:
    """Cluster units into grid modules (Gaussian mixture + BIC, then a minimum-separation merge).

    Args:
        spacing: (U,) lattice spacing per unit, metres (NaN for non-grid units).
        orientation: (U,) lattice orientation per unit, degrees, circular with period 60.
        shear: optional (U,) or (U, d) dimensionless shear/ellipticity feature(s).
        k_max: largest number of mixture components tried (k = 1..k_max).
        rng: numpy Generator or seed; every random draw (mixture initialisations) comes from it.
        valid: optional (U,) bool; False excludes a unit (e.g. grid score below a threshold).
        spacing_tol, orientation_tol, shear_tol: feature scales (ratio, degrees, shear units) that
            make one unit of distance in the clustering space; they also floor the covariance.
        min_spacing_ratio, min_orientation_sep, min_shear_sep: minimum separations of two distinct
            modules (see the module docstring); closer mixture components are merged.
        min_size: groups with fewer units are labelled -1 (outliers) and not counted.
        n_init: mixture initialisations per k.

    Returns:
        :class:`ModuleResult`.
    """
    rng = np.random.default_rng(rng)
    spacing = np.asarray(spacing, float).ravel()
    orientation = np.asarray(orientation, float).ravel()
    n_units = spacing.size
    if orientation.size != n_units:
        raise ValueError("spacing and orientation must have the same length")
    sh = None if shear is None else np.asarray(shear, float).reshape(n_units, -1)

    idx = _usable_units(spacing, orientation, sh, valid)
    n = idx.size
    labels = -np.ones(n_units, int)
    bic = np.full(k_max, np.nan)

    if n < max(2, min_size):  # too few grid units to form even one module
        return _summarise(labels, spacing, orientation, sh, 0, bic)

    sp, ori, sh_ok = spacing[idx], orientation[idx], None if sh is None else sh[idx]
    feats = module_features(sp, ori, sh_ok, spacing_tol, orientation_tol, shear_tol)
    k_bic, comp, bic = _best_mixture(feats, k_max, n_init, rng)
    group = _merge_components(
        comp, sp, ori, sh_ok, min_spacing_ratio, min_orientation_sep, min_shear_sep
    )
    labels[idx] = _rank_groups(group, sp, min_size)
    return _summarise(labels, spacing, orientation, sh, k_bic, bic)


def _summarise(labels, spacing, orientation, sh, k_bic, bic) -> ModuleResult:
    k = int(labels.max() + 1) if labels.size else 0
    members = [labels == m for m in range(k)]
    periods = np.array([spacing[m].mean() for m in members])
    return ModuleResult(
        labels=labels,
        k=k,
        k_bic=int(k_bic),
        bic=bic,
        periods=periods,
        period_ratios=periods[1:] / periods[:-1] if k > 1 else np.zeros(0),
        period_spread=np.array([spacing[m].std() for m in members]),
        orientations=np.array([circular_mean_mod(orientation[m], PERIOD_DEG) for m in members]),
        orientation_spread=np.array([circular_std_deg(orientation[m]) for m in members]),
        shears=None if sh is None else np.array([sh[m].mean(0) for m in members]).reshape(k, -1),
        sizes=np.array([m.sum() for m in members], int),
    )
