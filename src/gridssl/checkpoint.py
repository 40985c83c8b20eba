"""Reading and writing models: run directories' checkpoints, the shipped model, export.

Evaluation and analysis read weights through this module only; they never import the trainer.

Loading runs no one else's code: every file is read with ``torch.load(weights_only=True)``, which
unpickles only tensors and plain Python types (dict, list, str, int, float, bool, None). A
checkpoint holds nothing else: weights, optimiser and scheduler state dicts, the data generator's
state (a uint8 tensor), and the config and metadata as plain dicts. A file that needs any other
pickled object is refused, as are truncated files, files that are not checkpoints at all and
weights that do not fit their config: each raises :class:`CheckpointError` with one line that names
the file and the problem.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from . import __version__
from .config import ConfigError, config_from_dict
from .io import atomic_write
from .model import SICNet

_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive (since torch 1.6)
_NPY_MAGIC = b"\x93NUMPY"


class CheckpointError(ValueError):
    """A model or checkpoint file that cannot be used (one-line message naming the file).

    Raised by :func:`load`, :func:`read_checkpoint`, :func:`export_model` and when resuming a run
    for a missing, empty, truncated or damaged file, a file that is not a gridssl checkpoint (an
    ``.npy`` array, a text file), a file that needs pickled objects (refused: unpickling it could
    run code), and weights of another shape or config. A subclass of ``ValueError``.
    """


class CheckpointNotFound(CheckpointError, FileNotFoundError):
    """The file or the run's checkpoints do not exist (also a ``FileNotFoundError``)."""


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`gridssl.io.atomic_write`. The file is serialised in memory
    first: torch.save turns a failed write (a full disk) into an unrelated RuntimeError, while a
    plain write of bytes reports it as the OSError it is (a one-line WriteError)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, lambda fh: fh.write(buf.getbuffer()))


def checkpoints(run: Path) -> list[Path]:
    """The run's step checkpoints, oldest first."""
    return sorted((Path(run) / "checkpoints").glob("step_*.pt"))


def read_metrics(run: Path) -> list[dict]:
    """The run's metrics.jsonl rows. A last line cut short by a crash mid-write is dropped."""
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a partial last write: the run resumes before it anyway
                break
            raise ConfigError(f"{path} line {i + 1} is not valid JSON") from None
    return rows


def read_run_config(run: Path, what: str = "run") -> dict:
    """The raw {section: {key: value}} of a run directory's config.yaml, or one-line ConfigError
    (``what`` names the flag or argument in the message)."""
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{what} {str(run)!r} is not a run directory (no config.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigError(f"{path} is not a mapping of config sections")
    return raw


def pretrained_path() -> Path:
    """Where the checkpoint shipped with gridssl lies (it may be absent from a build)."""
    return Path(str(resources.files("gridssl").joinpath("pretrained", "model.pt")))


def _sniff(path: Path) -> None:
    """Refuse a file that is missing, empty or not a torch zip archive, before unpickling."""
    if not path.exists():
        raise CheckpointNotFound(f"{path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise CheckpointError(f"{path} is empty: not a checkpoint")
    if head.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{path} is a NumPy array, not a checkpoint")
    if not head.startswith(_ZIP_MAGIC):
        raise CheckpointError(f"{path} is not a checkpoint (not a file written by torch.save)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated or damaged (its zip directory is missing)")


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """The dict stored in a checkpoint or model file, loaded safely (``weights_only=True``).

    Raises :class:`CheckpointError` (one line) when the file cannot be used.
    """
    path = Path(path)
    _sniff(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "weights only load failed" in first.lower():  # torch names the forbidden global
            raise CheckpointError(
                f"{path} needs pickled Python objects to load: refused, since unpickling it could "
                "run code (gridssl files hold only tensors and plain types)"
            ) from None
        raise CheckpointError(f"{path} is truncated or damaged ({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path} is truncated or damaged ({first})") from None
    if not (
        isinstance(state, dict)
        and isinstance(state.get("model"), dict)
        and isinstance(state.get("config"), dict)
        and all(isinstance(v, torch.Tensor) for v in state["model"].values())
    ):
        raise CheckpointError(f"{path} is not a gridssl checkpoint (no model weights and config)")
    return state


def model_from_state(state: dict, path: Path, device: str | torch.device = "cpu") -> SICNet:
    """The SICNet a checkpoint dict describes; :class:`CheckpointError` if its parts disagree."""
    try:
        cfg = config_from_dict(state["config"])
    except ConfigError as err:
        raise CheckpointError(f"{path} holds a config that is not allowed: {err}") from None
    net = SICNet(cfg.model)
    load_weights(net, state["model"], path)
    net.config = cfg  # the full run config travels with the model
    return net.to(device).eval()


def load_weights(net: torch.nn.Module, weights: dict, path: Path) -> None:
    """``net.load_state_dict(weights)`` in float32, or a one-line :class:`CheckpointError`."""
    try:
        net.load_state_dict({k: v.float() for k, v in weights.items()})
    except RuntimeError as err:
        lines = [s.strip() for s in str(err).splitlines() if s.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise CheckpointError(
            f"{path} holds weights of another shape or config ({detail})"
        ) from None


def newest_checkpoint(path: Path) -> Path:
    """``path`` itself, or the newest checkpoint of a run directory."""
    if path.is_dir():
        found = checkpoints(path)
        if not found:
            raise CheckpointNotFound(f"{path} holds no checkpoints/step_*.pt")
        return found[-1]
    return path


def load(path: str | Path = "pretrained", device: str = "cpu") -> SICNet:
    """A trained SICNet from a run directory (its latest checkpoint), a checkpoint file, or
    ``"pretrained"`` (the checkpoint shipped with gridssl). Returned in eval mode.

    Raises :class:`CheckpointError` (one line naming the file) for a file that cannot be used.
    """
    if str(path) == "pretrained":
        path = pretrained_path()
        if not path.exists():
            raise CheckpointNotFound("no pretrained checkpoint is shipped with this gridssl build")
    ck = newest_checkpoint(Path(path))
    return model_from_state(read_checkpoint(ck, device), ck, device)


def export_model(src: str | Path, dst: str | Path, half: bool = True) -> Path:
    """Write a compact checkpoint (model weights, fp16 by default, and the run config) that
    :func:`load` reads: what ships as ``gridssl.load("pretrained")``."""
    ck = newest_checkpoint(Path(src))
    state = read_checkpoint(ck)
    model_from_state(state, ck)  # refuse weights that do not fit their config before writing
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
