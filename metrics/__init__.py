"""Pure metric functions with metadata (name, kind, direction, range)."""

from metrics.base import Metric

__all__ = ["Metric"]
