"""Tasks: each turns a prepared dataset and one model's output into raw metric values."""

from benchmark.tasks.evaluate import SCORE_COLUMNS, TASKS, evaluate

__all__ = ["SCORE_COLUMNS", "TASKS", "evaluate"]
