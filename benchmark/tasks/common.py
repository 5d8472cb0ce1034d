"""Run a task's metrics one by one: each gets its own status, time and message."""

import logging
import time

import numpy as np

from benchmark.config import task_settings
from metrics.base import Metric

log = logging.getLogger(__name__)


def run_metrics(metrics: list[Metric], inputs: object, problems: dict[str, str]) -> list[dict]:
    """One result dict per metric. ``problems`` maps a requirement ('labels', 'batches', 'ontology')
    to the reason it is unmet ('' when met); a metric with an unmet requirement is not applicable."""
    rows = []
    for metric in metrics:
        row = {"metric": metric.name, "value": np.nan, "status": "ok", "message": "", "seconds": 0.0}
        unmet = [problems[r] for r in metric.requires if problems.get(r)]
        if unmet:
            row.update(status="not_applicable", message=unmet[0])
            rows.append(row)
            continue
        start = time.perf_counter()
        try:
            value = float(metric.fn(inputs))
        except Exception as error:  # one broken metric never hides the others
            log.exception("metric %s failed", metric.name)
            row.update(status="failed", message=f"{type(error).__name__}: {error}")
        else:
            row["value"] = value
            problem = metric.range_problem(value)  # a value the metric cannot have is a bug, never a score
            if problem:
                log.warning(problem)
                row.update(status="failed", message=problem)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def select(registry: dict[str, Metric], task: str, task_config: dict, default: tuple[str, ...]) -> list[Metric]:
    """The task's configured metrics (the default set when `metrics` is null), with a clear error for unknown names."""
    names = list(task_settings(task, task_config)["metrics"] or default)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise ValueError(
            f"config key `tasks.{task}.metrics` names unknown metrics {unknown}; known: {', '.join(registry)}"
        )
    return [registry[n] for n in names]
