"""scFM benchmark suite: the framework package (config, data, models, tasks, scoring, report)."""

from benchmark.errors import ConfigError, ContractError, NotApplicable

__version__ = "0.1.0"

__all__ = ["ConfigError", "ContractError", "NotApplicable", "__version__"]
