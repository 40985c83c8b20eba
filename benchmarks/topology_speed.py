"""Time the toroidal-topology pipeline on a planted 128-unit grid module.

Usage: ``python benchmarks/topology_speed.py [--units 128] [--samples 20000] [--noise 0.1]
[--points 1000] [--n-null 3] [--seed 0] [--quick]``

The population is :func:`gridssl.analysis.synthetic.torus_activity` (spacing 0.5 m) at uniform
random positions of a 2 m box plus Gaussian noise of s.d. ``--noise``. Each row times one setting
of :func:`gridssl.analysis.topology.population_topology`: its stages on the real data (z-score +
PCA, landmark subsampling, Vietoris-Rips persistence) and the whole call including the
rolled-activity null (``n_null`` extra PCA + landmarks + persistence runs). The first row is the
default setting (gudhi, H0-H2, 1000 landmarks, 3 shuffles); ``--quick`` uses 300 landmarks instead.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from gridssl.analysis.synthetic import torus_activity
from gridssl.analysis.topology import (
    landmark_subsample,
    pca,
    population_topology,
    rips_diagrams,
    zscore,
)


def time_row(act: np.ndarray, n_points: int, backend: str, maxdim: int, n_null: int, seed: int):
    """Stage timings (s) of one setting, and the Betti numbers of the full call."""
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=1):  # as population_topology does for these stages
        t0 = time.perf_counter()
        z, _ = zscore(act)
        scores, _, _ = pca(z, 6, whiten_floor=0.1)
        t1 = time.perf_counter()
        idx = landmark_subsample(scores, n_points, rng)
        t2 = time.perf_counter()
    rips_diagrams(scores[idx], maxdim, 47, None, backend, cocycles=backend == "ripser")
    t3 = time.perf_counter()
    res = population_topology(
        act, n_points=n_points, maxdim=maxdim, backend=backend, n_null=n_null, rng=seed
    )
    t4 = time.perf_counter()
    return {
        "pca": t1 - t0,
        "landmarks": t2 - t1,
        "rips": t3 - t2,
        "total": t4 - t3,
        "betti": res.betti,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--n-null", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="300 landmarks instead of --points")
    args = ap.parse_args()
    n_points = 300 if args.quick else args.points

    rng = np.random.default_rng(args.seed)
    pos = rng.uniform(-1, 1, (args.samples, 2))
    act = torus_activity(pos, args.units, spacing=0.5, orientation_deg=7.0, rng=rng)
    act = act + args.noise * rng.standard_normal(act.shape)

    settings = [
        ("gudhi", 2, n_points, args.n_null),  # the default setting
        ("ripser", 1, n_points, args.n_null),  # H1 with cocycles, for torus coordinates
    ]
    print(
        f"planted torus: {args.units} units, {args.samples} samples, noise s.d. {args.noise}; "
        "times in seconds"
    )
    head = (
        f"{'backend':8} {'maxdim':>6} {'points':>6} {'nulls':>5} {'pca':>7} {'landmk':>7} "
        f"{'rips':>7} {'total':>7}  betti"
    )
    print(head)
    print("-" * len(head))
    for backend, maxdim, n, n_null in settings:
        r = time_row(act, n, backend, maxdim, n_null, args.seed)
        print(
            f"{backend:8} {maxdim:>6} {n:>6} {n_null:>5} {r['pca']:>7.2f} {r['landmarks']:>7.2f} "
            f"{r['rips']:>7.2f} {r['total']:>7.2f}  {r['betti']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
