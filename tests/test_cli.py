import subprocess
import sys

import pytest

from gridssl.cli import main


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--preset", "tiny", "--set", "model.colour=1"], "unknown config key"),
        (["--preset", "tiny", "--set", "loss.sigma_g=-0.4"], "loss.sigma_g = -0.4"),
        (["--preset", "tiny", "--set", "data.batch_size=0"], "data.batch_size = 0"),
        (["--preset", "tiny", "--set", "train.lr=-1e-3"], "train.lr = -0.001"),
        (["--preset", "tiny", "--set", "train.lr=abc"], "expected a number"),
        (["--preset", "tiny", "--steps", "ten"], "train.steps = 'ten'"),
        (["--config", "/nonexistent.yaml"], "does not exist"),
    ],
)
def test_bad_input_refused_with_one_line_and_nothing_written(tmp_path, capsys, args, needle):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["train", "--preset", "tiny", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_console_script_help_and_argparse_errors_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "gridssl.cli", "train", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "loss.sigma_g" in r.stdout and "--resume" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "gridssl.cli", "trian"], capture_output=True, text=True
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_info(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--steps", "10", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "step_00000010.pt" in text and "seed" in text
