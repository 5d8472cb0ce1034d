"""Pure metric functions with metadata (name, kind, direction, range)."""

from metrics.base import Metric
from metrics.scib import INTEGRATION_DEFAULT, INTEGRATION_METRICS, IntegrationInput

__all__ = ["INTEGRATION_DEFAULT", "INTEGRATION_METRICS", "IntegrationInput", "Metric"]
