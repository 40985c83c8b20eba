"""The CUDA path: the same step on the GPU as on the CPU, and a GPU run read back on the CPU.
Skipped where no CUDA device is present (CI); run on a lent GPU machine with
``python -m pytest tests/test_gpu.py``."""

import pytest
import torch

from gridssl.checkpoint import load
from gridssl.config import load_config
from gridssl.train import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _trainer(tmp_path, device: str, *overrides: str) -> Trainer:
    cfg = load_config(
        "tiny",
        overrides=[f"train.device={device}", "loss.pairs=exact", *overrides],
        train__steps=4,
    )
    return Trainer.create(cfg, tmp_path / device, "tests/test_gpu.py")


@pytest.mark.parametrize("weighting", ["uniform", "octave", "inverse"])
def test_a_step_on_cuda_matches_the_cpu(tmp_path, weighting):
    # fp32 throughout (PyTorch leaves TF32 off for matmul): the same batch, loss and update
    cpu = _trainer(tmp_path, "cpu", f"loss.sep_weighting={weighting}")
    gpu = _trainer(tmp_path, "cuda", f"loss.sep_weighting={weighting}")
    a, b = cpu.train_step(), gpu.train_step()
    for k in ("total", "sep", "inv", "cap", "iso"):
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k
    for (name, p), q in zip(cpu.net.named_parameters(), gpu.net.parameters()):
        torch.testing.assert_close(q.detach().cpu(), p.detach(), rtol=1e-4, atol=1e-6, msg=name)


def test_a_cuda_run_loads_on_the_cpu(tmp_path):
    gpu = _trainer(tmp_path, "auto", "train.ckpt_every=2")
    assert gpu.device.type == "cuda"
    gpu.fit(progress=False)
    net = load(tmp_path / "auto", device="cpu")
    v = torch.randn(3, 7, 2, generator=torch.Generator().manual_seed(1)) * 0.05
    with torch.no_grad():
        here = net.rollout(v)
        there = gpu.net.rollout(v.cuda()).cpu()
    torch.testing.assert_close(here, there, rtol=1e-4, atol=1e-5)
