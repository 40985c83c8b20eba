"""Training-step time at three shapes: gridssl against the naive reference, side by side.

    python benchmarks/step_time.py [--shapes paper cpu modules campaign] [--reps 5] [--threads 0]
                                   [--variants ours ours-sampled naive]
                                   [--rounds 1] [--baseline-src DIR] [--floor]

shapes:   paper    the `paper` preset: B 130, T 60, N 128 (M = 7800), 2 batches per optimiser step
          cpu      the `cpu` preset: B 64, T 20, N 48 (M = 1280), 1 batch per step
          modules  the modules search: `cpu` preset with T 60, N 128 (B 64, M = 3840), 1 batch
          campaign the long modules trials: `cpu` preset with B 32, T 60, N 128 (M = 1920), 1 batch
          cpu-slow   the `cpu` preset's slow phase (its last 7000 steps: 30% slow velocities)
          cpu-slow80 the same with 80-step slow sequences of B 16 (docs/RECIPE.md round 10)
          The three `cpu` shapes pin the preset's sigma_x (0.075 m since docs/RECIPE.md round 4),
          so that an older package (``base``), whose preset had 0.05 m, measures the same pairs.
          campaign also sets loss.pair_tiles=whole, as the modules trials run, where the package
          has that setting (an older ``base`` has not).
variants: ours           the training rollout (models.rollout_states, model.rollout_kernel auto:
                         the fused numba kernels where torch would gather, e.g. campaign) and the
                         exact pair sums with their closed-form gradient (losses.pair_sums_exact)
          ours-torch     ours with model.rollout_kernel=torch (batched GEMMs only)
          ours-fused     ours with model.rollout_kernel=fused (the fused kernels at every shape)
          ours-torchpairs  ours with loss.pair_kernel=torch (the invariance pairs and the near-pair
                         search in torch: gathers and scatter-adds)
          ours-sampled   the same with the unbiased pair-subsampled estimator (loss.pairs=sampled)
          ours-compiled  ours with sic_loss wrapped in torch.compile (the first batches compile)
          naive          reference.rollout_naive (a (B, N, N) gather kept per step) and
                         reference.pair_losses_dense (all M x M pairs at once, plain autograd)
          base, base-sampled  ours / ours-sampled, run with the package found in --baseline-src
                         (e.g. a `git archive` of an older commit's src/): today against before
One optimiser step = grad_accum batches of rollout + SIC loss + backward, gradient clipping and an
AdamW step: for ours and base, ``Trainer.train_step`` of that version of gridssl on a step that
writes no metrics row (19 of 20 steps at log_every 20), so each side is timed as it trains.

``--floor`` adds, per shape, the time of the step's unavoidable work done by bare kernels in the
same process: the MLP's GEMMs (forward and backward), the pair sums' two GEMMs over the upper
triangle (distances, gradient) and the kernel's exp, the rollout's reads of the matrices each step
uses (forward and backward) and its weight-gradient GEMM, and AdamW's memory traffic (7 floats per
parameter); ``vs floor`` is ours over it. Each variant runs in its own subprocess, so its peak
resident memory (ru_maxrss) is its own; the median of ``--reps`` timed steps after one warm-up
step (three for ours-compiled) is reported.
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
    "cpu": ("cpu", ["loss.sigma_x=0.075"]),
    "modules": ("cpu", ["loss.sigma_x=0.075", "data.seq_len=60", "model.n_units=128"]),
    "campaign": (
        "cpu",
        ["loss.sigma_x=0.075", "data.seq_len=60", "model.n_units=128", "data.batch_size=32"],
    ),
    # the cpu preset's second half (slow velocities mixed in from data.slow_from_step), with the
    # preset's own 20-step sequences and with round 10's 80-step slow sequences (B 16, same M)
    "cpu-slow": ("cpu", ["loss.sigma_x=0.075", "data.slow_from_step=1"]),
    "cpu-slow80": (
        "cpu",
        [
            "loss.sigma_x=0.075",
            "data.slow_from_step=1",
            "data.slow_seq_len=80",
            "data.slow_batch_size=16",
        ],
    ),
}


def _median_time(f, reps: int) -> float:
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def floor(shape: str, reps: int, threads: int) -> dict:
    """Seconds per optimiser step of the shape's unavoidable work, timed as bare kernels."""
    import torch

    from gridssl.config import load_config
    from gridssl.data import draw_batch

    if threads:
        torch.set_num_threads(threads)
    preset, overrides = SHAPES[shape]
    cfg = load_config(preset, overrides=overrides)
    d, m = cfg.data, cfg.model
    b = draw_batch(d, 1, torch.Generator().manual_seed(1))  # step 1: the slow shapes' batch
    (B, T, _), N, H = b.velocities.shape, m.n_units, m.mlp_hidden
    M, accum = B * T, cfg.train.grad_accum
    K = b.distinct.shape[0]
    r = torch.randn
    parts = {}
    widths = [2] + [H] * (m.mlp_layers - 1) + [N * N]
    gemms = []  # (rows, inner, cols) of every MLP GEMM, forward and backward
    for i, (a, o) in enumerate(zip(widths[:-1], widths[1:])):
        gemms += [(K, a, o), (a, K, o)] + ([(K, o, a)] if i else [])
    mats = [(r(x, y), r(y, z)) for x, y, z in gemms]
    parts["mlp"] = _median_time(lambda: [torch.mm(x, y) for x, y in mats], reps)
    G, G1, G2 = r(M, N + 2), r(M // 2, N + 1), r(M, N + 1)
    Kt = r(M // 2, M)
    parts["pairs"] = _median_time(  # M^2/2 distances, exp, and the gradient's M^2 (N+1) MACs
        lambda: (torch.mm(G[: M // 2], G.T), Kt.exp(), torch.mm(Kt.T, G1), torch.mm(Kt, G2)),
        reps,
    )
    used = sum(len(set(b.index[:, t].tolist())) for t in range(T))  # matrices read, all steps
    Wall = r(used, N, N)
    L, R = r(K, N, M // K), r(K, M // K, N)
    parts["rollout"] = _median_time(lambda: (Wall.sum(), Wall.sum(), torch.bmm(L, R)), reps)
    P = sum(x * y + y for x, y in zip(widths[:-1], widths[1:]))
    src, dst = r(P * 7 // 2), torch.empty(P * 7 // 2)
    parts["adamw"] = _median_time(lambda: dst.copy_(src), reps) / accum
    out = {k: v * accum for k, v in parts.items()}
    out["total"] = sum(out.values())
    return out


def one(shape: str, variant: str, reps: int, threads: int) -> dict:
    import torch

    from gridssl.config import LossConfig, load_config
    from gridssl.data import draw_batch
    from gridssl.losses import capacity_loss, isometry_loss, sic_loss
    from gridssl.model import SICNet

    if threads:
        torch.set_num_threads(threads)
    preset, overrides = SHAPES[shape]
    if variant.endswith("sampled"):
        overrides = overrides + ["loss.pairs=sampled"]
    if variant in ("ours-torch", "ours-fused"):
        overrides = overrides + [f"model.rollout_kernel={variant[5:]}"]
    if variant == "ours-torchpairs":
        overrides = overrides + ["loss.pair_kernel=torch"]
    if shape == "campaign" and "pair_tiles" in LossConfig.__dataclass_fields__:
        overrides = overrides + ["loss.pair_tiles=whole"]  # as the modules trials run
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
    # ours and its variants: the Trainer's own step
    if variant in ("ours", "ours-sampled", "ours-torch", "ours-fused", "ours-torchpairs"):
        import tempfile

        from gridssl.train import Trainer

        tr = Trainer(cfg, tempfile.mkdtemp())  # writes nothing
        quiet = {"health": False} if "health" in Trainer.train_step.__code__.co_varnames else {}
        for _ in range(reps + warmup):
            t0 = time.perf_counter()
            tr.train_step(**quiet)
            steps.append(time.perf_counter() - t0)
        batches = [s / accum for s in steps] * accum
    for _ in range(0 if steps else reps + warmup):
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


def _worker_output(shape: str, variant: str, a, env: dict) -> str:
    """The last stdout line of a worker subprocess (its JSON row)."""
    cmd = [sys.executable, __file__, "--worker", shape, variant]
    cmd += ["--reps", str(a.reps), "--threads", str(a.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-300:])
    return r.stdout.strip().splitlines()[-1]


def run_worker(shape: str, variant: str, a) -> dict:
    env = dict(os.environ)
    if variant.startswith("base"):
        if not a.baseline_src:
            return {"shape": shape, "variant": variant, "error": "needs --baseline-src"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [a.baseline_src, env.get("PYTHONPATH")]))
    worker_variant = variant.replace("base", "ours", 1) if variant.startswith("base") else variant
    try:
        row = json.loads(_worker_output(shape, worker_variant, a, env))
    except RuntimeError as e:
        return {"shape": shape, "variant": variant, "error": str(e)}
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
    ap.add_argument("--floor", action="store_true", help="add the floor column (see above)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        if a.worker[1] == "floor":
            print(json.dumps(floor(a.worker[0], a.reps, a.threads)))
        else:
            print(json.dumps(one(a.worker[0], a.worker[1], a.reps, a.threads)))
        return
    floors: dict[str, dict] = {}
    best: dict[tuple[str, str], dict] = {}
    for _ in range(a.rounds):
        for s in a.shapes:
            for v in a.variants:
                r = run_worker(s, v, a)
                old = best.get((s, v))
                if old is None or "error" in old or r.get("s_per_step", 1e30) < old["s_per_step"]:
                    best[(s, v)] = r
            if a.floor:
                f = json.loads(_worker_output(s, "floor", a, dict(os.environ)))
                if s not in floors or f["total"] < floors[s]["total"]:
                    floors[s] = f
    rows = list(best.values())
    head = f"{'shape':<10} {'variant':<14} {'pairs':<8} {'M=B*T':>6} {'s/batch':>8} "
    head += f"{'s/opt step':>10} "
    head += f"{'peak RSS MB':>11} {'threads':>7} {'vs naive':>8} {'vs base':>8}"
    print(head + (f" {'floor s':>8} {'vs floor':>8}" if floors else ""))
    ref = {
        (r["shape"], r["variant"]): r["s_per_step"]
        for r in rows
        if r["variant"] in ("naive", "base") and "error" not in r
    }
    for r in rows:
        if "error" in r:
            print(f"{r['shape']:<10} {r['variant']:<14} failed: {r['error']!r}")
            continue
        line = (
            f"{r['shape']:<10} {r['variant']:<14} {r['pairs']:<8} {r['M']:>6} "
            f"{r['s_per_batch']:>8.3f} {r['s_per_step']:>10.3f} {r['peak_rss_mb']:>11.0f} "
            f"{r['threads']:>7}"
        )
        for other in ("naive", "base"):
            x = ref.get((r["shape"], other))
            line += f" {x / r['s_per_step']:>7.2f}x" if x else f" {'-':>8}"
        f = floors.get(r["shape"])
        if f:
            line += f" {f['total']:>8.3f} {r['s_per_step'] / f['total']:>7.2f}x"
        print(line)
    for s, f in floors.items():
        print(f"floor {s}: " + ", ".join(f"{k} {v:.4f} s" for k, v in f.items()))


if __name__ == "__main__":
    main()
