"""The leaderboard's notes on two tasks whose numbers need context (template ``task_notes.html.j2``):

- drug response: each dataset's protocol (line-disjoint or within-line) and label level, drugs skipped
  and why, and every model's AUROC beside the ``batch_only`` control's. Where batch-only itself
  separates the labels (AUROC at least 0.5 + margin: the label follows the sample), a model that does
  not beat it by the margin gets "reflects sample differences";
- perturbation response: the references (no change 0, additive, observed 1) beside every model on the
  task's scaled metrics, and whether the model beats the additive baseline.
"""

import json
from collections import defaultdict

import numpy as np

from benchmark.config import task_settings
from benchmark.tasks.drug import drug_protocol
from benchmark.tasks.perturbation import MEASURES

PROTOCOL_TEXT = {
    "line_disjoint": "line-disjoint: folds split by cell line (labels per line, broadcast to its cells)",
    "within_line": "within-line: seeded stratified folds over cells (labels per cell)",
}


def task_notes(results: dict) -> dict:
    return {"drug": drug_notes(results), "perturbation": perturbation_notes(results)}


def _mean_values(results: dict, task: str) -> dict[str, dict[tuple[str, str], float]]:
    """dataset -> (model, metric) -> raw value, mean over seeds of the ok rows."""
    collected: dict = defaultdict(lambda: defaultdict(list))
    for row in results["scores"]:
        if row["task"] == task and row["status"] == "ok" and row["value"] is not None:
            collected[row["dataset"]][(row["model"], row["metric"])].append(row["value"])
    return {d: {key: float(np.mean(v)) for key, v in values.items()} for d, values in collected.items()}


def _first_message(results: dict, dataset: str, task: str) -> str:
    return next((r["message"] for r in results["scores"]
                 if r["dataset"] == dataset and r["task"] == task and r["status"] != "ok"), "")  # fmt: skip


def drug_notes(results: dict) -> list[dict]:
    margin = float(task_settings("drug", results["config"]["tasks"].get("drug"))["batch_margin"])
    values = _mean_values(results, "drug")
    notes = []
    for dataset, info in results["datasets"].items():
        if not any(r["dataset"] == dataset and r["task"] == "drug" for r in results["scores"]):
            continue
        mine = values.get(dataset, {})
        reference = mine.get(("batch_only", "drug_auroc"))
        confounded = reference is not None and reference >= 0.5 + margin
        models = []
        for model in results["models"]:
            auroc = mine.get((model, "drug_auroc"))
            if model == "batch_only" or auroc is None:
                continue
            if reference is None:
                reading = "no batch-only control in this run: sample differences are not ruled out"
            elif auroc >= reference + margin:
                reading = f"beats batch-only by at least {margin:g}"
            elif confounded:
                reading = "reflects sample differences (not above batch-only by the margin)"
            else:
                reading = "not above batch-only by the margin"
            models.append({"model": model, "auroc": auroc, "auprc": mine.get((model, "drug_auprc")),
                           "brier": mine.get((model, "drug_brier")),
                           "gain": None if reference is None else auroc - reference, "reading": reading})  # fmt: skip
        entry = json.loads(info.get("catalog_entry") or "{}").get("drug_response", {})
        protocol = drug_protocol(info)
        notes.append({"dataset": dataset, "protocol": protocol, "protocol_text": PROTOCOL_TEXT[protocol],
                      "level": entry.get("level", ""), "margin": margin, "batch_only": reference,
                      "batch_only_auprc": mine.get(("batch_only", "drug_auprc")), "confounded": confounded,
                      "skipped": "" if mine else _first_message(results, dataset, "drug"),
                      "models": models})  # fmt: skip
    return notes


def perturbation_notes(results: dict) -> list[dict]:
    values = _mean_values(results, "perturbation")
    labels = {measure: label for measure, (label, _, _) in MEASURES.items()}
    notes = []
    for dataset in results["datasets"]:
        if not any(r["dataset"] == dataset and r["task"] == "perturbation" for r in results["scores"]):
            continue
        mine = values.get(dataset, {})
        additive = {}
        for measure in MEASURES:
            found = [v for (_, metric), v in mine.items() if metric == f"perturbation_{measure}_additive"]
            additive[measure] = float(np.mean(found)) if found else None
        additive_score = _score(additive)
        references = [
            {"name": "no change (control cells)", "values": dict.fromkeys(MEASURES, 0.0), "score": 0.0},
            {"name": "additive (mean shift of the other types)", "values": additive, "score": additive_score},
            {"name": "observed (perturbed cells of the target)", "values": dict.fromkeys(MEASURES, 1.0), "score": 1.0},
        ]
        models = []
        for model in results["models"]:
            scaled = {m: mine.get((model, f"perturbation_{m}")) for m in MEASURES}
            if all(v is None for v in scaled.values()):
                continue
            score = _score(scaled)
            models.append({"model": model, "values": scaled, "score": score,
                           "raw": {m: mine.get((model, f"perturbation_{m}_raw")) for m in MEASURES},
                           "beats_additive": None if score is None or additive_score is None
                           else bool(score > additive_score)})  # fmt: skip
        notes.append({"dataset": dataset, "labels": labels, "references": references, "models": models,
                      "problem": "" if mine else _first_message(results, dataset, "perturbation")})  # fmt: skip
    return notes


def _score(values: dict[str, float | None]) -> float | None:
    """The task score: the mean of the scaled measures (None when any is missing)."""
    present = [v for v in values.values() if v is not None]
    return float(np.mean(present)) if present and len(present) == len(values) else None
