"""gridssl: self-supervised grid cells (SIC) — training, and grid-cell analysis of any spatial code.

import gridssl
net = gridssl.load("runs/demo")          # or a checkpoint file, or "pretrained"
states = net.rollout(velocities)          # (B, T, 2) m/step -> (B, T, N)
"""

__version__ = "0.1.0"


def load(path="pretrained", device="cpu"):
    """A trained model from a run directory, a checkpoint file or "pretrained" (checkpoint.load).

    ``device``: cpu, cuda, cuda:K or auto; one that this machine lacks raises ConfigError."""
    from .checkpoint import load as _load
    from .train import resolve_device

    return _load(path, str(resolve_device(device, "device")))


from . import analysis  # noqa: E402  (light: its submodules load on first use)

__all__ = ["__version__", "analysis", "load"]
