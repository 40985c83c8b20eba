"""A module's mean Fourier power with its lattice wave-vectors, and its phases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._base import PHASE_CMAP, POWER_CMAP, PathLike, _cmap, _figure, _no_data, _save

if TYPE_CHECKING:  # type hints only
    from ...analysis.fourier import ModuleLattice


def fourier_panel(
    mean_power: np.ndarray,
    kx: np.ndarray,
    ky: np.ndarray,
    kvecs: np.ndarray,
    path: PathLike,
) -> Path:
    """Mean 2-D Fourier power (ky, kx) on wave-vector axes kx (kx,), ky (ky,) in rad/m.

    Colour is log10 of power (a.u.). The three wave-vectors kvecs (3, 2) rad/m and their negatives
    are marked (a hexagonal grid has six peaks), with their lengths in the legend.
    """
    p = np.asarray(mean_power, dtype=float)
    kx = np.asarray(kx, dtype=float).reshape(-1)
    ky = np.asarray(ky, dtype=float).reshape(-1)
    kv = np.asarray(kvecs, dtype=float).reshape(-1, 2)
    if p.shape != (ky.size, kx.size):
        raise ValueError(f"mean_power must be (ky, kx) = {(ky.size, kx.size)}, got {p.shape}")
    pos = p[np.isfinite(p) & (p > 0)]
    floor = float(pos.max()) * 1e-6 if pos.size else 1.0
    logp = np.log10(np.where(np.isfinite(p), np.maximum(p, floor), np.nan))
    fig = _figure(6.2, 5.2)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(kx, ky, logp, cmap=_cmap(POWER_CMAP), shading="nearest")
    for i, k in enumerate(kv):
        colour = f"C{i}"
        ax.scatter(
            *k,
            s=90,
            facecolors="none",
            edgecolors=colour,
            lw=1.8,
            label=f"k{i + 1} = ({k[0]:.1f}, {k[1]:.1f}) rad/m, |k| {np.hypot(*k):.1f} rad/m",
        )
        ax.scatter(*(-k), s=90, facecolors="none", edgecolors=colour, lw=1.8, ls=":")
    if kv.size:
        reach = 1.6 * float(np.hypot(kv[:, 0], kv[:, 1]).max())
        if np.isfinite(reach) and reach > 0:
            ax.set_xlim(max(kx.min(), -reach), min(kx.max(), reach))
            ax.set_ylim(max(ky.min(), -reach), min(ky.max(), reach))
        ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("k_x (rad/m)")
    ax.set_ylabel("k_y (rad/m)")
    ax.set_title("Mean Fourier power of the rate maps", fontsize=10)
    cb = fig.colorbar(mesh, ax=ax, shrink=0.85)
    cb.set_label("log10 power (a.u.)")
    return _save(fig, path)


def phase_panel(phases: np.ndarray, path: PathLike, uniformity_p: float | None = None) -> Path:
    """Grid phases (U, 2) in unit-cell coordinates [0, 1)^2 (fractions of the two lattice vectors).

    Left: the phases in the unit cell, coloured by the first phase (cyclic colormap). Right: the
    marginal distributions of both phases against the uniform expectation. ``uniformity_p``, the
    p-value of a uniformity test computed elsewhere, goes in the title.
    """
    ph = np.asarray(phases, dtype=float)
    if ph.ndim != 2 or ph.shape[1] != 2:
        raise ValueError(f"phases must be (U, 2), got {ph.shape}")
    ph = np.mod(ph[np.isfinite(ph).all(1)], 1.0)
    fig = _figure(9.0, 4.2)
    ax = fig.add_subplot(1, 2, 1)
    hx = fig.add_subplot(1, 2, 2)
    sc = ax.scatter(
        ph[:, 0],
        ph[:, 1],
        c=ph[:, 0],
        cmap=PHASE_CMAP,
        vmin=0,
        vmax=1,
        s=18,
        edgecolors="k",
        linewidths=0.3,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("phase along lattice vector a1 (cycles)")
    ax.set_ylabel("phase along lattice vector a2 (cycles)")
    cb = fig.colorbar(sc, ax=ax, shrink=0.85)
    cb.set_label("phase a1 (cycles)")
    if ph.shape[0]:
        bins = np.linspace(0, 1, 11)
        w = np.full(ph.shape[0], 1.0 / ph.shape[0])
        hx.hist(
            [ph[:, 0], ph[:, 1]],
            bins=bins,
            weights=[w, w],
            color=["C0", "C1"],
            label=["phase a1", "phase a2"],
        )
        hx.axhline(0.1, color="k", ls="--", lw=1, label="uniform")
        hx.legend(fontsize=7, frameon=False)
    else:
        _no_data(hx, "no finite phases")
    hx.set_xlabel("phase (cycles)")
    hx.set_ylabel("fraction of units per bin")
    title = f"Grid phases of {ph.shape[0]} units"
    if uniformity_p is not None:
        title += f"; uniformity test p = {uniformity_p:.3g}"
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


# -- pipeline results ----------------------------------------------------------------------------
def module_fourier(fl: ModuleLattice, path: PathLike) -> Path:
    """:func:`fourier_panel` of one module's lattice."""
    return fourier_panel(fl.power, fl.kx, fl.ky, fl.wavevectors, path)


def module_phases(fl: ModuleLattice, path: PathLike) -> Path:
    """:func:`phase_panel` of one module's usable units, with the uniformity test's p-value."""
    return phase_panel(fl.phase_cell[fl.usable], path, uniformity_p=fl.uniformity.p_value)
