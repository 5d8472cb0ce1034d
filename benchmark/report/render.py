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
    task_scores = defaultdict(list)
    for row in sorted(results["task_scores"], key=lambda r: -r["score"] if r["score"] is not None else float("inf")):
        task_scores[row["dataset"]].append(row)
    per_dataset_score = defaultdict(dict)
    for row in results["task_scores"]:
        per_dataset_score[row["model"]][row["dataset"]] = row
    metric_cells: dict = defaultdict(lambda: defaultdict(dict))
    for row in results["scores"]:
        metric_cells[row["dataset"]][row["model"]][row["metric"]] = row
    metrics_by_dataset = {
        d: [m for m in results["metrics"] if any(m in cells for cells in metric_cells[d].values())]
        for d in metric_cells
    }
    resources = defaultdict(dict)
    for row in results["resources"]:
        resources[(row["dataset"], row.get("model") or "")][row["stage"]] = row
    controls: dict = defaultdict(lambda: {"negative": [], "positive": []})
    for info in results["models"].values():
        for kind, role in info.get("control_roles", {}).items():
            controls[kind][role].append(info["name"])
    return {
        "controls": dict(sorted(controls.items())),
        "task_scores": task_scores,
        "per_dataset_score": per_dataset_score,
        "metric_cells": metric_cells,
        "metrics_by_dataset": metrics_by_dataset,
        "resources": dict(sorted(resources.items())),
    }


def render_leaderboard(results: dict) -> str:
    template = _environment().get_template("leaderboard.html.j2")
    return template.render(r=results, v=_views(results))


def write_leaderboard(results: dict, path: str | Path) -> None:
    write_text(render_leaderboard(results), path)
