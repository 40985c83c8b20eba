"""gridssl: self-supervised grid cells (SIC) — training, and grid-cell analysis of any spatial code.

import gridssl
net = gridssl.load("runs/demo")          # or a checkpoint file, or "pretrained"
states = net.rollout(velocities)          # (B, T, 2) m/step -> (B, T, N)
"""

__version__ = "0.1.0"


def load(path="pretrained", device="cpu"):
    """A trained model from a run directory, a checkpoint file or "pretrained" (checkpoint.load)."""
    from .checkpoint import load as _load

    return _load(path, device)


__all__ = ["__version__", "load"]
