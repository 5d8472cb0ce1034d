"""GPUs of the local machine, counted without torch (benchmark.devices), and how a local run uses the count."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.devices import local_gpu_count
from benchmark.paths import REPO_ROOT


def test_only_numbered_nvidia_devices_are_gpus(tmp_path):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "null"):
        (tmp_path / name).touch()
    assert local_gpu_count(tmp_path) == 2
    assert local_gpu_count(tmp_path / "missing") == 0


@pytest.mark.skipif(local_gpu_count() > 0, reason="this machine has a GPU: GPU steps rightly run one at a time")
def test_without_a_gpu_gpu_steps_do_not_queue_for_one(tmp_path):
    """The profile allows one GPU job at a time; on a CPU-only machine no step asks for it, so pretraining
    and scFM embeddings run side by side on the cores (Snakemake's plan lists each job's resources)."""
    snakemake = str(Path(sys.executable).parent / "snakemake")
    plan = subprocess.run([snakemake, "-s", str(REPO_ROOT / "workflow" / "Snakefile"), "--directory", str(tmp_path),
                           "-n", "--configfile", str(REPO_ROOT / "config" / "test.yaml"), "--printshellcmds"],
                          capture_output=True, text=True)  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-3000:]
    pretrain = plan.stdout.split("rule pretrain:")[1].split("\n\n")[0]
    assert "gpu=0" in pretrain, pretrain
