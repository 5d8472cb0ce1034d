"""Tasks: each turns a prepared dataset and one model's output into raw metric values."""

from benchmark.tasks.evaluate import METRICS, SCORE_COLUMNS, TASKS, evaluate

__all__ = ["METRICS", "SCORE_COLUMNS", "TASKS", "evaluate"]
