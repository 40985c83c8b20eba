"""Training-step time at three shapes: gridssl against the naive reference, side by side.

    python benchmarks/step_time.py [--shapes paper cpu modules] [--reps 5] [--threads 0]
                                   [--variants ours ours-sampled naive]
                                   [--rounds 1] [--baseline-src DIR]

shapes:   paper    the `paper` preset: B 130, T 60, N 128 (M = 7800), 2 batches per optimiser step
          cpu      the `cpu` preset: B 64, T 20, N 48 (M = 1280), 1 batch per step
          modules  the modules search: `cpu` preset with T 60, N 128 (B 64, M = 3840), 1 batch
variants: ours           grouped training rollout (models.rollout_states) and the exact pair sums
                         with their closed-form gradient (losses.pair_sums_exact)
          ours-sampled   the same with the unbiased pair-subsampled estimator (loss.pairs=sampled)
          ours-compiled  ours with sic_loss wrapped in torch.compile (the first batches compile)
          naive          reference.rollout_naive (a (B, N, N) gather kept per step) and
                         reference.pair_losses_dense (all M x M pairs at once, plain autograd)
          base, base-sampled  ours / ours-sampled, run with the package found in --baseline-src
                         (e.g. a `git archive` of an older commit's src/): today against before
One optimiser step = grad_accum batches of rollout + SIC loss + backward, gradient clipping and an
AdamW step, as in training. Each variant runs in its own subprocess, so its peak resident memory
(ru_maxrss) is its own; the median of ``--reps`` timed steps after one warm-up step (three for
ours-compiled) is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SHAPES = {
    "paper": ("paper", []),
    "cpu": ("cpu", []),
    "modules": ("cpu", ["data.seq_len=60", "model.n_units=128"]),
}


def one(shape: str, variant: str, reps: int, threads: int) -> dict:
    import torch

    from gridssl.config import load_config
    from gridssl.data import draw_batch
    from gridssl.losses import capacity_loss, isometry_loss, sic_loss
    from gridssl.model import SICNet

    if threads:
        torch.set_num_threads(threads)
    preset, overrides = SHAPES[shape]
    if variant.endswith("sampled"):
        overrides = overrides + ["loss.pairs=sampled"]
    cfg = load_config(preset, overrides=overrides)
    net = SICNet(cfg.model, torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.train.lr)
    gen = torch.Generator().manual_seed(1)
    d, lc, accum = cfg.data, cfg.loss, cfg.train.grad_accum
    loss_fn = torch.compile(sic_loss) if variant == "ours-compiled" else sic_loss

    def naive_loss(b):
        from gridssl.reference import pair_losses_dense, rollout_naive

        states = rollout_naive(net, b)
        G, X = states.reshape(-1, states.shape[-1]), b.positions.reshape(-1, 2)
        sep, inv = pair_losses_dense(G, X, lc.sigma_x, lc.sigma_g, lc.reduction)
        iso = isometry_loss(states, b.velocities, net.g0(), lc.iso_max_step, lc.iso_form)
        return lc.w_sep * sep + lc.w_inv * inv + lc.w_cap * capacity_loss(G) + lc.w_iso * iso

    warmup = 3 if variant == "ours-compiled" else 1
    steps, batches = [], []
    for _ in range(reps + warmup):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for _ in range(accum):
            b = draw_batch(d, 0, gen)
            tb = time.perf_counter()
            if variant == "naive":
                loss = naive_loss(b)
            else:
                states = net.rollout_batch(b)
                loss = loss_fn(states, b.positions, b.velocities, net.g0(), lc, gen).total
            (loss / accum).backward()
            batches.append(time.perf_counter() - tb)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.grad_clip)
        opt.step()
        steps.append(time.perf_counter() - t0)
    steps, batches = steps[warmup:], batches[warmup * accum :]
    return {
        "shape": shape,
        "variant": variant,
        "pairs": lc.pairs,
        "M": d.batch_size * d.seq_len,
        "s_per_batch": sorted(batches)[len(batches) // 2],
        "s_per_step": sorted(steps)[len(steps) // 2],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    }


def run_worker(shape: str, variant: str, a) -> dict:
    env = dict(os.environ)
    if variant.startswith("base"):
        if not a.baseline_src:
            return {"shape": shape, "variant": variant, "error": "needs --baseline-src"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [a.baseline_src, env.get("PYTHONPATH")]))
    worker_variant = variant.replace("base", "ours", 1) if variant.startswith("base") else variant
    cmd = [sys.executable, __file__, "--worker", shape, worker_variant]
    cmd += ["--reps", str(a.reps), "--threads", str(a.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"shape": shape, "variant": variant, "error": r.stderr.strip()[-300:]}
    row = json.loads(r.stdout.strip().splitlines()[-1])
    row["variant"] = variant
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole sweep, variants interleaved; report each variant's fastest round "
        "(on a shared machine other jobs only ever slow a round down)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--variants", nargs="+", default=["ours", "ours-sampled", "naive"])
    ap.add_argument("--baseline-src", default="", help="src/ folder for the base* variants")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(one(a.worker[0], a.worker[1], a.reps, a.threads)))
        return
    best: dict[tuple[str, str], dict] = {}
    for _ in range(a.rounds):
        for s in a.shapes:
            for v in a.variants:
                r = run_worker(s, v, a)
                old = best.get((s, v))
                if old is None or "error" in old or r.get("s_per_step", 1e30) < old["s_per_step"]:
                    best[(s, v)] = r
    rows = list(best.values())
    print(
        f"{'shape':<8} {'variant':<14} {'pairs':<8} {'M=B*T':>6} {'s/batch':>8} {'s/opt step':>10} "
        f"{'peak RSS MB':>11} {'threads':>7} {'vs naive':>8}"
    )
    naive = {
        r["shape"]: r["s_per_step"] for r in rows if r["variant"] == "naive" and "error" not in r
    }
    for r in rows:
        if "error" in r:
            print(f"{r['shape']:<8} {r['variant']:<14} failed: {r['error']!r}")
            continue
        base = naive.get(r["shape"])
        ratio = f"{base / r['s_per_step']:>7.2f}x" if base else f"{'-':>8}"
        print(
            f"{r['shape']:<8} {r['variant']:<14} {r['pairs']:<8} {r['M']:>6} "
            f"{r['s_per_batch']:>8.3f} {r['s_per_step']:>10.3f} {r['peak_rss_mb']:>11.0f} "
            f"{r['threads']:>7} {ratio}"
        )


if __name__ == "__main__":
    main()
