"""Grid scores from spatial autocorrelograms (SACs), vectorised over units.

Several variants exist in the literature and they disagree (docs/METHOD.md section 6): every
result records its ``variant`` and ``params``; always report them with a number.

Common machinery
----------------
``r_theta`` is the correlation between a SAC and the same SAC rotated anticlockwise by ``theta``
degrees about its centre, over the SAC bins of an annulus (ring) around the centre. Here it is the
**Pearson correlation over the ring bins that are valid (finite) in both** the SAC and its rotated
copy (a symmetric Pearson; unlike Banino et al.'s code, which normalises by the unrotated ring's
mean and variance and counts invalid bins as 0). The rotated SAC is sampled with bilinear
interpolation at precomputed coordinates (one table per SAC shape and angle set, reused for all
units); a rotated bin is valid only if every interpolation neighbour with positive weight is
finite and inside the SAC. Rings are nested (fixed inner radius, growing outer radius), so all
outer radii come from one cumulative sum over bins sorted by distance from the centre.

Radii are distances in bins from the SAC centre (zero lag).

Variants
--------
``minmax`` (Sargolini et al. 2006 form on Banino et al. 2018 annuli)
    ``G = min(r60, r120) - max(r30, r90, r150)`` on rings ``inner * n < d <= outer * n`` with
    ``n = min(ny, nx)`` the map size (so the SAC half-width), ``inner = 0.2``,
    ``outer in linspace(0.4, 1.0, 10)``; the score is the maximum over the outer radii.
``mean`` (Banino et al. 2018 default)
    ``G = (r60 + r120) / 2 - (r30 + r90 + r150) / 3`` on the same rings, maximised likewise.
    Stripes can pass 0.3 under this form: prefer ``minmax``.
``square`` (:func:`square_scores`)
    ``G90 = r90 - (r45 + r135) / 2`` on the same rings, maximised likewise.
``bnt`` (:func:`bnt_grid_scores`, Brandon et al. 2011 / Moser-lab BNT / opexebo)
    Inner radius = the radius of the SAC's central field (half-height crossing of the radial
    profile or its first local minimum, see :func:`central_field_radius`);
    ``G(R) = min(r60, r120) - max(r30, r90, r150)`` on rings ``r_c < d < R`` for integer outer
    radii ``R = max(3, r_c + 1), ..., floor(min(2ny - 1, 2nx - 1) / 2)``; the score is the maximum
    of the 3-radius moving average of ``G(R)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import sparse

from .ratemaps import as_numpy
from .sac import autocorrelogram, sac_centre

__all__ = [
    "GridScores",
    "grid_scores",
    "square_scores",
    "bnt_grid_scores",
    "central_field_radius",
    "ring_correlations",
    "score_maps",
    "BANINO_OUTERS",
]

BANINO_OUTERS = np.linspace(0.4, 1.0, 10)
_ANGLES_60 = (30.0, 60.0, 90.0, 120.0, 150.0)
_ANGLES_ALL = (30.0, 45.0, 60.0, 90.0, 120.0, 135.0, 150.0)


@dataclass
class GridScores:
    """Grid scores of ``U`` units.

    Attributes
    ----------
    scores : (U,)
        The score (NaN where undefined, e.g. a SAC with too few valid ring bins).
    variant : str
        ``"minmax"``, ``"mean"``, ``"square"`` or ``"bnt"``.
    params : dict
        Everything needed to reproduce the number (radii, angles, correlation used...).
    best_outer : (U,)
        Outer ring radius (bins) that gave the score (for ``bnt``: centre of the best 3-radius
        window).
    inner : (U,)
        Inner ring radius (bins) used for each unit.
    r : (U, n_angles)
        Ring correlations ``r_theta`` at ``best_outer``, one column per entry of ``angles``.
    angles : tuple of float
        Rotation angles (degrees) of the columns of ``r``.
    """

    scores: np.ndarray
    variant: str
    params: dict
    best_outer: np.ndarray
    inner: np.ndarray
    r: np.ndarray
    angles: tuple = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.scores)

    def r_at(self, angle: float) -> np.ndarray:
        """Column of ``r`` for one rotation angle (degrees), shape (U,)."""
        return self.r[:, self.angles.index(float(angle))]


# ----------------------------------------------------------------------------------------------
# Rotation tables and ring correlations
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RingTable:
    """Bins of a SAC within ``r_max`` of its centre, sorted by distance, with rotation operators.

    ``rot`` is a sparse ``(A * P, H * W + 1)`` matrix: row ``a * P + p`` holds the bilinear
    weights that sample the SAC turned by ``angles[a]`` at ring bin ``p``; column ``H * W``
    stands for "outside the SAC". ``pattern`` has the same sparsity with ones (weights > 0).
    """

    dist: np.ndarray  # (P,) sorted distances (bins)
    flat: np.ndarray  # (P,) flat indices into the SAC
    rot: sparse.csr_matrix
    pattern: sparse.csr_matrix


@lru_cache(maxsize=32)
def _ring_table(shape: tuple[int, int], angles: tuple[float, ...], r_max: float) -> _RingTable:
    H, W = shape
    cy, cx = sac_centre(shape)
    yy, xx = np.mgrid[0:H, 0:W]
    dy, dx = (yy - cy).ravel().astype(float), (xx - cx).ravel().astype(float)
    d = np.hypot(dy, dx)
    keep = np.flatnonzero(d <= r_max + 1e-9)
    order = keep[np.argsort(d[keep], kind="stable")]
    dy, dx, d = dy[order], dx[order], d[order]
    P = order.size
    rows, cols, vals = [], [], []
    for a, theta in enumerate(angles):
        # rotated[p] = sac[R(-theta) p]: the SAC turned anticlockwise by theta (x right, y = rows)
        c, s = np.cos(np.deg2rad(theta)), np.sin(np.deg2rad(theta))
        sx = c * dx + s * dy + cx
        sy = -s * dx + c * dy + cy
        # snap to the grid when within rounding error (exact for multiples of 90 degrees)
        sx = np.where(np.abs(sx - np.rint(sx)) < 1e-9, np.rint(sx), sx)
        sy = np.where(np.abs(sy - np.rint(sy)) < 1e-9, np.rint(sy), sy)
        x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
        fx, fy = sx - x0, sy - y0
        for oy, ox, wk in [
            (0, 0, (1 - fy) * (1 - fx)),
            (0, 1, (1 - fy) * fx),
            (1, 0, fy * (1 - fx)),
            (1, 1, fy * fx),
        ]:
            yk, xk = y0 + oy, x0 + ox
            inside = (yk >= 0) & (yk < H) & (xk >= 0) & (xk < W)
            pos = wk > 0  # neighbours of zero weight never invalidate a sample
            rows.append(a * P + np.flatnonzero(pos))
            cols.append(np.where(inside, yk * W + xk, H * W)[pos])
            vals.append(wk[pos])
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    shape_rot = (len(angles) * P, H * W + 1)
    rot = sparse.csr_matrix((vals, (rows, cols)), shape=shape_rot)
    pattern = sparse.csr_matrix((np.ones_like(vals), (rows, cols)), shape=shape_rot)
    return _RingTable(dist=d, flat=order, rot=rot, pattern=pattern)


def _rotated_samples(sacs: np.ndarray, table: _RingTable):
    """Ring values ``x (P, U)``, rotated values ``y (A, P, U)`` and their validity masks."""
    U = sacs.shape[0]
    flat = sacs.reshape(U, -1).T  # (H*W, U)
    valid = np.isfinite(flat)
    vals = np.vstack([np.where(valid, flat, 0.0), np.zeros((1, U))])  # last row: outside
    bad = np.vstack([~valid, np.ones((1, U), bool)]).astype(np.float64)
    P = table.dist.size
    A = table.rot.shape[0] // P
    y = np.asarray(table.rot @ vals).reshape(A, P, U)
    vy = np.asarray(table.pattern @ bad).reshape(A, P, U) < 0.5
    return vals[table.flat], valid[table.flat], y, vy


def ring_correlations(
    sacs,
    angles=_ANGLES_ALL,
    inner=0.0,
    outers=(np.inf,),
    outer_inclusive: bool = True,
    min_bins: int = 10,
) -> np.ndarray:
    """Correlations ``r_theta`` between SACs and their rotations over nested rings.

    Parameters
    ----------
    sacs : (U, H, W) array
        Autocorrelograms (:func:`gridssl.analysis.sac.autocorrelogram`), NaN = invalid.
    angles : sequence of float
        Rotation angles in degrees (anticlockwise).
    inner : float or (U,) array, bins
        Ring bins satisfy ``d > inner`` (per unit if an array).
    outers : (O,) sequence of float, bins
        Outer radii: ``d <= outer`` (or ``d < outer`` with ``outer_inclusive=False``).
    min_bins : int
        Rings with fewer valid bin pairs give NaN.

    Returns
    -------
    (U, O, A) float64
        Pearson correlation over the ring bins valid in both the SAC and its rotation.

    Notes
    -----
    The rotation is one sparse product per call (all units and angles at once); the ring sums
    are cumulative sums over the bins sorted by distance (no BLAS calls, so no thread
    oversubscription on busy machines).
    """
    s = as_numpy(sacs)
    if s.ndim == 2:
        s = s[None]
    U, H, W = s.shape
    angles = tuple(float(a) for a in angles)
    outers = np.atleast_1d(np.asarray(outers, dtype=float))
    r_cap = float(np.hypot(H, W))
    r_max = float(min(np.max(outers), r_cap))
    table = _ring_table((H, W), angles, r_max)
    x, vx, y, vy = _rotated_samples(s, table)  # (P, U), (P, U), (A, P, U), (A, P, U)
    inner = np.broadcast_to(np.asarray(inner, dtype=float), (U,))
    m = vy & (vx & (table.dist[:, None] > inner[None, :] + 1e-9))[None]  # (A, P, U)
    m = m.astype(np.float64)
    # nested rings: cumulative sums over bins sorted by distance, read at each outer radius
    lim = np.minimum(outers, r_cap)
    if outer_inclusive:
        cnt = np.searchsorted(table.dist, lim + 1e-9, side="right")
    else:
        cnt = np.searchsorted(table.dist, lim - 1e-9, side="left")
    xm = x[None] * m
    ym = y * m

    P = table.dist.size
    starts = np.unique(np.concatenate([[0], cnt[cnt < P]]))  # strictly increasing segment starts
    bounds = np.concatenate([starts, [P]])
    pick = np.searchsorted(bounds, cnt)  # cnt == bounds[pick]

    def csum(q):  # (A, P, U) -> (A, O, U): sum over the first cnt[o] bins
        seg = np.add.reduceat(q, starts, axis=1)  # (A, n_seg, U)
        cum = np.concatenate([np.zeros((q.shape[0], 1, q.shape[2])), np.cumsum(seg, axis=1)], 1)
        return cum[:, pick]

    n = csum(m)
    sx, sy = csum(xm), csum(ym)
    sxx, syy, sxy = csum(xm * x[None]), csum(ym * y), csum(xm * y)
    cov = n * sxy - sx * sy
    vxx = n * sxx - sx * sx
    vyy = n * syy - sy * sy
    ok = (n >= max(min_bins, 2)) & (vxx > 1e-12 * n * n) & (vyy > 1e-12 * n * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(np.where(ok, vxx * vyy, 1.0))
    r = np.where(ok, np.clip(r, -1.0, 1.0), np.nan)
    return np.transpose(r, (2, 1, 0))  # (U, O, A)


def _combine(r: np.ndarray, angles: tuple, form: str) -> np.ndarray:
    col = {a: r[..., angles.index(a)] for a in angles}
    if form == "minmax":
        return np.minimum(col[60.0], col[120.0]) - np.maximum(
            np.maximum(col[30.0], col[90.0]), col[150.0]
        )
    if form == "mean":
        return (col[60.0] + col[120.0]) / 2 - (col[30.0] + col[90.0] + col[150.0]) / 3
    if form == "square":
        return col[90.0] - (col[45.0] + col[135.0]) / 2
    raise ValueError(f"unknown form {form!r}")


def _sac_size(sacs: np.ndarray) -> int:
    H, W = sacs.shape[-2:]
    return min((H + 1) // 2, (W + 1) // 2)


def _max_over_outers(sacs, form, inner, outers, angles, variant, extra_params):
    s = as_numpy(sacs)
    if s.ndim == 2:
        s = s[None]
    n = _sac_size(s)
    outers = np.atleast_1d(np.asarray(outers, dtype=float))
    r = ring_correlations(s, angles=angles, inner=inner * n, outers=outers * n)  # (U, O, A)
    g = _combine(r, angles, form)  # (U, O)
    U = s.shape[0]
    allnan = np.all(np.isnan(g), axis=1)
    best = np.argmax(np.where(np.isnan(g), -np.inf, g), axis=1)
    scores = np.where(allnan, np.nan, g[np.arange(U), best])
    params = dict(
        inner=float(inner),
        outers=outers.tolist(),
        map_size_bins=n,
        angles=list(angles),
        ring="inner*n < d <= outer*n (bins from SAC centre)",
        maximised_over="outer radii",
        correlation="Pearson over ring bins valid in SAC and rotated SAC (bilinear rotation)",
        **extra_params,
    )
    return GridScores(
        scores=scores,
        variant=variant,
        params=params,
        best_outer=np.where(allnan, np.nan, outers[best] * n),
        inner=np.full(U, inner * n),
        r=r[np.arange(U), best],
        angles=angles,
    )


def grid_scores(
    sacs, variant: str = "minmax", inner: float = 0.2, outers=BANINO_OUTERS
) -> GridScores:
    """Hexagonal grid scores on Banino et al. 2018 annuli, maximised over outer radii.

    Parameters
    ----------
    sacs : (U, 2ny - 1, 2nx - 1) or (2ny - 1, 2nx - 1) array
        Autocorrelograms from :func:`gridssl.analysis.sac.autocorrelogram`.
    variant : ``"minmax"`` | ``"mean"``
        ``minmax``: ``min(r60, r120) - max(r30, r90, r150)`` (Sargolini 2006);
        ``mean``: ``(r60 + r120) / 2 - (r30 + r90 + r150) / 3`` (Banino 2018 default).
    inner, outers : fractions of the map size ``n = min(ny, nx)`` bins
        Rings ``inner * n < d <= outer * n``; the score is the maximum over ``outers``.

    Returns
    -------
    GridScores
        ``scores (U,)``, ``r (U, 7)`` at the best ring for angles 30, 45, 60, 90, 120, 135, 150.
    """
    if variant not in ("minmax", "mean"):
        raise ValueError(f"variant must be 'minmax' or 'mean', got {variant!r}")
    return _max_over_outers(sacs, variant, inner, outers, _ANGLES_ALL, variant, {})


def square_scores(sacs, inner: float = 0.2, outers=BANINO_OUTERS) -> GridScores:
    """Square-lattice score ``G90 = r90 - (r45 + r135) / 2`` on Banino annuli, max over outers."""
    return _max_over_outers(sacs, "square", inner, outers, _ANGLES_ALL, "square", {})


def central_field_radius(sacs, threshold: float = 0.5) -> np.ndarray:
    """Radius (bins) of the central peak of each SAC, from its radial profile.

    The profile ``p(k)`` is the mean of the finite SAC bins at distance ``d`` with
    ``round(d) == k`` from the centre (``p(0) = 1``). Walking outwards, the central field ends

    * where the profile crosses ``threshold`` (default 0.5: the half-height of the central peak,
      whose height is 1): the radius is ``floor`` of the crossing radius, linearly interpolated
      between the two integer radii around it; or
    * at the first local minimum ``k`` (``p(k + 1) >= p(k)``), radius ``k``,

    whichever comes first. NaN when neither happens (no central field distinguishable).
    With the default this gives the same inner radii as opexebo's BNT port on hexagonal maps.

    Returns
    -------
    (U,) float64, bins.
    """
    s = as_numpy(sacs)
    if s.ndim == 2:
        s = s[None]
    U, H, W = s.shape
    cy, cx = sac_centre((H, W))
    yy, xx = np.mgrid[0:H, 0:W]
    k = np.rint(np.hypot(yy - cy, xx - cx)).astype(np.int64).ravel()
    K = min(cy, cx) + 1
    sel = k < K
    flat = s.reshape(U, -1)[:, sel]
    kk = k[sel]
    valid = np.isfinite(flat)
    lab = (np.arange(U)[:, None] * K + kk[None, :]).ravel()
    num = np.bincount(lab, weights=np.where(valid, flat, 0.0).ravel(), minlength=U * K)
    den = np.bincount(lab, weights=valid.ravel().astype(float), minlength=U * K)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = (num / den).reshape(U, K)
    nxt = np.concatenate([prof[:, 1:], np.full((U, 1), np.nan)], axis=1)
    prv = np.concatenate([np.full((U, 1), np.nan), prof[:, :-1]], axis=1)
    below = (prof < threshold) & np.isfinite(prof)
    below[:, 0] = False
    locmin = (nxt >= prof) & np.isfinite(prof)
    locmin[:, 0] = False
    k_below = np.where(below.any(1), np.argmax(below, axis=1), K + 1)
    k_min = np.where(locmin.any(1), np.argmax(locmin, axis=1), K + 1)
    rows = np.arange(U)
    kb = np.clip(k_below, 1, K - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_in, p_out = prv[rows, kb], prof[rows, kb]
        cross = (kb - 1) + np.clip((p_in - threshold) / (p_in - p_out), 0.0, 1.0)
    r_thr = np.floor(cross + 1e-9)
    out = np.where(k_below <= k_min, r_thr, k_min.astype(float))
    out = np.where(np.minimum(k_below, k_min) > K, np.nan, out)
    return out


def bnt_grid_scores(sacs, threshold: float = 0.5, window: int = 3, inner=None) -> GridScores:
    """Expanding-annulus grid score (Brandon et al. 2011; Moser-lab BNT, opexebo).

    Inner radius ``r_c`` = :func:`central_field_radius` (where the radial profile crosses
    ``threshold``, default half-height, or its first local minimum if earlier);
    ``G(R) = min(r60, r120) - max(r30, r90, r150)`` on the ring ``r_c < d < R`` for integer
    ``R`` from ``max(3, r_c + 1)`` to ``floor(min(H, W) / 2)``; score = maximum over the
    ``window``-radius moving average of ``G(R)`` (the mean of all ``G(R)`` when fewer than
    ``window`` radii exist).

    ``inner`` (scalar or (U,), bins) overrides the central field radius, e.g. to reproduce another
    implementation's inner radius; NaN there gives a NaN score.

    Returns
    -------
    GridScores
        ``best_outer`` is the middle radius of the best window; ``r (U, 5)`` for angles
        30, 60, 90, 120, 150 at that radius.
    """
    s = as_numpy(sacs)
    if s.ndim == 2:
        s = s[None]
    U, H, W = s.shape
    if inner is None:
        rc = central_field_radius(s, threshold=threshold)
    else:
        rc = np.broadcast_to(np.asarray(inner, dtype=float), (U,)).copy()
    r_outer = int(np.floor(min(H, W) / 2))
    radii = np.arange(1, r_outer + 1, dtype=float)
    inner = np.where(np.isfinite(rc), rc, np.inf)
    r = ring_correlations(s, angles=_ANGLES_60, inner=inner, outers=radii, outer_inclusive=False)
    g = _combine(r, _ANGLES_60, "minmax")  # (U, R)
    start = np.maximum(3.0, inner + 1)[:, None]
    g = np.where(radii[None] >= start, g, np.nan)
    # moving average over complete windows of valid radii (a window with a NaN is invalid)
    fin = np.isfinite(g)
    g0 = np.where(fin, g, 0.0)
    rows = np.arange(U)
    if g.shape[1] >= window:
        ma = np.lib.stride_tricks.sliding_window_view(g, window, axis=1).mean(axis=-1)
    else:
        ma = np.full((U, 0), np.nan)
    ma_ok = np.isfinite(ma)
    has_win = ma_ok.any(axis=1)
    ma_best = np.argmax(np.where(ma_ok, ma, -np.inf), axis=1) if ma.shape[1] else np.zeros(U, int)
    ma_score = ma[rows, ma_best] if ma.shape[1] else np.full(U, np.nan)
    # fewer than `window` valid radii: mean of those there are
    n_fin = fin.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = np.where(n_fin > 0, g0.sum(axis=1) / n_fin, np.nan)
    scores = np.where(has_win, ma_score, fallback)
    mid = np.where(has_win, ma_best + window // 2, np.argmax(np.where(fin, g, -np.inf), axis=1))
    mid = np.clip(mid, 0, len(radii) - 1)
    any_g = n_fin > 0
    best_outer = np.where(any_g, radii[mid], np.nan)
    params = dict(
        threshold=threshold,
        window=window,
        angles=list(_ANGLES_60),
        ring="r_c < d < R (bins from SAC centre), R = max(3, r_c + 1) .. floor(min(H, W) / 2)",
        inner="central field radius: floor of the radius where the radial profile crosses "
        "threshold, or its first local minimum if earlier"
        if inner is None
        else "given",
        correlation="Pearson over ring bins valid in SAC and rotated SAC (bilinear rotation)",
        score=f"max of {window}-radius moving average of min(r60,r120)-max(r30,r90,r150)",
    )
    return GridScores(
        scores=scores,
        variant="bnt",
        params=params,
        best_outer=best_outer,
        inner=rc,
        r=r[rows, mid],
        angles=_ANGLES_60,
    )


def score_maps(maps, variant: str = "minmax", min_overlap: int = 20, **kwargs) -> GridScores:
    """Autocorrelograms of ``maps (U, ny, nx)`` (NaN = unvisited), then grid scores.

    ``variant``: ``"minmax"`` or ``"mean"`` (:func:`grid_scores`), ``"square"``
    (:func:`square_scores`) or ``"bnt"`` (:func:`bnt_grid_scores`); ``kwargs`` go to that scorer.
    """
    sacs = autocorrelogram(maps, min_overlap=min_overlap)
    if variant in ("minmax", "mean"):
        out = grid_scores(sacs, variant=variant, **kwargs)
    elif variant == "square":
        out = square_scores(sacs, **kwargs)
    elif variant == "bnt":
        out = bnt_grid_scores(sacs, **kwargs)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    out.params["sac_min_overlap"] = min_overlap
    return out
