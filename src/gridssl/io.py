"""Atomic file writes: a temp file in the destination folder, then a rename.

A reader sees the old file or the new one, never half of one; a failed write (a full disk, a
read-only folder) leaves the old file untouched, removes the temp file and raises
:class:`WriteError`, whose one-line message names the destination.

Only a regular file, or nothing, is ever replaced: a target that is a symbolic link (even one to
a regular file), a folder, a device, a FIFO or a socket is refused before anything is written
(as root, ``--out /dev/null`` would otherwise replace the system's ``/dev/null``).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


class WriteError(OSError):
    """A file could not be written (disk full, read-only or missing folder): one line naming it."""

    def __init__(self, path: str | os.PathLike, err: OSError):
        reason = err.strerror or str(err) or type(err).__name__
        super().__init__(err.errno, reason, str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a binary temp file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    check_target(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)  # mkstemp makes 0600: give the permissions a plain open() would
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise WriteError(path, err) from None
        raise
    return path


class NotRegularFile(WriteError):
    """The target of an atomic write exists and is not a regular file: refused."""

    def __init__(self, path: str | os.PathLike, kind: str):
        super().__init__(path, OSError(0, f"it is {kind}, not a regular file: refused"))


def _kind(mode: int) -> str | None:
    """What a target of this mode is, when it is not a regular file."""
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "a special file"


def check_target(path: str | os.PathLike) -> None:
    """Raise :class:`NotRegularFile` if ``path`` exists and is not a regular file (a symbolic
    link counts as not one); nothing or a regular file passes."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise WriteError(path, err) from None
    kind = _kind(mode)
    if kind is not None:
        raise NotRegularFile(path, kind)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
