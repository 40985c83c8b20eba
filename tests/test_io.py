import os

import pytest

from gridssl.io import atomic_write, atomic_write_text


def test_atomic_write_replaces_whole_or_leaves_old(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "old")
    assert path.read_text() == "old"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.txt"]
