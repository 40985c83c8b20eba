"""Every command that reads a model refuses a bad file in one line (exit 2), and the Python API
raises one documented exception type, gridssl.checkpoint.CheckpointError. Loading never runs code
from the file (weights_only=True)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import gridssl
from gridssl.checkpoint import CheckpointError, checkpoints, pretrained_path, read_checkpoint
from gridssl.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "run"
    args = ["train", "--preset", "tiny", "--out", str(out), "--quiet", "--steps", "10"]
    assert main([*args, "--set", "train.eval_every=0"]) == 0
    return out


class _Marker:
    """Unpickling this runs Path(marker).touch(): a stand-in for someone else's code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _bad_files(tmp_path, run) -> dict[str, Path]:
    good = checkpoints(run)[-1]
    data = good.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"step: 10\nthis is not a checkpoint\n",
    }
    paths = {}
    for name, blob in files.items():
        paths[name] = tmp_path / f"{name}.pt"
        paths[name].write_bytes(blob)
    paths["npy"] = tmp_path / "maps.npy"
    np.save(paths["npy"], np.zeros((3, 4)))
    paths["tensor"] = tmp_path / "tensor.pt"  # a torch file, but not a gridssl checkpoint
    torch.save(torch.zeros(3), paths["tensor"])
    state = torch.load(good, weights_only=True)
    state["config"]["model"]["n_units"] = 24  # weights of another shape than the config says
    paths["other_shape"] = tmp_path / "other_shape.pt"
    torch.save(state, paths["other_shape"])
    paths["pickled"] = tmp_path / "pickled.pt"
    torch.save({**state, "extra": _Marker(tmp_path / "ran.txt")}, paths["pickled"])
    return paths


NEEDLES = {
    "truncated": "truncated or damaged",
    "empty": "is empty",
    "text": "not a checkpoint",
    "npy": "NumPy array",
    "tensor": "not a gridssl checkpoint",
    "other_shape": "another shape or config",
    "pickled": "needs pickled Python objects",
}


def test_load_refuses_each_bad_file_with_one_documented_exception(tmp_path, run):
    for name, path in _bad_files(tmp_path, run).items():
        with pytest.raises(CheckpointError) as e:
            gridssl.load(path)
        msg = str(e.value)
        assert NEEDLES[name] in msg and str(path) in msg and "\n" not in msg, (name, msg)
    with pytest.raises(CheckpointError, match="does not exist"):
        gridssl.load(tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError):  # CheckpointNotFound is also a FileNotFoundError
        gridssl.load(tmp_path / "absent.pt")


def test_a_file_whose_unpickling_runs_code_is_refused_and_the_code_does_not_run(tmp_path, run):
    paths = _bad_files(tmp_path, run)
    marker = tmp_path / "ran.txt"
    # the crafted file does run code under a plain unpickler: the test's premise
    torch.load(paths["pickled"], weights_only=False)
    assert marker.exists()
    marker.unlink()
    for argv in (
        ["eval", str(paths["pickled"])],
        ["export", str(paths["pickled"]), "--out", str(tmp_path / "x.pt")],
        ["train", "--preset", "tiny", "--out", str(tmp_path / "w"), "--init-from"]
        + [str(paths["pickled"])],
    ):
        assert main(argv) == 2, argv
    with pytest.raises(CheckpointError, match="refused"):
        gridssl.load(paths["pickled"])
    assert not marker.exists()
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "w").exists()


@pytest.mark.parametrize("command", ["eval", "analyze", "export", "init_from", "resume"])
def test_every_command_that_reads_a_model_refuses_bad_files_in_one_line(
    tmp_path, run, capsys, command
):
    for name, path in _bad_files(tmp_path, run).items():
        if command == "resume" and name == "other_shape":  # the run's config.yaml decides
            rdir = shutil.copytree(run, tmp_path / "r_shape")
            argv = ["train", "--resume", str(rdir), "--set", "model.n_units=24", "--quiet"]
        elif command == "resume":  # a run whose only checkpoint is this file
            rdir = tmp_path / f"r_{name}"
            shutil.copytree(run, rdir)
            for old in checkpoints(rdir):
                old.unlink()
            shutil.copy(path, rdir / "checkpoints" / "step_00000010.pt")
            argv = ["train", "--resume", str(rdir), "--quiet"]
        else:
            argv = {
                "eval": ["eval", str(path)],
                "analyze": ["analyze", str(path), "--out", str(tmp_path / "an"), "--quiet"],
                "export": ["export", str(path), "--out", str(tmp_path / "exp.pt")],
                "init_from": ["train", "--preset", "tiny", "--out", str(tmp_path / "w")]
                + ["--init-from", str(path), "--quiet"],
            }[command]
        capsys.readouterr()
        before = _snapshot(rdir) if command == "resume" else None
        assert main(argv) == 2, (command, name)
        if command == "resume":
            assert _snapshot(rdir) == before, name  # nothing changed on disk
        err = capsys.readouterr().err.strip().splitlines()
        assert 1 <= len(err) <= 3 and "Traceback" not in err[0], (command, name, err)
        if command == "resume" and name == "other_shape":
            assert NEEDLES[name] in err[0], err
        elif command == "resume":
            assert "no intact checkpoint" in err[-1], err
        elif command == "init_from" and name == "other_shape":
            assert NEEDLES[name] in err[0]
        else:
            assert NEEDLES[name] in err[0] and path.name in err[0], (command, name, err)
    for leftover in ("an", "exp.pt", "w"):
        assert not (tmp_path / leftover).exists()


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_info_refuses_what_is_not_a_readable_run(tmp_path, run, capsys):
    bad_yaml = shutil.copytree(run, tmp_path / "bad_yaml")
    (bad_yaml / "config.yaml").write_text("train: [unclosed\n")
    as_list = shutil.copytree(run, tmp_path / "as_list")
    (as_list / "config.yaml").write_text("- 1\n- 2\n")
    bad_meta = shutil.copytree(run, tmp_path / "bad_meta")
    (bad_meta / "meta.json").write_text('{"seed": 0,')
    cases = {
        tmp_path / "absent": "does not exist",
        checkpoints(run)[-1]: "not a run directory",
        tmp_path: "not a run directory",
        bad_yaml: "not valid YAML",
        as_list: "not a mapping",
        bad_meta: "not valid JSON",
    }
    for path, needle in cases.items():
        capsys.readouterr()
        assert main(["info", str(path)]) == 2, path
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (path, err)


def test_shipped_and_exported_models_load_safely(tmp_path, run):
    state = read_checkpoint(pretrained_path())  # weights_only=True: the shipped file is plain
    assert state["config"]["model"]["n_units"] == 48
    out = tmp_path / "m.pt"
    assert main(["export", str(run), "--out", str(out)]) == 0
    with open(out, "rb") as fh:  # nothing beyond tensors and plain types in what we write
        torch.load(fh, weights_only=True)
    a, b = gridssl.load(run).state_dict(), gridssl.load(out).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-3, rtol=1e-3) for k in a)
    # a training checkpoint too: optimiser, scheduler and generator states are plain
    torch.load(checkpoints(run)[-1], weights_only=True)
