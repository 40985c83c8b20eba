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
import math
import os
import pickle
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from . import __version__, rundir
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
    return sorted((Path(run) / rundir.CHECKPOINTS).glob("step_*.pt"))


def read_metrics(run: Path) -> list[dict]:
    """The run's metrics.jsonl rows (:func:`gridssl.rundir.read_jsonl`): a last line cut short by
    a crash mid-write is dropped; a damaged file (not UTF-8, a folder, a line that is not a JSON
    object with an integer step) raises a one-line ConfigError."""
    return rundir.read_jsonl(Path(run) / rundir.METRICS)


def read_run_config(run: Path, what: str = "run") -> dict:
    """The raw {section: {key: value}} of a run directory's config.yaml, or one-line ConfigError
    (``what`` names the flag or argument in the message)."""
    path = Path(run) / rundir.CONFIG
    if path.is_dir():
        raise ConfigError(f"{what} {str(run)!r}: {path} is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"{what} {str(run)!r} is not a run directory (no config.yaml)")
    raw = rundir.parse_yaml(rundir.read_text(path, "config") or "", str(path))
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
    try:  # every member's CRC-32: damage in place (a flipped byte in a tensor) is caught here
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path} is truncated or damaged ({first})") from None
    if bad is not None:
        raise CheckpointError(f"{path} is damaged in place (the CRC of {bad} does not match)")


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


# Sanity bounds on a model read from a file, checked before anything is allocated: a crafted
# config (n_units = 100000 is a 1.28 TB last layer) is refused instead of exhausting memory. The
# largest preset is far inside them (n_units 128, mlp_hidden 256, 3 layers: 4.2 M parameters).
MAX_UNITS = 4096
MAX_HIDDEN = 16384
MAX_LAYERS = 64
MAX_PARAMETERS = 2**30  # 4 GiB of float32


def weight_shapes(model_cfg) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in ``SICNet(model_cfg).state_dict()``, computed without
    building it (tests hold it equal to the real module's)."""
    N, H = model_cfg.n_units, model_cfg.mlp_hidden
    widths = [2] + [H] * (model_cfg.mlp_layers - 1) + [N * N]
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"mlp.{2 * i}.weight"] = (b, a)
        shapes[f"mlp.{2 * i}.bias"] = (b,)
    shapes["g0_raw"] = (N,)
    return shapes


def check_model_size(model_cfg, what: str) -> None:
    """A one-line ConfigError when a model config is beyond the sanity bounds above."""
    m = model_cfg
    for key, value, bound in (
        ("n_units", m.n_units, MAX_UNITS),
        ("mlp_hidden", m.mlp_hidden, MAX_HIDDEN),
        ("mlp_layers", m.mlp_layers, MAX_LAYERS),
    ):
        if value > bound:
            raise ConfigError(
                f"{what}: model.{key} = {value} is beyond the sanity bound {bound}: refused "
                "before allocating the model"
            )
    n = sum(math.prod(s) for s in weight_shapes(m).values())
    if n > MAX_PARAMETERS:
        raise ConfigError(
            f"{what}: the model would have {n:.3g} parameters, beyond the sanity bound "
            f"{MAX_PARAMETERS:.3g}: refused before allocating it"
        )


def model_from_state(state: dict, path: Path, device: str | torch.device = "cpu") -> SICNet:
    """The SICNet a checkpoint dict describes; :class:`CheckpointError` if its parts disagree
    (checked before the model is allocated) or its config is beyond the sanity bounds."""
    try:
        cfg = config_from_dict(state["config"])
        check_model_size(cfg.model, str(path))
    except ConfigError as err:
        raise CheckpointError(f"{path} holds a config that is not allowed: {err}") from None
    check_shapes(state["model"], cfg.model, path)
    net = SICNet(cfg.model)
    load_weights(net, state["model"], path)
    net.config = cfg  # the full run config travels with the model
    return net.to(device).eval()


def check_shapes(weights: dict, model_cfg, path: Path) -> None:
    """A one-line :class:`CheckpointError` when ``weights`` do not have the tensors and shapes
    ``model_cfg`` implies (compared before any model is built)."""
    want = weight_shapes(model_cfg)
    have = {k: tuple(v.shape) for k, v in weights.items()}
    if have == want:
        return
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    if missing or extra:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
    else:
        k = next(k for k in want if want[k] != have[k])
        detail = f"{k} is {list(have[k])}, the config implies {list(want[k])}"
    raise CheckpointError(f"{path} holds weights of another shape or config ({detail})")


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
    dst = Path(dst)
    _check_export_target(ck, dst)
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
    atomic_torch_save(out, dst)
    return dst


def _check_export_target(src: Path, dst: Path) -> None:
    """Refuse an export onto its own source, or into a run's checkpoints/ folder (where it would
    replace, or pass for, a training checkpoint that resuming needs)."""
    try:
        same = dst.exists() and os.path.samefile(src, dst)
    except OSError:
        same = False
    folder = Path(os.path.realpath(dst.parent))
    in_run = folder.name == rundir.CHECKPOINTS and (folder.parent / rundir.CONFIG).is_file()
    if same or in_run:
        raise ConfigError(
            f"--out {str(dst)!r} is "
            + ("the checkpoint being exported" if same else "inside a run's checkpoints/ folder")
            + ": an export there would replace or pass for a training checkpoint; choose "
            "another path"
        )
