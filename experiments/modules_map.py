"""The modules map of docs/MODULES.md from one or more sweeps' results.

    python experiments/modules_map.py runs/modules-coarse [runs/modules-seeds ...] \
        --fig docs/figures/modules_phase.png > /tmp/trials.md
    python experiments/modules_map.py runs/modules-coarse --fig /tmp/p.png \
        --followup experiments/modules_seeds.yaml --seeds 1 2

Draws the phase diagram (phase.py: phase_figure: N across, T down, w_cap x isometry range
inside each block; colour: modules, grid fraction, place-like fraction, mean over seeds) and prints
every finished trial as a Markdown table (the keys that differ between trials; the shared ones
are in each sweep.yaml). Trials from different sweeps that share the keys are
averaged together in the figure: pass only sweeps of one regime.
"""

from __future__ import annotations

import argparse

import yaml
from phase import followup_spec, phase_figure, read_trials, trials_markdown

from gridssl.io import atomic_write_text
from gridssl.sweep import METRICS

SHOWN = ("grid_fraction", "place_fraction", "square_fraction", "n_distinct_periods", "goal_modules",
         "module_periods_m", "module_period_ratios", "module_sizes",
         "module_orientation_spread_deg", "far_dist", "far_cos")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="sweep folders (or their results.csv)")
    ap.add_argument("--fig", required=True, help="where the phase diagram PNG goes")
    ap.add_argument("--x", default="model.n_units")
    ap.add_argument("--y", default="data.seq_len")
    ap.add_argument("--inner-x", default="loss.w_cap")
    ap.add_argument("--inner-y", default="loss.iso_max_step")
    ap.add_argument("--title", default="")
    ap.add_argument(
        "--followup",
        help="write a sweep spec here that reruns, on --seeds, every configuration of the first "
        "sweep that showed >= 2 distinct periods",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    if a.followup:
        spec = followup_spec(a.results[0], a.seeds)
        if spec is None:
            print(f"no configuration of {a.results[0]} showed >= 2 distinct periods")
        else:
            atomic_write_text(a.followup, yaml.safe_dump(spec.to_dict(), sort_keys=False))
            print(f"{a.followup}: {len(spec.conditions)} configurations x seeds {a.seeds}")
    rows = read_trials(a.results)
    phase_figure(rows, a.fig, a.x, a.y, a.inner_x or None, a.inner_y or None, title=a.title)
    skip = {"trial", "seed", "status", "steps", "train_s", "error", "sweep", "goal_modules",
            *METRICS}  # fmt: skip
    keys = sorted({k for r in rows for k in r if k not in skip})
    axes = list(dict.fromkeys(k for k in (a.x, a.y, a.inner_x, a.inner_y) if k))  # once each
    varying = [k for k in keys if k not in axes and len({str(r.get(k)) for r in rows}) > 1]
    cols = ["sweep", "seed", *axes, *varying, "status", "steps", "train_s", *SHOWN]
    print(trials_markdown(rows, cols))


if __name__ == "__main__":
    main()
