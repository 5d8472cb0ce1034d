"""What every metric declares about itself."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("bio", "batch", "annotation", "ontology", "clinical", "gene")


@dataclass(frozen=True)
class Metric:
    """A metric: ``fn(inputs) -> float`` plus the facts scoring needs."""

    name: str
    label: str
    kind: str
    higher_is_better: bool
    range: tuple[float, float]
    fn: Callable[[Any], float]
    needs_batches: bool = False
    description: str = ""

    def metadata(self) -> dict:
        return {
            "label": self.label,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "range": list(self.range),
            "description": self.description,
        }
