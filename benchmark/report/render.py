"""results.json -> one self-contained leaderboard.html (inline CSS/JS, no network needed to view)."""

from collections import defaultdict
from pathlib import Path

import jinja2

from benchmark.io import write_text

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _format_number
    env.filters["heat"] = _heat_colour
    return env


def _format_number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _heat_colour(value: float | None) -> str:
    """A CSS background for a scaled score (0 = red, 1 = green, outside [0, 1] clipped)."""
    if value is None:
        return "background:#eee"
    clipped = min(max(value, 0.0), 1.0)
    return f"background:hsl({int(120 * clipped)},60%,{85 - 10 * clipped:.0f}%)"


def _views(results: dict) -> dict:
    """Regroup the flat results tables for the template."""
    by_model_task: dict = defaultdict(lambda: defaultdict(dict))  # dataset -> model -> task -> row
    for row in results["task_scores"]:
        by_model_task[row["dataset"]][row["model"]][row["task"]] = row
    weights = results["config"]["scoring"]["task_weights"]
    per_dataset_score = defaultdict(dict)
    for dataset, models in by_model_task.items():
        for model, tasks in models.items():
            per_dataset_score[model][dataset] = _dataset_score(tasks, weights)
    metric_cells: dict = defaultdict(lambda: defaultdict(dict))
    for row in results["scores"]:
        metric_cells[row["dataset"]][row["model"]][row["metric"]] = row
    metrics_by_dataset = {
        d: [m for m in results["metrics"] if any(m in cells for cells in metric_cells[d].values())]
        for d in metric_cells
    }
    resources = defaultdict(dict)
    for row in results["resources"]:
        stage = row["stage"] + (f" {row['task']}" if row.get("task") else "")
        resources[(row["dataset"], row.get("model") or "")][stage] = row
    controls: dict = defaultdict(lambda: {"negative": [], "positive": []})
    for info in results["models"].values():
        for kind, role in info.get("control_roles", {}).items():
            controls[kind][role].append(info["name"])
    return {
        "controls": dict(sorted(controls.items())),
        "by_model_task": by_model_task,
        "tasks": list(results["config"]["tasks"]),
        "per_dataset_score": per_dataset_score,
        "metric_cells": metric_cells,
        "metrics_by_dataset": metrics_by_dataset,
        "resources": dict(sorted(resources.items())),
        "stages": sorted({stage for (_, model), stages in resources.items() if model for stage in stages}),
    }


def _dataset_score(tasks: dict[str, dict], weights: dict[str, float]) -> dict:
    """A model's weighted score over the tasks of one dataset, with a status when it has none."""
    scored = [(row["score"], float(weights.get(task, 1.0))) for task, row in tasks.items() if row["score"] is not None]
    if scored:
        return {"status": "ok", "score": sum(s * w for s, w in scored) / sum(w for _, w in scored), "message": ""}
    first = next(iter(tasks.values()))
    return {"status": first["status"], "score": None, "message": first["message"]}


def render_leaderboard(results: dict) -> str:
    template = _environment().get_template("leaderboard.html.j2")
    return template.render(r=results, v=_views(results))


def write_leaderboard(results: dict, path: str | Path) -> None:
    write_text(render_leaderboard(results), path)
