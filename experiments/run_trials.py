"""Run trials of sweep specs without Ray: a thin call of ``gridssl sweep --executor local``.

    python experiments/run_trials.py --job experiments/modules_octave.yaml runs/modules-octave \
        [--job SPEC OUT [NAME-PART ...]] --workers 8 --device auto --deadline-s 500

is, job by job in the order given,

    gridssl sweep SPEC --out OUT --executor local --only NAME-PART ... --workers 8 \
        --device auto --deadline-s <what is left of 500>

Kept so that the commands written in the specs and docs of earlier rounds still work; the pool,
the deadline, the shedding and the trial runner are :class:`gridssl.sweep.Executor`'s.
"""

from __future__ import annotations

import argparse
import sys
import time

from gridssl.sweep import Executor, load_spec, run_sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", nargs="+", action="append", metavar="SPEC OUT [NAME-PART", default=[])
    ap.add_argument("--workers", type=int, default=2, help="trials at a time")
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--deadline-s", type=float, default=0.0, help="0: none")
    ap.add_argument("--shed", action="store_true")
    a = ap.parse_args(argv)
    if not a.job or any(len(j) < 2 for j in a.job) or a.workers < 1:
        ap.error("give at least one --job SPEC OUT [NAME-PART ...] and --workers >= 1")
    t0, ok = time.monotonic(), True
    for spec_path, out, *only in a.job:
        left = a.deadline_s - (time.monotonic() - t0) if a.deadline_s else 0.0
        if a.deadline_s and left <= 0:
            return 1
        ex = Executor("local", left, a.shed, a.device, tuple(only))
        rows = run_sweep(load_spec(spec_path), out, a.workers, executor=ex)
        ok &= all(r["status"] in ("ok", "stopped") for r in rows if ex.chooses_name(r["trial"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
