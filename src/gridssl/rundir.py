"""The one owner of run and sweep directories: their file names, a lock, and robust readers.

A run directory (``gridssl train``) and a sweep directory (``gridssl sweep --out``) are each
written by one process at a time. :func:`lock` takes ``DIR/.lock``: a file holding the owner's
pid, host name and process start time, made whole in one step (a hard link of a finished temp
file), so it is never seen half-written. A second process is refused in one line
(:class:`Locked`). A lock whose process is gone is stale: on the same host a dead pid (or a pid
since reused by another process, told apart by its start time) is recognised and the lock taken
over; a lock held from another host cannot be checked from here and is refused with the file to
remove when its process is known to be gone. Within one process the lock is re-entrant.

The readers (:func:`read_jsonl`, :func:`read_json`, :func:`read_yaml`) turn every damaged file
(not UTF-8, a folder in its place, invalid JSON / YAML, a row that is not an object) into one
:class:`~gridssl.config.ConfigError` line naming the file. YAML is read with
:class:`StrictLoader`: aliases (so no alias bombs) and duplicate keys are refused.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError
from .io import WriteError

CONFIG = "config.yaml"
META = "meta.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
TRIAL = "trial.json"
SPEC = "sweep.yaml"
LOCK = ".lock"
BEST = "best.pt"  # in CHECKPOINTS: the best in-training evaluation
TRIALS = "trials"  # a sweep directory's run directories, one per trial
RESULTS = "results.csv"  # a sweep's table (and results.json beside it)
NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, tmpfs)


# ----------------------------------------------------------------------------- names


def check_name(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path, or a one-line ConfigError when it cannot name a file here: not UTF-8,
    or a part longer than :data:`NAME_MAX` bytes."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
        raise ConfigError(f"{what} {shown!r} is not valid UTF-8: choose a UTF-8 name") from None
    for part in Path(text).parts:
        if len(part.encode("utf-8")) > NAME_MAX:
            raise ConfigError(
                f"{what} {text[:60]!r}...: the name {part[:40]!r}... is longer than {NAME_MAX} "
                "bytes, the file system's limit"
            )
    return Path(text)


# ----------------------------------------------------------------------------- the lock


class Locked(ConfigError):
    """The directory is in use by another process (one line naming it and the lock file)."""


_HELD: dict[str, int] = {}  # real path of a locked directory -> nesting count in this process


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, UnicodeDecodeError):
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces
    return fields[19] if len(fields) > 19 else None


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start": _start_time(pid)}


def _alive(holder: dict) -> bool:
    """Whether the process a lock file names runs (on this host)."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return False
    start = holder.get("start")
    now = _start_time(pid)
    return start is None or now is None or start == now  # another start time: a reused pid


def _read_holder(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    since = holder.get("since")
    return (
        f"gridssl process {holder.get('pid')} on {holder.get('host')}"
        + (f" since {since}" if since else "")
        + (f" ({holder.get('command')})" if holder.get("command") else "")
    )


class DirLock:
    """A held lock on a directory; :meth:`release` (or leaving the ``with`` block) frees it."""

    def __init__(self, key: str, path: Path):
        self.key, self.path, self.released = key, path, False
        self._finalizer = weakref.finalize(self, _release, key, str(path))

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._finalizer()

    def __enter__(self) -> DirLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _release(key: str, path: str) -> None:
    count = _HELD.get(key, 0) - 1
    if count > 0:
        _HELD[key] = count
        return
    _HELD.pop(key, None)
    try:
        holder = _read_holder(Path(path))
        if holder is not None and holder.get("pid") == os.getpid():
            os.unlink(path)
    except OSError:
        pass  # a lock left behind is recognised as stale once this process ends


def lock(directory: str | os.PathLike, what: str = "directory", command: str = "") -> DirLock:
    """Take ``directory/.lock`` (making the directory if need be), or raise :class:`Locked`.

    ``what`` names the directory in the message (e.g. ``--out 'runs/x'``). A failure to write
    the lock (a read-only folder, a full disk) raises :class:`~gridssl.io.WriteError`.
    """
    directory = Path(directory)
    path = directory / LOCK
    made = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(directory)
    except OSError as err:
        raise WriteError(path, err) from None
    if key in _HELD:
        _HELD[key] += 1
        return DirLock(key, path)
    try:
        return _take(directory, path, key, what, command)
    except WriteError:
        if made:  # leave no empty folder behind a lock that could not be written
            try:
                directory.rmdir()
            except OSError:
                pass
        raise


def _take(directory: Path, path: Path, key: str, what: str, command: str) -> DirLock:
    me = _me()
    content = json.dumps({**me, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command})
    for _ in range(20):
        try:
            _link_new(path, content)
            _HELD[key] = 1
            return DirLock(key, path)
        except FileExistsError:
            pass
        holder = _read_holder(path)
        if holder is None:
            continue  # released meanwhile: try again
        ours = holder.get("pid") == me["pid"] and holder.get("host") == me["host"]
        if ours and holder.get("start") == me["start"]:
            _HELD[key] = 1  # a lock this very process left (e.g. a Trainer never closed)
            return DirLock(key, path)
        if holder.get("host") == me["host"] and not _alive(holder):
            _break_stale(path, holder)
            continue
        if not holder:
            raise Locked(
                f"{what} is locked by {path}, which cannot be read: remove it if no gridssl "
                "process uses this directory"
            )
        remote = holder.get("host") != me["host"]
        raise Locked(
            f"{what} is in use by {_describe(holder)}: wait for it to end"
            + (
                f", or remove {path} if that process is gone (it runs on another host and "
                "cannot be checked from here)"
                if remote
                else ""
            )
        )
    raise Locked(f"{what}: could not take {path} (it keeps changing hands)")


def _link_new(path: Path, content: str) -> None:
    """Create ``path`` holding ``content`` whole, or raise FileExistsError if it exists."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{LOCK}.", suffix=".tmp")
        try:
            data = content.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as err:
        raise WriteError(path, err) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _break_stale(path: Path, holder: dict) -> None:
    """Remove a stale lock, unless another process replaced it meanwhile."""
    aside = path.with_name(f"{LOCK}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another process broke it first
    except OSError as err:
        raise WriteError(path, err) from None
    if _read_holder(aside) == holder:
        aside.unlink(missing_ok=True)
        return
    try:  # a fresh lock taken in between: put it back
        os.link(aside, path)
    except OSError:
        pass
    aside.unlink(missing_ok=True)


def held(directory: str | os.PathLike) -> bool:
    """Whether this process holds the lock on ``directory``."""
    return os.path.realpath(directory) in _HELD


# ----------------------------------------------------------------------------- readers


def read_text(path: str | os.PathLike, what: str = "file") -> str | None:
    """The UTF-8 text of ``path``, None if it does not exist, or a one-line ConfigError."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte {err.start} is {err.object[err.start]:#x})"
        ) from None
    except OSError as err:
        raise ConfigError(f"{what} {path} cannot be read: {err.strerror or err}") from None


def read_jsonl(path: str | os.PathLike, what: str = "metrics file") -> list[dict]:
    """The rows of a JSON-lines file of objects, each with an integer ``step`` (missing file:
    none). A last line cut short by a crash mid-write is dropped; any other line that is not
    such an object raises a one-line ConfigError naming the file and the line."""
    path = Path(path)
    text = read_text(path, what)
    if text is None:
        return []
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    rows = []
    for k, (number, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except ValueError:
            if k == len(lines) - 1 and not text.endswith("\n"):
                break  # a partial last write: the run resumes before it anyway
            raise ConfigError(f"{path} line {number} is not valid JSON") from None
        step = row.get("step") if isinstance(row, dict) else None
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ConfigError(
                f"{path} line {number} is not a metrics row (a JSON object with an integer "
                "'step' >= 0)"
            )
        rows.append(row)
    return rows


def read_json(path: str | os.PathLike, what: str = "file") -> dict | None:
    """A JSON object file (None if it does not exist), or a one-line ConfigError."""
    path = Path(path)
    text = read_text(path, what)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON (damaged or cut short)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return data


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (``*name``: no alias bombs) and duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    twice = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the constructor refuses it
                if twice:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, origin: str) -> Any:
    """YAML text through :class:`StrictLoader`, or a one-line ConfigError naming ``origin``."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None)
        why = f": {problem}" if problem and ("alias" in problem or "duplicate" in problem) else ""
        raise ConfigError(f"{origin} is not valid YAML{where}{why}") from None


def read_yaml(path: str | os.PathLike, what: str = "file") -> Any:
    """A YAML file through :class:`StrictLoader`; ConfigError for a missing or damaged file."""
    path = Path(path)
    text = read_text(path, what)
    if text is None:
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    return parse_yaml(text, f"{what} {str(path)!r}")
