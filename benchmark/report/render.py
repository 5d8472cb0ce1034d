"""results.json (+ embedding maps) -> one self-contained leaderboard.html (inline CSS/JS/images).

The page embeds the scaled metric values as JSON and recomputes task, dataset and overall scores,
ranks and fronts in the browser (leaderboard.js mirrors benchmark/scoring.py and ranking.py), so
weights and filters change the ranking live. Strings are escaped by Jinja on the server and set as
text (never HTML) by the script.
"""

from collections import defaultdict
from pathlib import Path

import jinja2

from benchmark.io import write_text
from benchmark.ranking import EPSILON
from benchmark.report.task_notes import task_notes

TEMPLATES = Path(__file__).parent / "templates"
HIGHLIGHTS = ("scgraph_ontorwr", "rogi_pca", "logreg_macro_f1", "logreg_lcad")
SCORE_FIELDS = ("dataset", "task", "model", "seed", "metric", "kind", "scored", "value", "scaled", "scaling", "status",
                "message")  # fmt: skip


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _format_number
    env.filters["groupby_pairs"] = lambda rows: list(_group(rows, ("dataset", "model")).items())
    return env


def _format_number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _page_data(results: dict) -> dict:
    """What the page's script needs: ids in order, names, scaled values, weights, statuses."""
    status: dict[str, dict] = {}
    for (dataset, model), rows in _group(results["task_scores"], ("dataset", "model")).items():
        if all(row["status"] != "ok" for row in rows):
            status[f"{dataset}\u0000{model}"] = {"status": rows[0]["status"], "message": rows[0]["message"]}
    intervals = {
        row["model"]: [int(row["rank_low"]), int(row["rank_high"])]
        for row in results["ranking"]
        if row.get("rank_low") is not None
    }
    metrics_present = {row["metric"] for row in results["scores"]}
    return {
        "run": results["run"],
        "dataset_ids": list(results["datasets"]),
        "task_ids": list(results["config"]["tasks"]),
        "model_ids": list(results["models"]),
        "metric_ids": list(results["metrics"]),
        "models": {m: {k: info[k] for k in ("name", "kind", "summary")} for m, info in results["models"].items()},
        "metrics": results["metrics"],
        "scores": [{k: row.get(k) for k in SCORE_FIELDS} for row in results["scores"]],
        "scoring": {
            "bio_weight": results["config"]["scoring"]["bio_weight"],
            "task_weights": results["task_weights"],
        },
        "epsilon": EPSILON,
        "status": status,
        "rank_intervals": intervals,
        "highlights": [m for m in HIGHLIGHTS if m in metrics_present],
    }


def _group(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[tuple(row[k] for k in keys)].append(row)
    return grouped


def _views(results: dict) -> dict:
    controls: dict = defaultdict(lambda: {"negative": [], "positive": []})
    kinds = {info["kind"] for info in results["metrics"].values()}  # only the kinds this run measures
    for info in results["models"].values():
        for kind, role in info.get("control_roles", {}).items():
            if kind in kinds:
                controls[kind][role].append(info["name"])
    resources = defaultdict(dict)
    for row in results["resources"]:
        stage = row["stage"] + (f" {row['task']}" if row.get("task") else "")
        resources[(row["dataset"], row.get("model") or "")][stage] = row
    runs = {(row["dataset"], row["model"]): row for row in results["runs"]}
    return {
        "controls": dict(sorted(controls.items())),
        "resources": dict(sorted(resources.items())),
        "stages": sorted({stage for (_, model), stages in resources.items() if model for stage in stages}),
        "runs": runs,
        "epsilon": EPSILON,
        "n_seeds": len(results["config"]["seeds"]),
        "data": _page_data(results),
        "task_notes": task_notes(results),
        "script": (TEMPLATES / "leaderboard.js").read_text(),
    }


def render_leaderboard(results: dict, maps: dict | None = None) -> str:
    template = _environment().get_template("leaderboard.html.j2")
    return template.render(r=results, v=_views(results), maps=maps or {})


def write_leaderboard(results: dict, path: str | Path, maps: dict | None = None) -> None:
    write_text(render_leaderboard(results, maps), path)
