"""Per-step equality of the training losses and gradients with another implementation.

    python benchmarks/step_equivalence.py --against base --baseline-src DIR [--preset cpu]
                                          [--steps 200] [--metrics RUN/metrics.jsonl]
    python benchmarks/step_equivalence.py --against naive [--preset paper] [--steps 2]

Training is chaotic at its start (gradient norms of 20-130 against a clip of 1 in the `cpu`
preset): two runs whose losses differ by 1e-7 at step 1 differ by 1e-2 by step 10, and today's code
run with 1 and with 2 threads already does. So equality is checked step by step along one
trajectory: every optimiser step of a real run (the Trainer of `gridssl train`, same seed, same
batches) is computed by both implementations from the same weights; the step taken is the other
implementation's, so the trajectory is exactly the other implementation's run (``--metrics``
checks that against its metrics.jsonl). Printed: the largest relative difference of each loss term
and of the gradient (2-norm of the difference over the 2-norm of the gradient) over the steps.

    base   the package in --baseline-src (a `git archive` of an older commit's src/)
    naive  reference.rollout_naive and reference.pair_losses_dense (exact pairs only)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile


def load_baseline(src: str):
    """The (model, losses) modules of the gridssl package under ``src``, beside the current one."""
    mine = {k: m for k, m in sys.modules.items() if k == "gridssl" or k.startswith("gridssl.")}
    for k in mine:
        del sys.modules[k]
    sys.path.insert(0, src)
    try:
        import gridssl.losses
        import gridssl.model

        base = (gridssl.model, gridssl.losses)
    finally:
        sys.path.remove(src)
        for k in [k for k in sys.modules if k == "gridssl" or k.startswith("gridssl.")]:
            del sys.modules[k]
        sys.modules.update(mine)
    return base


def naive_terms(net, b, lc):
    from gridssl.losses import capacity_loss, isometry_loss
    from gridssl.reference import pair_losses_dense, rollout_naive

    states = rollout_naive(net, b)
    G, X = states.reshape(-1, states.shape[-1]), b.positions.reshape(-1, 2)
    sep, inv = pair_losses_dense(G, X, lc.sigma_x, lc.sigma_g, lc.reduction)
    cap = capacity_loss(G)
    iso = isometry_loss(states, b.velocities, net.g0(), lc.iso_max_step, lc.iso_form)
    total = lc.w_sep * sep + lc.w_inv * inv + lc.w_cap * cap + lc.w_iso * iso
    return {"total": total, "sep": sep, "inv": inv, "cap": cap, "iso": iso}


def float64_truth(states, b, lc):
    """sep, inv and d(w_sep sep + w_inv inv)/d states in float64 arithmetic (pair_losses_dense),
    with the pair sets decided from the float32 positions by coordinate differences."""
    import torch

    from gridssl.reference import pair_losses_dense

    S = states.detach().double().requires_grad_()
    G, X = S.reshape(-1, S.shape[-1]), b.positions.reshape(-1, 2)
    sep, inv = pair_losses_dense(G, X, lc.sigma_x, lc.sigma_g, lc.reduction)
    (g,) = torch.autograd.grad(lc.w_sep * sep + lc.w_inv * inv, S)
    return {"sep": sep.detach(), "inv": inv.detach(), "dG": g}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", choices=["base", "naive"], required=True)
    ap.add_argument("--baseline-src", default="")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", default="", help="metrics.jsonl of the other run, to match")
    ap.add_argument(
        "--truth",
        action="store_true",
        help="also measure both against a float64 evaluation of the pair losses (base only)",
    )
    a = ap.parse_args()
    if a.against == "base":
        if not a.baseline_src:
            ap.error("--against base needs --baseline-src")
        base_model, base_losses = load_baseline(a.baseline_src)

    import torch

    from gridssl.config import load_config
    from gridssl.data import draw_batch
    from gridssl.losses import sic_loss
    from gridssl.train import Trainer

    cfg = load_config(a.preset, overrides=a.set + [f"train.seed={a.seed}"])
    c, accum = cfg, cfg.train.grad_accum
    tr = Trainer(cfg, tempfile.mkdtemp())  # writes nothing
    net, params = tr.net, list(tr.net.parameters())
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)

    def other(b, gen):
        if a.against == "naive":
            return naive_terms(net, b, c.loss)
        states = base_model.SICNet.rollout_batch(net, b)
        t = base_losses.sic_loss(states, b.positions, b.velocities, net.g0(), c.loss, gen)
        return {k: getattr(t, k) for k in ("total", "sep", "inv", "cap", "iso")} | {
            "states": states
        }

    def pair_errors(terms, truth, err):
        """Relative errors of sep, inv and of the pair loss's gradient in the states, against
        the float64 evaluation ``truth`` = (sep, inv, gradient)."""
        lc = c.loss
        pair = lc.w_sep * terms["sep"] + lc.w_inv * terms["inv"]
        g = torch.autograd.grad(pair, terms["states"], retain_graph=True)
        for k, v in (("sep", terms["sep"]), ("inv", terms["inv"]), ("dG", g[0])):
            ref = truth[k]
            e = float((v.detach().double() - ref).norm() / ref.norm().clamp_min(1e-30))
            err[k] = max(err.get(k, 0.0), e)

    worst: dict[str, float] = {}
    err_mine: dict[str, float] = {}
    err_other: dict[str, float] = {}
    recorded = [json.loads(x) for x in open(a.metrics)] if a.metrics else []
    traj_diff = 0.0
    for step in range(a.steps):
        tr.opt.zero_grad(set_to_none=True)
        g_other = [torch.zeros_like(p) for p in params]
        g_mine = [torch.zeros_like(p) for p in params]
        total = 0.0
        for _ in range(accum):
            b = draw_batch(c.data, tr.step, tr.data_gen)
            mine_gen = torch.Generator().set_state(tr.data_gen.get_state())
            ref = other(b, tr.data_gen)  # the run's own generator: its trajectory
            st = net.rollout_batch(b)
            t = sic_loss(st, b.positions, b.velocities, net.g0(), c.loss, mine_gen)
            mine = {k: getattr(t, k) for k in ("total", "sep", "inv", "cap", "iso")} | {
                "states": st
            }
            if a.truth and "states" in ref:
                truth = float64_truth(st, b, c.loss)
                pair_errors(ref, truth, err_other)
                pair_errors(mine, truth, err_mine)
            for k in ("total", "sep", "inv", "cap", "iso"):
                d = float(
                    (mine[k] - ref[k]).detach().abs() / ref[k].detach().abs().clamp_min(1e-12)
                )
                worst[k] = max(worst.get(k, 0.0), d)
            for acc, g in zip(g_other, torch.autograd.grad(ref["total"] / accum, params)):
                acc += g
            for acc, g in zip(g_mine, torch.autograd.grad(mine["total"] / accum, params)):
                acc += g
            total += float(ref["total"].detach()) / accum
        num = sum(float((x - y).pow(2).sum()) for x, y in zip(g_mine, g_other)) ** 0.5
        den = sum(float(y.pow(2).sum()) for y in g_other) ** 0.5
        worst["grad"] = max(worst.get("grad", 0.0), num / max(den, 1e-30))
        if step < len(recorded):
            traj_diff = max(traj_diff, abs(total - recorded[step]["total"]))
        for p, g in zip(params, g_other):  # the step of the other implementation
            p.grad = g
        torch.nn.utils.clip_grad_norm_(params, c.train.grad_clip)
        tr.opt.step()
        tr.step += 1
        tr.schedule_step(total)
    print(f"{a.steps} steps of preset {a.preset!r} (seed {a.seed}) against {a.against}:")
    for k, v in worst.items():
        print(f"  max relative difference {k:<6} {v:.2e}")
    for k in err_mine:
        print(
            f"  relative error of {k:<4} against float64: ours {err_mine[k]:.2e}, "
            f"{a.against} {err_other[k]:.2e}"
        )
    if recorded:
        n = min(a.steps, len(recorded))
        print(f"  trajectory vs {a.metrics} (first {n} steps): max |total diff| {traj_diff:.2e}")


if __name__ == "__main__":
    main()
