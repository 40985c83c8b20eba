"""How far a network's topology call is from its threshold: the persistent-homology bars of its
largest module, as `gridssl analyze` computes them, beside the rolled-activity null's threshold,
at several null sizes and landmark seeds.

    python experiments/topology_margin.py [PATH ...] [--nulls 3 10] [--seeds 0 1]

PATH: a run directory, checkpoint or "pretrained" (default). The rollout, grid population and
modules are the pipeline's (gridssl.pipeline, the primary arena of the run's analysis settings);
the homology is gridssl.analysis.topology.population_topology with the analysis's landmark count.
`gridssl analyze` uses analysis.topology_shuffles null draws (3) and seed analysis.seed (0): a bar
counts toward the Betti number when it outlives the longest null bar. Printed per (null size,
seed): the Betti numbers, the thresholds, and the longest bars of H1 and H2, so a call decided by
a bar a few percent over its threshold is seen as such (src/gridssl/pretrained/MODEL_CARD.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from gridssl import pipeline as P
from gridssl.analysis.topology import population_topology
from gridssl.analyze import measuring_config
from gridssl.checkpoint import load


def margins(path: str, nulls: list[int], seeds: list[int]) -> list[dict]:
    cfg = measuring_config(path)
    ro = P.rollout(load(path), cfg, cfg.arenas[:1])
    mods = P.modules(P.population(ro, cfg))
    units = mods.members[mods.largest] if mods.largest is not None else None
    act = ro.by_arena[ro.primary].flat[1]
    act = act if units is None else act[:, units]
    out = []
    for n_null in nulls:
        for seed in seeds:
            t = population_topology(act, n_points=cfg.topology_points, n_null=n_null, rng=seed)
            out.append(
                {
                    "null": n_null,
                    "seed": seed,
                    "units": act.shape[1],
                    "betti": t.betti,
                    "thresholds": np.round(t.thresholds, 3).tolist(),
                    "h1": np.round(t.lifetimes[1][:4], 3).tolist(),
                    "h2": np.round(t.lifetimes[2][:3], 3).tolist(),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=["pretrained"])
    ap.add_argument("--nulls", type=int, nargs="+", default=[3, 10])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    a = ap.parse_args(argv)
    print("path | null shuffles | seed | units | betti | thresholds | longest H1 | longest H2")
    for path in a.paths:
        for r in margins(path, a.nulls, a.seeds):
            print(
                f"{path} | {r['null']} | {r['seed']} | {r['units']} | {tuple(r['betti'])} | "
                f"{r['thresholds']} | {r['h1']} | {r['h2']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
