"""Reading and writing models: run directories' checkpoints, the shipped model, export.

Evaluation and analysis read weights through this module only; they never import the trainer.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import config_from_dict
from .io import atomic_write
from .model import SICNet


def atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def checkpoints(run: Path) -> list[Path]:
    """The run's step checkpoints, oldest first."""
    return sorted((run / "checkpoints").glob("step_*.pt"))


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pretrained_path() -> Path:
    """Where the checkpoint shipped with gridssl lies (it may be absent from a build)."""
    return Path(str(resources.files("gridssl").joinpath("pretrained", "model.pt")))


def load(path: str | Path = "pretrained", device: str = "cpu") -> SICNet:
    """A trained SICNet from a run directory (its latest checkpoint), a checkpoint file, or
    ``"pretrained"`` (the checkpoint shipped with gridssl). Returned in eval mode."""
    if str(path) == "pretrained":
        path = pretrained_path()
        if not path.exists():
            raise FileNotFoundError("no pretrained checkpoint is shipped with this gridssl build")
    path = Path(path)
    if path.is_dir():
        found = checkpoints(path)
        if not found:
            raise FileNotFoundError(f"{path} holds no checkpoints/step_*.pt")
        path = found[-1]
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    state = torch.load(path, map_location=device, weights_only=False)
    cfg = config_from_dict(state["config"])
    net = SICNet(cfg.model)
    net.load_state_dict({k: v.float() for k, v in state["model"].items()})
    net.config = cfg  # the full run config travels with the model
    return net.to(device).eval()


def export_model(src: str | Path, dst: str | Path, half: bool = True) -> Path:
    """Write a compact checkpoint (model weights, fp16 by default, and the run config) that
    :func:`load` reads: what ships as ``gridssl.load("pretrained")``."""
    src = Path(src)
    ck = checkpoints(src)[-1] if src.is_dir() else src
    state = torch.load(ck, map_location="cpu", weights_only=False)
    model = {
        k: (v.half() if half and v.is_floating_point() else v) for k, v in state["model"].items()
    }
    out = {
        "model": model,
        "config": state["config"],
        "step": state.get("step"),
        "source": str(ck),
        "gridssl_version": __version__,
    }
    atomic_torch_save(out, Path(dst))
    return Path(dst)
