"""Where does a network lose its place when it moves slowly? Three probes of one model.

    python experiments/drift_probe.py [MODEL]      # MODEL: run dir, checkpoint or "pretrained"

1. Standing still: 5 steps of 8 cm along x, then v = 0; |g_t - g_arrival| after k still steps.
2. Jiggling in place: the same arrival, then +s, -s along x repeated (net displacement 0) for
   2000 steps at s = 0.5, 2 and 8 cm; |g_t - g_arrival| every 400 steps.
3. The scale of those distances: |g(x + d) - g(x)| for d = 1, 2, 5, 10, 20 cm along x.
A network that integrates exactly returns to g_arrival in probes 1 and 2 (distance 0).
"""

from __future__ import annotations

import sys

import torch

import gridssl


def main(model: str = "pretrained") -> None:
    net = gridssl.load(model)
    arrive = torch.tensor([[0.08, 0.0]]).repeat(5, 1)

    def rollout(after: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net.rollout(torch.cat([arrive, after])[None])[0]

    s = rollout(torch.zeros(300, 2))
    ks = (1, 2, 5, 10, 20, 50, 100, 300)
    print(
        "standing still, |g - g_arrival| after k steps:",
        {k: round(float((s[4 + k] - s[4]).norm()), 3) for k in ks},
    )
    for step in (0.005, 0.02, 0.08):
        s = rollout(torch.tensor([[step, 0.0], [-step, 0.0]]).repeat(1000, 1))
        d = (s[4::400] - s[4]).norm(dim=-1).numpy()
        print(f"jiggling +-{step * 100:g} cm, every 400 steps:", [round(float(x), 3) for x in d])
    s = rollout(torch.tensor([[0.01, 0.0]]).repeat(20, 1))
    print(
        "|g(x+d) - g(x)|, d in cm:",
        {d: round(float((s[4 + d] - s[4]).norm()), 3) for d in (1, 2, 5, 10, 20)},
    )


if __name__ == "__main__":
    main(*sys.argv[1:2])
