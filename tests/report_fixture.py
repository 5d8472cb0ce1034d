"""A small, fully known results document (two datasets, two tasks, controls, one hostile name)."""

import json
from pathlib import Path

import pandas as pd

from benchmark.aggregate import aggregate
from benchmark.config import with_defaults
from benchmark.registry import ModelSpec

EVIL = "<script>alert(1)</script>"
METRICS = {"integration": ["kmeans_nmi", "ilisi"], "annotation": ["knn_accuracy", "knn_lcad"]}
# model -> (bio, batch, annotation) raw values; A is strong at integration, B at annotation.
VALUES = {
    "random": (0.1, 0.8, 0.1),
    "batch_only": (0.2, 0.0, 0.2),
    "label_oracle": (1.0, 0.9, 1.0),
    "A": (0.9, 0.8, 0.3),
    "B": (0.5, 0.3, 0.95),
    "evil": (0.6, 0.5, 0.5),
}
ROLES = {
    "random": {"bio": "negative", "annotation": "negative"},
    "batch_only": {"batch": "negative"},
    "label_oracle": {"bio": "positive", "batch": "positive", "annotation": "positive"},
}


def spec(model_id: str, pretrained: bool = False) -> ModelSpec:
    name = EVIL if model_id == "evil" else model_id.replace("_", " ").title()
    kind = "control" if model_id in ROLES else "baseline"
    return ModelSpec(id=model_id, directory="/x", name=name, summary=f"summary of {name}", kind=kind,
                     class_name="M", capabilities=("embed",), control_roles=ROLES.get(model_id, {}),
                     checkpoint="pretrain" if pretrained else None)  # fmt: skip


ORIGIN = {"source": "in-repo", "corpus_cells": 3000, "steps": 400, "minutes": 2.5}
PUBLISHED = {"source": "published", "name": "whole_human", "format": "scgpt", "sha256": "ab12" * 16}


def build(tmp_path: Path, failed: tuple[str, str] | None = ("d2", "evil"), corpus: tuple[str, ...] = (),
          pretrained: tuple[str, ...] = (), seeds: tuple[int, ...] = (0,), degenerate: tuple[str, str] | None = None,
          published: tuple[str, ...] = (), unscheduled: list[dict] | None = None,
          scoring: dict | None = None) -> tuple[dict, dict, list[str]]:  # fmt: skip
    """Write score tables, job records and summaries; return (results, config, score paths).

    ``pretrained`` models declare `checkpoint: pretrain` and pretrain on the ``corpus`` datasets (their run
    records note ``ORIGIN``); ``published`` ones load a configured checkpoint (``PUBLISHED``); the
    ``degenerate`` (dataset, model) embedding is flagged as constant; each further seed shifts the
    non-control models' values by 0.02 x seed x (-1)^model index.
    """
    score_paths, jobs, runs = [], [], []
    for d_index, dataset in enumerate(("d1", "d2")):
        for m_index, (model, (bio, batch, annotation)) in enumerate(VALUES.items()):
            if (dataset, model) in {(u["dataset"], u["model"]) for u in unscheduled or []}:
                continue  # not planned: no job ran
            for task, metrics, seed in ((t, m, s) for t, m in METRICS.items() for s in seeds):
                shift = 0.05 * d_index + (0.02 * seed * (-1) ** m_index if model not in ROLES else 0.0)
                rows = []
                for metric in metrics:
                    value = {"kmeans_nmi": bio, "ilisi": batch, "knn_accuracy": annotation,
                             "knn_lcad": 3 * (1 - annotation)}[metric] - shift  # fmt: skip
                    broken = failed == (dataset, model)
                    flag = "constant: every cell has the same vector" if degenerate == (dataset, model) else ""
                    rows.append({"dataset": dataset, "task": task, "model": model, "seed": seed, "metric": metric,
                                 "value": None if broken else value, "status": "failed" if broken else "ok",
                                 "message": f"RuntimeError: {EVIL}" if broken else "", "seconds": 0.1,
                                 "degenerate": flag})  # fmt: skip
                path = tmp_path / f"{dataset}-{task}-{model}-{seed}.tsv"
                pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
                score_paths.append(str(path))
            bench = tmp_path / f"{dataset}-{model}.bench.tsv"
            bench.write_text("s\tmax_rss\tcpu_time\n1.5\t300.1\t0.7\n")
            jobs.append({"stage": "embed", "dataset": dataset, "model": model, "seed": 0, "path": str(bench)})
            info = tmp_path / f"{dataset}-{model}.run.json"
            origin = ORIGIN if model in pretrained else PUBLISHED if model in published else None
            notes = json.dumps({"origin": origin} if origin else {})
            info.write_text(json.dumps({"device": "cpu", "wall_time_s": 1.0, "cells_per_s": 10.0, "peak_rss_mb": 100.0,
                                        "peak_gpu_mb": 0.0, "status": "ok", "n_dims": 5, "notes": notes}))  # fmt: skip
            runs.append({"dataset": dataset, "model": model, "seed": 0, "path": str(info)})
    summaries = {}
    for dataset in ("d1", "d2"):
        path = tmp_path / f"{dataset}.json"
        path.write_text(json.dumps({"id": dataset, "source": "builtin:x", "sha256": "a" * 64, "n_cells": 10,
                                    "n_genes": 5, "n_batches": 2, "n_cell_types": 3, "x_kind": "counts",
                                    "description": f"dataset {dataset} {EVIL}"}))  # fmt: skip
        summaries[dataset] = str(path)
    config = with_defaults({"run": "t", "seeds": list(seeds), "datasets": ["d1", "d2"], "models": list(VALUES),
                            "tasks": {t: {"metrics": m} for t, m in METRICS.items()},
                            "pretrain": {"corpus": list(corpus)}, "scoring": scoring or {},
                            "checkpoints": {m: {"format": "scgpt", "path": "/models/whole_human"}
                                            for m in published}})  # fmt: skip
    specs = {m: spec(m, m in pretrained or m in published) for m in VALUES}
    results, _ = aggregate(score_paths, jobs, runs, summaries, config, specs, unscheduled=unscheduled)
    return results, config, score_paths
