"""Toroidal topology of one module's population activity (Gardner et al. 2022, Nature).

Pipeline of :func:`population_topology` for activity ``(S, U)`` (S time samples, U units of ONE
module, any non-negative or real activity units):

1. **z-score** each unit over time (constant units are dropped).
2. **PCA** to ``n_pca`` dimensions (default 6: a 2-torus of three gratings spans 6 dimensions),
   then **regularised whitening**: PCA axis i is divided by ``sqrt(max(var_i, whiten_floor *
   var_1))``. Axes carrying at least ``whiten_floor`` (default 0.1) of the leading variance get unit
   variance; weaker axes (noise, or unused dimensions of a lower-dimensional code) are amplified by
   at most ``1 / sqrt(whiten_floor)`` relative to the leading one, never blown up to unit variance.
   Why: the rolled null spreads its variance evenly over many PCs, so without whitening the null
   cloud is several times smaller than the real one and their bar lengths are not commensurate;
   whitening puts both on the same per-axis scale. It also gives the three gratings of a hexagonal
   module equal radii, which shortens the spurious "chord" loops an uneven embedding makes (on
   planted tori these loops otherwise outlast the null's longest bar). ``whiten_floor=1`` only
   rescales by the leading axis (Gardner et al.'s plain PCA up to a global scale).
3. **Density-aware subsampling** to ``n_points`` (default 1000), see :func:`landmark_subsample`:
   a random pool of at most ``n_pool`` samples; a kNN density estimate (distance to the
   ``k_density``-th neighbour) removes the sparsest ``1 - density_keep`` fraction (outliers and fast
   transits, which would otherwise be picked first); greedy max-min (farthest-point) landmark
   sampling then covers what is left evenly, which removes the occupancy bias of the trajectory.
4. **Vietoris-Rips persistent homology** of the landmarks (Euclidean distance; filtration value =
   edge length) up to ``H_maxdim``: ``backend="gudhi"`` (default, ``RipsPersistence`` with edge
   collapse; about 10x faster than ripser for H2) or ``backend="ripser"`` (use ``maxdim=1`` and
   get representative cocycles, e.g. for circular / torus coordinates). Coefficients in Z/``coeff``;
   the default 47 is an odd prime, so a Klein bottle is not mistaken for a torus (over Z/2 both
   give (1, 2, 1)). ``max_edge_length`` truncates the filtration (gudhi ``threshold``); a bar still
   alive at the truncation gets the *censored* lifetime ``max_edge_length - birth``. Without it
   (default) the Rips filtration is complete and exact.
5. **Null**: each unit's z-scored activity is rolled independently by a random circular shift
   (uniform in ``[S/10, 9 S/10]`` samples), destroying the joint (population) structure while
   keeping each unit's statistics; the same steps 2-4 are run ``n_null`` times. The threshold of
   dimension d is the longest (finite or censored) bar of dimension d over all null diagrams.
6. **Betti numbers**: in dimension d, the number of bars longer than that threshold (the essential
   H0 bar counts as infinitely long). A torus gives (1, 2, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.manifold import SpectralEmbedding
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits


@dataclass
class TopologyResult:
    """Result of :func:`population_topology`. D = maxdim + 1 homology dimensions.

    Attributes:
        diagrams: list of D arrays (n_d, 2) of (birth, death) in the PCA space's Euclidean
            distance (z-score units); death is ``inf`` for the essential H0 bar and, when the
            filtration is truncated, for bars alive at ``max_edge_length``.
        lifetimes: list of D arrays (n_d,), ``death - birth`` (censored at ``max_edge_length``;
            ``inf`` only for the essential H0 bar), sorted descending.
        betti: tuple of D ints, bars longer than the null threshold per dimension.
        thresholds: (D,) null thresholds, the longest null bar per dimension.
        null_lifetimes: list of D arrays, every null bar's lifetime (all shuffles pooled).
        embedding: (n_points, n_pca) the landmark points (the Rips input): PCA scores after the
            regularised whitening.
        indices: (n_points,) time indices (rows of ``activity``) of the landmarks.
        components: (n_pca, U_used) PCA axes in z-scored unit space.
        explained_variance_ratio: (n_pca,) variance fraction of each PCA axis.
        units: (U_used,) indices of the non-constant units that were used.
        cocycles: ripser's representative cocycles per dimension (``backend="ripser"`` only).
        backend: "gudhi" or "ripser". coeff: field characteristic. max_edge_length: truncation
            (``inf`` when none).
    """

    diagrams: list[np.ndarray]
    lifetimes: list[np.ndarray]
    betti: tuple[int, ...]
    thresholds: np.ndarray
    null_lifetimes: list[np.ndarray]
    embedding: np.ndarray
    indices: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    units: np.ndarray
    cocycles: list | None
    backend: str
    coeff: int
    max_edge_length: float


def zscore(activity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-score each unit (column) of activity (S, U) over time; returns (z (S, U_used), units)."""
    a = np.asarray(activity, float)
    if a.ndim != 2:
        raise ValueError("activity must be (S, U)")
    sd = a.std(0)
    units = np.flatnonzero(np.isfinite(sd) & (sd > 1e-12 * (np.abs(a).max(0) + 1.0)))
    a = a[:, units]
    return (a - a.mean(0)) / sd[units], units


def pca(
    z: np.ndarray, n_components: int, whiten_floor: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of data z (S, U) (centred here), optionally with regularised whitening.

    The axes are the eigenvectors of the U x U covariance (``eigh``; cheaper than an SVD of the
    S x U data when S >> U). With ``whiten_floor`` f, score column i is divided by
    ``sqrt(max(var_i, f * var_1))`` (module docstring); with None the scores are unscaled.
    Returns ``(scores (S, n), components (n, U), explained_variance_ratio (n,))``.
    """
    zc = z - z.mean(0)
    n = min(n_components, *zc.shape)
    evals, evecs = np.linalg.eigh(zc.T @ zc)
    order = np.argsort(evals)[::-1]
    s = np.sqrt(np.clip(evals[order], 0, None))
    comps = evecs[:, order[:n]].T
    # a deterministic sign per axis: the largest-|loading| unit is positive
    sign = np.sign(comps[np.arange(n), np.abs(comps).argmax(1)])
    comps = comps * sign[:, None]
    scores = zc @ comps.T
    var = s[:n] ** 2 / len(zc)
    if whiten_floor is not None and var[0] > 0:
        scores = scores / np.sqrt(np.maximum(var, whiten_floor * var[0]))
    return scores, comps, s[:n] ** 2 / np.sum(s**2)


def landmark_subsample(
    points: np.ndarray,
    n_points: int,
    rng: np.random.Generator,
    k_density: int = 10,
    density_keep: float = 0.9,
    n_pool: int = 20000,
) -> np.ndarray:
    """Density-aware landmark subsample of points (S, d); returns sorted indices (<= n_points,).

    1. A uniformly random pool of ``min(S, n_pool)`` points (from ``rng``).
    2. kNN density: distance of each pooled point to its ``k_density``-th nearest neighbour; only
       the ``density_keep`` fraction with the smallest distances (densest) is kept.
    3. Greedy max-min sampling: start at the densest kept point, then repeatedly add the kept point
       farthest from all landmarks chosen so far, until ``n_points``. The landmarks cover the
       dense part of the cloud evenly (an epsilon-net), whatever the sampling density was.
    """
    points = np.asarray(points, float)
    n_all = len(points)
    pool = np.arange(n_all)
    if n_all > n_pool:
        pool = np.sort(rng.choice(n_all, n_pool, replace=False))
    x = points[pool]
    k = min(k_density, len(x) - 1)
    if k >= 1 and density_keep < 1.0:
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
        rk = dist[:, -1]
        keep = rk <= np.quantile(rk, density_keep)
        start = int(np.argmin(rk[keep]))
        pool, x = pool[keep], x[keep]
    else:
        start = 0
    n = min(n_points, len(x))
    chosen = np.empty(n, int)
    chosen[0] = start
    dmin = np.linalg.norm(x - x[start], axis=1)
    for i in range(1, n):
        j = int(np.argmax(dmin))
        chosen[i] = j
        dmin = np.minimum(dmin, np.linalg.norm(x - x[j], axis=1))
    return np.sort(pool[chosen])


def rips_diagrams(
    points: np.ndarray,
    maxdim: int = 2,
    coeff: int = 47,
    max_edge_length: float | None = None,
    backend: str = "gudhi",
    cocycles: bool = False,
) -> tuple[list[np.ndarray], list | None]:
    """Vietoris-Rips persistence diagrams of points (n, d), dimensions 0..maxdim.

    Returns ``(diagrams, cocycles)``: diagrams a list of (n_d, 2) (birth, death) arrays, cocycles
    ripser's representative cocycles when ``backend="ripser"`` and ``cocycles`` is True, else None.
    """
    points = np.asarray(points, float)
    thresh = np.inf if max_edge_length is None else float(max_edge_length)
    if backend == "gudhi":
        from gudhi.sklearn.rips_persistence import RipsPersistence  # only when asked for

        rp = RipsPersistence(
            homology_dimensions=list(range(maxdim + 1)),
            threshold=thresh,
            homology_coeff_field=coeff,
            n_jobs=1,
        )
        dgms = rp.fit_transform([points])[0]
        return [np.asarray(d, float).reshape(-1, 2) for d in dgms], None
    if backend == "ripser":
        from ripser import ripser  # only when asked for

        out = ripser(points, maxdim=maxdim, coeff=coeff, thresh=thresh, do_cocycles=cocycles)
        dgms = [np.asarray(d, float).reshape(-1, 2) for d in out["dgms"]]
        return dgms, (out["cocycles"] if cocycles else None)
    raise ValueError(f"unknown backend {backend!r} (gudhi or ripser)")


def _lifetimes(dgm: np.ndarray, dim: int, max_edge: float) -> np.ndarray:
    """Bar lifetimes (n,), sorted descending; infinite deaths censored at max_edge (H0's first
    essential bar stays infinite)."""
    birth, death = dgm[:, 0], dgm[:, 1]
    life = np.where(np.isinf(death), max_edge - birth, death - birth)
    if dim == 0 and len(life):
        ess = np.flatnonzero(np.isinf(death))
        if len(ess):
            life[ess[np.argmin(birth[ess])]] = np.inf
    return np.sort(life)[::-1]


def _null_lifetimes(
    z: np.ndarray,
    run: Callable[[np.ndarray, bool], tuple],
    rng: np.random.Generator,
    n_null: int,
    maxdim: int,
    max_edge: float,
) -> list[np.ndarray]:
    """Finite bar lifetimes of ``n_null`` rolled-activity shuffles (step 5), pooled per dimension.

    Args:
        z: (S, U) z-scored activity. run: maps activity (S, U) and a cocycle flag to a tuple
            whose first item is the diagrams (steps 2-4). rng: draws the circular shifts.
        n_null, maxdim: as in :func:`population_topology`. max_edge: censoring edge length.
    Returns:
        maxdim + 1 arrays of lifetimes (empty where no shuffle was run).
    """
    n_s = len(z)
    null_life: list[list[np.ndarray]] = [[] for _ in range(maxdim + 1)]
    for _ in range(n_null):
        shifts = rng.integers(n_s // 10, n_s - n_s // 10 + 1, size=z.shape[1])
        rows = (np.arange(n_s)[:, None] - shifts[None, :]) % n_s
        zr = np.take_along_axis(z, rows, axis=0)  # column u rolled by shifts[u]
        ndgms = run(zr, False)[0]
        for dim, d in enumerate(ndgms):
            life = _lifetimes(d, dim, max_edge)
            null_life[dim].append(life[np.isfinite(life)])
    return [np.concatenate(x) if x else np.zeros(0) for x in null_life]


def population_topology(
    activity: np.ndarray,
    n_pca: int = 6,
    n_points: int = 1000,
    maxdim: int = 2,
    backend: str = "gudhi",
    n_null: int = 3,
    whiten_floor: float | None = 0.1,
    coeff: int = 47,
    max_edge_length: float | None = None,
    k_density: int = 10,
    density_keep: float = 0.9,
    n_pool: int = 20000,
    cocycles: bool = True,
    rng: np.random.Generator | int | None = None,
) -> TopologyResult:
    """Persistent homology of one module's population activity, with a rolled-activity null.

    Args:
        activity: (S, U) activity of one module's units along a trajectory (S time samples).
        n_pca: PCA dimensions kept.
        whiten_floor: regularised whitening of the PCA axes (module docstring); None: no scaling.
        n_points: landmarks for the Rips complex (cost grows steeply: ~1 s for 400 points and
            ~20 s for 1000 points up to H2 with gudhi on a laptop core).
        maxdim: highest homology dimension (2 for a torus; use 1 with ``backend="ripser"``).
        backend: "gudhi" (default) or "ripser" (returns cocycles when ``cocycles``).
        n_null: number of rolled-activity shuffles for the thresholds (0: thresholds of 0, every
            bar counts).
        coeff: prime field of coefficients.
        max_edge_length: optional Rips truncation (same distance units as the PCA scores).
        k_density, density_keep, n_pool: landmark subsampling settings (:func:`landmark_subsample`).
        cocycles: with ripser, keep the representative cocycles of the real data.
        rng: numpy Generator or seed (pool, shuffles).

    Returns:
        :class:`TopologyResult`. See the module docstring for every step.
    """
    rng = np.random.default_rng(rng)
    z, units = zscore(activity)
    max_edge = np.inf if max_edge_length is None else float(max_edge_length)

    def run(zz: np.ndarray, keep_cocycles: bool):
        # small dense algebra: single-threaded BLAS/OpenMP avoids oversubscription stalls
        with threadpool_limits(limits=1):
            scores, comps, evr = pca(zz, n_pca, whiten_floor)
            idx = landmark_subsample(scores, n_points, rng, k_density, density_keep, n_pool)
        dgms, cocy = rips_diagrams(
            scores[idx], maxdim, coeff, max_edge_length, backend, keep_cocycles
        )
        return dgms, cocy, scores[idx], idx, comps, evr

    dgms, cocy, emb, idx, comps, evr = run(z, cocycles and backend == "ripser")
    lifetimes = [_lifetimes(d, dim, max_edge) for dim, d in enumerate(dgms)]

    null_lifetimes = _null_lifetimes(z, run, rng, n_null, maxdim, max_edge)
    thresholds = np.array([x.max() if x.size else 0.0 for x in null_lifetimes])
    betti = tuple(int(np.sum(lt > th)) for lt, th in zip(lifetimes, thresholds))

    return TopologyResult(
        diagrams=dgms,
        lifetimes=lifetimes,
        betti=betti,
        thresholds=thresholds,
        null_lifetimes=null_lifetimes,
        embedding=emb,
        indices=idx,
        components=comps,
        explained_variance_ratio=evr,
        units=units,
        cocycles=cocy,
        backend=backend,
        coeff=coeff,
        max_edge_length=max_edge,
    )


def spectral_embedding(
    points: np.ndarray,
    n_components: int = 3,
    n_neighbors: int | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Spectral (Laplacian eigenmap) embedding of points (n, d) to (n, n_components).

    For the population figure (SPEC section 1.5): PCA to 6 dimensions (e.g. ``TopologyResult
    .embedding``), then this to 3. Uses sklearn's ``SpectralEmbedding`` on a kNN graph with
    ``n_neighbors`` (default ``max(10, n // 50)``); the arpack start vector comes from ``rng``.
    """
    rng = np.random.default_rng(rng)
    points = np.asarray(points, float)
    if n_neighbors is None:
        n_neighbors = max(10, len(points) // 50)
    se = SpectralEmbedding(
        n_components=n_components,
        affinity="nearest_neighbors",
        n_neighbors=min(n_neighbors, len(points) - 1),
        random_state=int(rng.integers(2**31 - 1)),
        n_jobs=1,
    )
    return se.fit_transform(points)
