"""results.json (+ embedding maps) -> one self-contained leaderboard.html (inline CSS/JS/images).

The page embeds the scaled metric values as JSON and recomputes task scores, the shared cells, ranks
and fronts in the browser (leaderboard.js mirrors benchmark/scoring.py and ranking.py), so weights
and filters change the ranking live. Strings are escaped by Jinja on the server and set as text
(never HTML) by the script.

The page is a list of sections (``SECTIONS``, templates/sections/*.html.j2), each self-contained: a
new one is a new template listed there, plus, if it draws in the browser, a script listed in
``SCRIPTS`` that registers with ``window.scfmLeaderboard.onRender`` (see leaderboard.js).
"""

from collections import defaultdict
from pathlib import Path

import jinja2

from benchmark.io import write_text
from benchmark.ranking import EPSILON
from benchmark.report.task_notes import task_notes

TEMPLATES = Path(__file__).parent / "templates"
SECTIONS = ("summary", "ranking", "tasks", "pretraining", "finetune", "task_notes", "datasets", "degenerate",
            "resources", "failures", "provenance")  # fmt: skip
SCRIPTS = ("leaderboard.js",)
HIGHLIGHTS = ("scgraph_ontorwr", "rogi_pca", "logreg_macro_f1", "logreg_lcad")
SCORE_FIELDS = ("dataset", "task", "model", "seed", "metric", "kind", "scored", "value", "scaled", "scaling", "status",
                "message", "degenerate")  # fmt: skip


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
    """What the page's script needs: ids in order, names and origins, scaled values, weights, seeds."""
    intervals = {
        row["model"]: [int(row["rank_low"]), int(row["rank_high"])]
        for row in results["ranking"]
        if row.get("rank_low") is not None
    }
    metrics_present = {row["metric"] for row in results["scores"]}
    return {
        "run": results["run"],
        "dataset_ids": [d for d in results["config"]["datasets"] if d in results["datasets"]],
        "task_ids": list(results["config"]["tasks"]),
        "model_ids": [m for m in results["config"]["models"] if m in results["models"]],
        "metric_ids": list(results["metrics"]),
        "seeds": list(results["config"]["seeds"]),
        "models": {
            m: {
                "name": info["name"],
                "kind": info["kind"],
                "summary": info["summary"],
                "origin": (info.get("origin") or {}).get("label", ""),
            }
            for m, info in results["models"].items()
        },  # fmt: skip
        "metrics": results["metrics"],
        "scores": [{k: row.get(k) for k in SCORE_FIELDS} for row in results["scores"]],
        "scoring": {
            "bio_weight": results["config"]["scoring"]["bio_weight"],
            "task_weights": results["task_weights"],
            "keep_degenerate": results["comparison"]["keep_degenerate"],
        },
        "epsilon": EPSILON,
        "rank_intervals": intervals,
        "highlights": [m for m in HIGHLIGHTS if m in metrics_present],
    }


def _group(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[tuple(row[k] for k in keys)].append(row)
    return grouped


def origin_banner(results: dict) -> str:
    """One sentence when any scFM of the run was pretrained here rather than loaded from published weights."""
    models = results["models"]
    in_repo = [m for m, info in models.items() if (info.get("origin") or {}).get("source") == "in-repo"]
    if not in_repo:
        return ""
    names = [models[m]["name"] for m in in_repo]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    origins = [models[m]["origin"] for m in in_repo]
    corpus = sorted({c for o in origins for c in o.get("corpus", [])})
    cells = max((o.get("corpus_cells") or 0 for o in origins), default=0)
    steps = max((o.get("steps") or 0 for o in origins), default=0)
    size = f" ({cells:,} cells, at most {steps:,} steps each)" if cells else ""
    verb = "is a small in-repo model" if len(names) == 1 else "are small in-repo models"
    return (f"{listed} {verb} pretrained in this run on {', '.join(corpus) or 'a small corpus'}{size}, not the "
            "published checkpoints: their scores say nothing about the published models.")  # fmt: skip


def failure_groups(failures: list[dict], models: dict) -> list[dict]:
    """Failed and not-applicable results with the same status and message, as one entry listing where."""
    groups = _group(failures, ("status", "message"))
    out = []
    for (status, message), rows in groups.items():
        where: dict[tuple, set] = defaultdict(set)
        for row in rows:
            where[(row["dataset"], row["model"])].add(row["task"])
        listed = [f"{d} · {models[m]['name']} ({', '.join(sorted(t))})" for (d, m), t in sorted(where.items())]
        out.append({"status": status, "message": message, "count": len(where), "where": listed})
    return sorted(out, key=lambda g: (g["status"] != "failed", -g["count"], g["message"]))


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
    is_control = {m: info["kind"] == "control" for m, info in results["models"].items()}
    per_model = sorted((d, m) for d, m in resources if m)
    resource_rows = {"models": [k for k in per_model if not is_control.get(k[1])],
                     "controls": [k for k in per_model if is_control.get(k[1])]}  # fmt: skip
    return {
        "controls": dict(sorted(controls.items())),
        "resources": resources,
        "resource_rows": resource_rows,
        "is_control": is_control,
        "map_order": [m for m in results["config"]["models"] if not is_control.get(m)]
        + [m for m in results["config"]["models"] if is_control.get(m)],
        "stages": sorted({stage for (_, model), stages in resources.items() if model for stage in stages}),
        "runs": {(row["dataset"], row["model"]): row for row in results["runs"]},
        "epsilon": EPSILON,
        "n_seeds": len(results["config"]["seeds"]),
        "banner": origin_banner(results),
        "failure_groups": failure_groups(results["failures"], results["models"]),
        "sections": [f"sections/{name}.html.j2" for name in SECTIONS],
        "data": _page_data(results),
        "task_notes": task_notes(results),
        "scripts": [(TEMPLATES / name).read_text() for name in SCRIPTS],
    }


def render_leaderboard(results: dict, maps: dict | None = None) -> str:
    template = _environment().get_template("leaderboard.html.j2")
    return template.render(r=results, v=_views(results), maps=maps or {})


def write_leaderboard(results: dict, path: str | Path, maps: dict | None = None) -> None:
    write_text(render_leaderboard(results, maps), path)
