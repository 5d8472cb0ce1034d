"""The accelerators of the machine a run starts on, without importing torch (the workflow reads this)."""

from pathlib import Path


def local_gpu_count(dev: Path = Path("/dev")) -> int:
    """NVIDIA GPUs visible as device files (Linux: /dev/nvidia0, /dev/nvidia1, ...)."""
    return sum(1 for path in dev.glob("nvidia*") if path.name.removeprefix("nvidia").isdigit())
