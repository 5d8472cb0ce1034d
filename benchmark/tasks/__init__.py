"""Tasks: each turns a prepared dataset and one model's output into raw metric values
(`benchmark.tasks.evaluate.evaluate` runs one task).

METRICS, SCORE_COLUMNS and TASKS load on first use: the workflow imports `benchmark.tasks.plan` when it
builds the DAG, in every Snakemake process (each cluster job starts one), and the task implementations
pull in scib-metrics and jax (seconds).
"""

import importlib

__all__ = ["METRICS", "SCORE_COLUMNS", "TASKS"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'benchmark.tasks' has no attribute {name!r}")
    module = importlib.import_module("benchmark.tasks.evaluate")
    exports = {key: getattr(module, key) for key in __all__}
    globals().update(exports)
    return exports[name]
