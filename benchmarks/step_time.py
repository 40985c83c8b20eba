"""Step time of the `paper` and `cpu` presets: gridssl against a naive implementation.

    python benchmarks/step_time.py [--presets paper cpu] [--reps 3] [--threads 0]
                                   [--variants ours ours-sampled ours-compiled naive]

ours:  training rollout with the memory-light gathered mat-vec, exact pair losses in checkpointed
       row chunks (loss.chunk_size), plus the `sampled` pair estimator.
ours-compiled: ours with the loss wrapped in torch.compile (inductor; the first batches compile).
naive: per-step gather of W(v) for every trajectory (autograd keeps a (B, N, N) tensor per step),
       all M x M pairs at once.
One forward + backward of one batch (an optimiser step is grad_accum of these). Each variant runs in
its own subprocess so its peak resident memory is its own. Same machine, same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one(preset: str, variant: str, reps: int, threads: int) -> dict:
    import torch

    from gridssl.config import load_config
    from gridssl.data import draw_batch
    from gridssl.losses import _pair_block, capacity_loss, isometry_loss, sic_loss
    from gridssl.model import SICNet
    from gridssl.reference import rollout_naive

    if threads:
        torch.set_num_threads(threads)
    overrides = ["loss.pairs=sampled"] if variant == "ours-sampled" else []
    cfg = load_config(preset, overrides=overrides)
    net = SICNet(cfg.model, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    d, lc = cfg.data, cfg.loss
    loss_fn = torch.compile(sic_loss) if variant == "ours-compiled" else sic_loss
    warmup = 3 if variant == "ours-compiled" else 1
    times = []
    for _ in range(reps + warmup):
        b = draw_batch(d, 0, gen)
        t0 = time.perf_counter()
        if variant.startswith("ours"):
            states = net.rollout_batch(b)
            loss = loss_fn(states, b.positions, b.velocities, net.g0(), lc, gen).total
        else:
            states = rollout_naive(net, b)
            G, X = states.reshape(-1, states.shape[-1]), b.positions.reshape(-1, 2)
            sep, inv, ns, ni = _pair_block(G, G, X, X, 0, 0, lc.sigma_x, lc.sigma_g)
            iso = isometry_loss(states, b.velocities, net.g0(), lc.iso_max_step, lc.iso_form)
            loss = (
                lc.w_sep * sep / ns
                + lc.w_inv * inv / ni.clamp_min(1)
                + lc.w_cap * capacity_loss(G)
                + lc.w_iso * iso
            )
        loss.backward()
        net.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "preset": preset,
        "variant": variant,
        "M": d.batch_size * d.seq_len,
        "s_per_batch": sorted(times[warmup:])[len(times[warmup:]) // 2],
        "peak_rss_mb": rss_mb,
        "grad_accum": cfg.train.grad_accum,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["paper", "cpu"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=["ours", "ours-sampled", "naive"])
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(one(a.worker[0], a.worker[1], a.reps, a.threads)))
        return
    rows = []
    for preset in a.presets:
        for variant in a.variants:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                preset,
                variant,
                "--reps",
                str(a.reps),
                "--threads",
                str(a.threads),
            ]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                rows.append({"preset": preset, "variant": variant, "error": r.stderr[-200:]})
                continue
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(
        f"{'preset':<7} {'variant':<13} {'M=B*T':>6} {'s/batch':>8} {'s/opt step':>10} "
        f"{'peak RSS MB':>11} {'vs naive':>8}"
    )
    naive = {
        r["preset"]: r["s_per_batch"]
        for r in rows
        if r.get("variant") == "naive" and "error" not in r
    }
    for r in rows:
        if "error" in r:
            print(f"{r['preset']:<7} {r['variant']:<13} failed: {r['error']!r}")
            continue
        base = naive.get(r["preset"])
        ratio = f"{base / r['s_per_batch']:>7.2f}x" if base else f"{'-':>8}"
        print(
            f"{r['preset']:<7} {r['variant']:<13} {r['M']:>6} {r['s_per_batch']:>8.3f} "
            f"{r['s_per_batch'] * r['grad_accum']:>10.3f} {r['peak_rss_mb']:>11.0f} "
            f"{ratio}"
        )


if __name__ == "__main__":
    main()
