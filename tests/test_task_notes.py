"""The report's drug-protocol and perturbation-reference section, from a small known results document."""

import json
from pathlib import Path

import pandas as pd

from benchmark.aggregate import aggregate
from benchmark.config import with_defaults
from benchmark.registry import ModelSpec
from benchmark.report.render import render_leaderboard
from benchmark.report.task_notes import task_notes

MODELS = ("random", "batch_only", "A", "B")
# model -> drug AUROC on the within-line dataset (batch-only separates it: label = sample)
DRUG_AUROC = {"random": 0.52, "batch_only": 1.0, "A": 0.97, "B": 0.93}
# model -> scaled perturbation values (r2_all, r2_de, delta_pearson, energy); additive is 0.5 on each
PERTURBATION = {"random": (0.0, 0.01, 0.3, 0.0), "batch_only": (0.0, 0.0, 0.0, 0.0), "A": (0.7, 0.75, 0.86, 0.77),
                "B": (0.4, 0.3, 0.6, 0.5)}  # fmt: skip
MEASURES = ("r2_all", "r2_de", "delta_pearson", "energy")


def _spec(model: str) -> ModelSpec:
    roles = {"random": {"drug": "negative"}, "batch_only": {"batch": "negative"}}.get(model, {})
    kind = "control" if roles else "baseline"
    return ModelSpec(id=model, directory="/x", name=f"Model {model}", summary="", kind=kind, class_name="M",
                     capabilities=("embed",), control_roles=roles)  # fmt: skip


def _rows(dataset: str, task: str, model: str, values: dict[str, float | None], message: str = "") -> list[dict]:
    return [{"dataset": dataset, "task": task, "model": model, "seed": 0, "metric": metric, "value": value,
             "status": "ok" if value is not None else "not_applicable", "message": message, "seconds": 0.1}
            for metric, value in values.items()]  # fmt: skip


def build(tmp_path: Path) -> dict:
    score_paths, runs = [], []
    skip = "no drug could be scored: Tamoxifen: fewer than two classes in the training part when holding out ['H2228']"
    for model in MODELS:
        auroc = DRUG_AUROC[model]
        tables = {
            "pc9-drug": _rows("pc9", "drug", model, {"drug_auroc": auroc, "drug_auprc": auroc - 0.05,
                                                     "drug_brier": 1 - auroc}),
            "lines-drug": _rows("lines", "drug", model, dict.fromkeys(("drug_auroc", "drug_auprc", "drug_brier")),
                                skip),
            "kang-perturbation": _rows("kang", "perturbation", model, {
                **{f"perturbation_{m}": v for m, v in zip(MEASURES, PERTURBATION[model], strict=True)},
                **{f"perturbation_{m}_raw": 0.9 for m in MEASURES},
                **{f"perturbation_{m}_additive": 0.5 for m in MEASURES}}),
        }  # fmt: skip
        for name, rows in tables.items():
            path = tmp_path / f"{name}-{model}.tsv"
            pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
            score_paths.append(str(path))
        info = tmp_path / f"{model}.run.json"
        info.write_text(json.dumps({"device": "cpu", "wall_time_s": 1.0, "cells_per_s": 1.0, "peak_rss_mb": 1.0,
                                    "peak_gpu_mb": 0.0, "status": "ok", "n_dims": 2, "notes": "{}"}))  # fmt: skip
        runs.append({"dataset": "pc9", "model": model, "seed": 0, "path": str(info)})
    entries = {"pc9": {"drug_response": {"prefix": "response_", "level": "cell", "protocol": "within_line"}},
               "lines": {"drug_response": {"prefix": "gdsc2_", "level": "cell line"}}, "kang": {}}  # fmt: skip
    summaries = {}
    for dataset, entry in entries.items():
        path = tmp_path / f"{dataset}.json"
        path.write_text(json.dumps({"id": dataset, "source": "x", "sha256": "a" * 64, "n_cells": 10, "n_genes": 5,
                                    "n_batches": 2, "n_cell_types": 1, "x_kind": "counts", "description": dataset,
                                    "catalog_entry": json.dumps(entry)}))  # fmt: skip
        summaries[dataset] = str(path)
    config = with_defaults({"run": "t", "seeds": [0], "datasets": list(entries), "models": list(MODELS),
                            "tasks": {"drug": {"batch_margin": 0.05}, "perturbation": None}})  # fmt: skip
    results, _ = aggregate(score_paths, [], runs, summaries, config, {m: _spec(m) for m in MODELS})
    return results


def test_drug_notes_record_the_protocol_and_compare_with_batch_only(tmp_path):
    notes = {n["dataset"]: n for n in task_notes(build(tmp_path))["drug"]}
    pc9, lines = notes["pc9"], notes["lines"]
    assert pc9["protocol"] == "within_line" and lines["protocol"] == "line_disjoint"
    assert pc9["batch_only"] == 1.0 and pc9["confounded"]
    readings = {m["model"]: m["reading"] for m in pc9["models"]}
    assert set(readings) == {"random", "A", "B"}  # batch-only is the reference, not a row
    assert all(r.startswith("reflects sample differences") for r in readings.values())
    assert {m["model"]: round(m["gain"], 3) for m in pc9["models"]}["A"] == -0.03
    assert lines["models"] == [] and "holding out ['H2228']" in lines["skipped"]  # CellBench keeps its reasons


def test_perturbation_notes_put_references_beside_models_and_scoring_keeps_task_scale(tmp_path):
    results = build(tmp_path)
    (kang,) = task_notes(results)["perturbation"]
    assert [r["score"] for r in kang["references"]] == [0.0, 0.5, 1.0]
    scores = {m["model"]: m for m in kang["models"]}
    assert scores["A"]["beats_additive"] and not scores["B"]["beats_additive"]
    assert scores["A"]["score"] == sum(PERTURBATION["A"]) / 4
    task = {r["model"]: r["score"] for r in results["task_scores"] if r["task"] == "perturbation"}
    assert task["A"] == scores["A"]["score"] and task["random"] == sum(PERTURBATION["random"]) / 4  # not rescaled
    scaled = {r["scaling"] for r in results["scores"] if r["metric"] == "perturbation_r2_all"}
    assert scaled == {"task references"}


def test_report_shows_both_sections(tmp_path):
    html = render_leaderboard(build(tmp_path))
    assert "Drug response: protocols and the batch-only reference" in html
    assert (
        "within-line: seeded stratified folds over cells" in html and "line-disjoint: folds split by cell line" in html
    )
    assert "reflects sample differences (not above batch-only by the margin)" in html
    assert "The label follows the sample here" in html and "No drug could be scored" in html
    assert "Perturbation response: references" in html and "additive (mean shift of the other types)" in html
