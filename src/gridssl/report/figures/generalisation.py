"""Generalisation: distance from the start state, separation curves, other walks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...analysis.generalisation import binned
from ._base import MAP_CMAP, BinnedCurveLike, PathLike, _cmap, _figure, _no_data, _save

if TYPE_CHECKING:  # type hints only
    from ...pipeline import Generalisation, VelocityGeneralisation


def _subsample(n: int, k: int = 3000) -> np.ndarray:
    return np.arange(n) if n <= k else np.linspace(0, n - 1, k).astype(int)


def _as_curve(obj) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(centres, mean, sd) of a pre-binned curve, else None.

    A pre-binned curve is an object with ``centres``, ``mean`` and ``sd`` attributes (such as
    ``generalisation.BinnedCurve``) or a 3-tuple (centres, mean, sd) of equal-length arrays.
    """
    if all(hasattr(obj, a) for a in ("centres", "mean", "sd")):
        parts = (obj.centres, obj.mean, obj.sd)
    elif isinstance(obj, tuple) and len(obj) == 3:
        parts = obj
    else:
        return None
    c, mu, sd = (np.asarray(v, dtype=float).reshape(-1) for v in parts)
    if not (c.shape == mu.shape == sd.shape):
        raise ValueError(f"curve arrays differ in shape: {c.shape}, {mu.shape}, {sd.shape}")
    ok = np.isfinite(c) & np.isfinite(mu)  # empty bins (NaN mean) are not drawn
    return c[ok], mu[ok], np.nan_to_num(sd[ok])


def _curve_or_points(obj, y, n_bins: int, name: str):
    """(points (x, y) or None, (centres, mean, sd)) from a pre-binned curve or raw samples."""
    curve = _as_curve(obj)
    if curve is not None:
        return None, curve
    if isinstance(obj, tuple) and len(obj) == 2 and y is None:
        obj, y = obj
    if y is None:
        raise ValueError(f"{name}: raw samples need neural distances (or pass a binned curve)")
    x = np.asarray(obj, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"{name}: separation {x.shape} and neural distance {y.shape} differ")
    return (x, y), _equal_bins(x, y, n_bins)


def _equal_bins(x: np.ndarray, y: np.ndarray, n_bins: int):
    """(centres, mean, sd) of y in ``n_bins`` equal-width bins spanning x, by
    ``generalisation.binned`` (empty bins and non-finite samples dropped)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if not x.size:
        return np.array([]), np.array([]), np.array([])
    hi = x.max() if x.max() > x.min() else x.min() + 1
    edges = np.linspace(x.min(), np.nextafter(hi, np.inf), n_bins + 1)  # the maximum included
    c = binned(x, y, edges)
    keep = c.count > 0
    return c.centres[keep], c.mean[keep], c.sd[keep]


def generalisation_panel(
    dist_m: np.ndarray | Mapping[str, tuple | BinnedCurveLike] | BinnedCurveLike,
    neural_dist: np.ndarray | Mapping[str, tuple | BinnedCurveLike] | None,
    path: PathLike,
    train_extent_m: float = 1.1,
    n_bins: int = 25,
) -> Path:
    """Neural distance d(g(0), g(x)) (a.u.) against distance |x| (m) from the training origin.

    Accepted inputs:
    - ``dist_m`` (K,) and ``neural_dist`` (K,): raw samples;
    - a dict arena -> (dist_m (K,), neural (K,)) passed as either argument (the other None);
    - pre-binned curves: an object with ``centres`` (m), ``mean`` and ``sd`` (a.u.), e.g.
      ``generalisation.BinnedCurve``, or a 3-tuple (centres, mean, sd), alone or as dict values.
    Raw samples are drawn faintly and binned into ``n_bins`` bins; every curve is drawn as mean
    +- s.d. (NaN bins skipped). The training extent ``|x| <= train_extent_m`` is shaded.
    """
    if isinstance(dist_m, Mapping):
        items = [(str(k), v, None) for k, v in dist_m.items()]
    elif isinstance(neural_dist, Mapping):
        items = [(str(k), v, None) for k, v in neural_dist.items()]
    else:
        items = [("", dist_m, neural_dist)]
    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot()
    ax.axvspan(
        0,
        train_extent_m,
        color="0.85",
        zorder=0,
        label=f"training extent (|x| <= {train_extent_m:g} m)",
    )
    for i, (name, obj, y) in enumerate(items):
        points, (c, mu, sd) = _curve_or_points(obj, y, n_bins, name or "generalisation_panel")
        if points is not None:
            sub = _subsample(points[0].size)
            ax.scatter(*(v[sub] for v in points), s=3, alpha=0.15, color=f"C{i}", lw=0)
        label = f"arena {name}: mean +- s.d." if name else "mean +- s.d."
        ax.plot(c, mu, color=f"C{i}", lw=1.8, label=label)
        ax.fill_between(c, mu - sd, mu + sd, color=f"C{i}", alpha=0.25, lw=0)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("distance from training origin |x| (m)")
    ax.set_ylabel("neural distance ||g(x) - g(0)|| (a.u.)")
    ax.set_title("Generalisation beyond the training arena", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def separation_panel(
    spatial_sep: np.ndarray | BinnedCurveLike,
    temporal_sep: np.ndarray | BinnedCurveLike,
    neural_dist: np.ndarray | None,
    path: PathLike,
    temporal_unit: str = "steps",
    n_bins: int = 20,
) -> Path:
    """Neural distance (a.u.) against spatial separation (m) and temporal separation
    (``temporal_unit``): two panels of binned means +- s.d.

    Either raw pair samples, ``spatial_sep`` (K,), ``temporal_sep`` (K,) and ``neural_dist`` (K,)
    (drawn faintly, then binned into ``n_bins`` bins), or ``neural_dist=None`` and two pre-binned
    curves (objects with ``centres``, ``mean``, ``sd`` such as ``generalisation.BinnedCurve``, or
    3-tuples (centres, mean, sd)).
    """
    fig = _figure(10.0, 4.2)
    for j, (obj, xlabel) in enumerate(
        [
            (spatial_sep, "spatial separation (m)"),
            (temporal_sep, f"temporal separation ({temporal_unit})"),
        ]
    ):
        points, (c, mu, sd) = _curve_or_points(obj, neural_dist, n_bins, xlabel)
        ax = fig.add_subplot(1, 2, j + 1)
        if points is not None:
            sub = _subsample(points[0].size)
            ax.scatter(*(v[sub] for v in points), s=3, alpha=0.15, color=f"C{j}", lw=0)
        if c.size > 30:  # many bins: a band reads better than a forest of error bars
            ax.plot(c, mu, color=f"C{j}", lw=1.5, label="binned mean +- s.d.")
            ax.fill_between(c, mu - sd, mu + sd, color=f"C{j}", alpha=0.25, lw=0)
        else:
            ax.errorbar(
                c,
                mu,
                yerr=sd,
                color=f"C{j}",
                lw=1.5,
                capsize=2,
                marker="o",
                ms=3,
                label="binned mean +- s.d.",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("neural distance (a.u.)")
        ax.legend(fontsize=8, frameon=False)
        if not c.size:
            _no_data(ax)
    fig.suptitle("Neural distance against spatial and temporal separation", fontsize=10)
    return _save(fig, path)


# -- pipeline results ----------------------------------------------------------------------------
def start_distances(gen: Generalisation, path: PathLike) -> Path:
    """:func:`generalisation_panel` of a pipeline Generalisation: one curve per arena."""
    return generalisation_panel({f"{a:g} m": s.curve for a, s in gen.starts.items()}, None, path)


def separations(gen: Generalisation, path: PathLike) -> Path:
    """:func:`separation_panel` of a pipeline Generalisation's path-invariance pairs."""
    return separation_panel(gen.separation.spatial, gen.separation.temporal, None, path)


def velocity_tests(vel: VelocityGeneralisation, units, path: PathLike) -> Path:
    """Rows = walk statistics (the default first), columns = ``units``: each unit's rate map in
    the primary arena under each kind of walk, with the grid fraction and the unit's same-place
    map correlation with the default walks."""
    units = [int(u) for u in units]
    rows = [("default", None, vel.default_grid_fraction, None)] + [
        (t.name, t.population, t.grid_fraction, t.map_correlation) for t in vel.tests
    ]
    n_cols = max(1, len(units))
    fig = _figure(1.9 * n_cols + 1.2, 1.9 * len(rows) + 0.6)
    fig.suptitle(
        "Other velocity statistics: rate maps (colour = activity / unit peak); r = same-place "
        "correlation with the default walks",
        fontsize=9,
    )
    cmap = _cmap(MAP_CMAP)
    for r, (name, pop, frac, corr) in enumerate(rows):
        maps = vel.default_maps if pop is None else pop.maps.maps
        for c, u in enumerate(units):
            ax = fig.add_subplot(len(rows), n_cols, r * n_cols + c + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            m = maps[u]
            peak = np.nanmax(m) if np.isfinite(m).any() else 1.0
            ax.imshow(m / (peak or 1.0), origin="lower", cmap=cmap, vmin=0, vmax=1)
            title = f"unit {u}" + ("" if corr is None else f", r {corr[u]:.2f}")
            ax.set_title(title, fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{name}\ngrid {100 * frac:.0f}%", fontsize=8)
    return _save(fig, path)


def long_walks(lw, path: PathLike) -> Path:
    """The population-vector correlation with the reference maps against time along long walks,
    one line per input (:class:`gridssl.pipeline.LongWalks`), with each input's grid fraction."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for w in lw.walks:
        ax.plot(
            w.decay.window_steps,
            w.decay.correlation,
            marker="o",
            ms=3,
            label=f"{w.name} (mean step {w.step_mean * 100:.2g} cm): "
            f"grid {100 * w.grid_fraction:.0f}%",
        )
    if getattr(lw, "still", None) is not None:
        ax.plot(
            lw.still.window_steps,
            lw.still.correlation,
            color="k",
            ls="--",
            marker=".",
            label="standing still (v = 0) after reaching a place",
        )
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylim(-0.3, 1.05)
    ax.set_xlabel("step along the walk (no restarts)")
    ax.set_ylabel("population-vector r\nwith the reference maps")
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)
