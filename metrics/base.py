"""What every metric declares about itself."""

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("bio", "batch", "annotation", "ontology", "landscape", "cancer", "drug", "gene", "perturbation")
REQUIREMENTS = ("labels", "batches", "ontology", "embedding", "go", "tissue", "calibration")
RANGE_TOLERANCE = 1e-6  # rounding slack at a declared bound


@dataclass(frozen=True)
class Metric:
    """A metric: ``fn(inputs) -> float`` plus the facts scoring needs."""

    name: str
    label: str
    kind: str
    higher_is_better: bool
    range: tuple[float, float]
    fn: Callable[[Any], float]
    requires: tuple[str, ...] = ("labels",)
    description: str = ""
    scored: bool = True  # False: reported beside the scores, not aggregated into them
    scaled_by_task: bool = False  # True: the value is already on the task's reference scale; scoring keeps it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name}: kind {self.kind!r} is not one of {KINDS}")
        unknown = [r for r in self.requires if r not in REQUIREMENTS]
        if unknown:
            raise ValueError(f"metric {self.name}: requirements {unknown} are not among {REQUIREMENTS}")
        if not self.range[0] <= self.range[1]:
            raise ValueError(f"metric {self.name}: range {self.range} is empty")

    def range_problem(self, value: float) -> str:
        """Why ``value`` cannot be this metric's ('' when it lies in the declared range, or is NaN)."""
        low, high = self.range
        if math.isnan(value) or low - RANGE_TOLERANCE <= value <= high + RANGE_TOLERANCE:
            return ""
        return f"value {value!r} outside the declared range [{low:g}, {high:g}] of {self.name}: check the metric"

    def metadata(self) -> dict:
        return {
            "label": self.label,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "range": [bound if math.isfinite(bound) else None for bound in self.range],  # JSON has no infinity
            "description": self.description,
            "scored": self.scored,
            "scaled_by_task": self.scaled_by_task,
        }


def available_cores() -> int:
    """The CPUs this process may use: those it may run on (a SLURM job's allocation, not the whole node),
    at most ``OMP_NUM_THREADS`` when set (Snakemake sets it to the job's ``threads``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() else cores
