"""The aggregate step: all score tables and job benchmarks -> results.json and scores.tsv."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.config import validate
from benchmark.io import write_json, write_tsv
from benchmark.ontology import read_ontology
from benchmark.pretraining import pretraining_summary
from benchmark.provenance import provenance
from benchmark.ranking import bootstrap_rank_intervals, fronts
from benchmark.registry import ModelSpec
from benchmark.scoring import (
    overall_scores,
    rank_models,
    rogi_vs_f1,
    scale_scores,
    summarize_over_seeds,
    task_scores,
)
from benchmark.tasks import METRICS, SCORE_COLUMNS

RESULTS_SCHEMA_VERSION = 1


def read_scores(paths: list[str]) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""]) for p in paths]
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)
    scores["message"] = scores["message"].fillna("").astype(str)
    return scores


def read_benchmarks(jobs: list[dict]) -> pd.DataFrame:
    """Snakemake ``benchmark:`` files -> one row per job (stage, dataset, model, seed, time, memory)."""
    rows = []
    for job in jobs:
        table = pd.read_csv(job["path"], sep="\t")
        first = table.iloc[0]
        rows.append(
            {
                **{k: v for k, v in job.items() if k != "path"},
                "seconds": float(first["s"]),
                "max_rss_mb": _number(first.get("max_rss")),
                "cpu_seconds": _number(first.get("cpu_time")),
            }
        )
    return pd.DataFrame(rows)


def read_run_infos(jobs: list[dict]) -> pd.DataFrame:
    """The embed sidecars: device, wall time, peak CPU and GPU memory, status per (dataset, model, seed)."""
    keep = ("device", "wall_time_s", "cells_per_s", "peak_rss_mb", "peak_gpu_mb", "status", "n_dims", "notes")
    rows = []
    for job in jobs:
        info = json.loads(Path(job["path"]).read_text())
        rows.append({**{k: v for k, v in job.items() if k != "path"}, **{k: info.get(k) for k in keep}})
    return pd.DataFrame(rows)


def effective_task_weights(tasks: pd.DataFrame, config: dict) -> dict[str, float]:
    """The weight of each task in the overall score: the config's, else 1 for tasks every model takes
    part in and 0 for the others (fine-tuning and gene function exist for some models only: counting
    them would score models on different task sets). Raise a weight in the config or the page to count it."""
    models = set(config["models"])
    shared = {t for t, group in tasks.groupby("task") if set(group["model"]) >= models}
    defaults = {t: 1.0 if t in shared else 0.0 for t in config["tasks"]}
    return {**defaults, **{t: float(w) for t, w in config["scoring"]["task_weights"].items()}}


def all_fronts(scores: pd.DataFrame, tasks: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """ε-non-dominated fronts (seed means): per (dataset, task) on the task's objectives (integration:
    bio and batch; other tasks: their scored metrics), per dataset on task scores, overall on task
    scores averaged over datasets; the last two on the tasks with a positive weight."""
    rows = []
    ok = scores[(scores["status"] == "ok") & scores["scored"]]
    for (dataset, task), group in ok.groupby(["dataset", "task"], sort=True):
        column = "kind" if task == "integration" else "metric"
        objectives = group.groupby(["model", column])["scaled"].mean().unstack()
        if task == "integration":
            objectives = objectives[[c for c in ("bio", "batch") if c in objectives]]
        rows += _front_rows(fronts(objectives), scope="task", dataset=dataset, task=task)
    scored = tasks.dropna(subset=["score"])
    scored = scored[scored["task"].map(lambda t: weights.get(t, 1.0) > 0)]
    for dataset, group in scored.groupby("dataset", sort=True):
        rows += _front_rows(fronts(group.groupby(["model", "task"])["score"].mean().unstack()), "dataset", dataset)
    per_task = scored.groupby(["model", "task"])["score"].mean().unstack()
    rows += _front_rows(fronts(per_task), scope="overall")
    return pd.DataFrame(rows, columns=["scope", "dataset", "task", "model", "front"])


def _front_rows(front: pd.Series, scope: str, dataset: str = "", task: str = "") -> list[dict]:
    return [
        {"scope": scope, "dataset": dataset, "task": task, "model": model, "front": value}
        for model, value in front.items()
    ]


def rank_intervals(overall: pd.DataFrame) -> pd.DataFrame:
    """Bootstrap (over seeds) 95% rank intervals; with one seed the interval is empty (NaN)."""
    by_seed = overall.pivot(index="model", columns="seed", values="score")
    if by_seed.shape[1] < 2:
        return pd.DataFrame({"rank_low": np.nan, "rank_high": np.nan}, index=by_seed.index)
    return bootstrap_rank_intervals(by_seed.dropna())


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-safe records: NaN becomes None."""
    return json.loads(frame.to_json(orient="records", double_precision=15))


def metric_info(config: dict) -> dict[str, dict]:
    info = {}
    for task, task_config in config["tasks"].items():
        for metric in METRICS[task](task_config or {}):
            info[metric.name] = {**metric.metadata(), "task": task}
    return info


def aggregate(
    score_paths: list[str],
    benchmark_jobs: list[dict],
    run_infos: list[dict],
    dataset_summaries: dict[str, str],
    config: dict,
    specs: dict[str, ModelSpec],
    ontology_graph: str | None = None,
    checkpoints: dict[str, str] | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Build the results document (validated against results.schema.yaml) and the long score table.

    ``checkpoints``: model -> folder of each checkpoint this run pretrained (their pretraining checks)."""
    datasets = {d: json.loads(Path(p).read_text()) for d, p in dataset_summaries.items()}
    pretrained_here = [
        m for m in config["models"] if specs[m].checkpoint == "pretrain" and m not in config["checkpoints"]
    ]
    corpus = {m: list(config["pretrain"]["corpus"]) for m in pretrained_here}
    for dataset, info in datasets.items():  # a dataset a model pretrained on flatters it: say so
        info["in_pretraining_corpus_of"] = sorted(m for m, names in corpus.items() if dataset in names)
    metrics = metric_info(config)
    roles = {m: specs[m].control_roles for m in config["models"]}
    scores = scale_scores(read_scores(score_paths), metrics, roles)
    tasks = task_scores(scores, config["scoring"]["bio_weight"])
    weights = effective_task_weights(tasks, config)
    overall = overall_scores(tasks, weights)
    ranking = rank_models(overall, config["models"], len(config["datasets"]))
    front_table = all_fronts(scores, tasks, weights)
    overall_front = front_table[front_table["scope"] == "overall"].set_index("model")["front"]
    ranking["front"] = ranking["model"].map(overall_front)
    ranking = ranking.join(rank_intervals(overall), on="model")
    failures = (
        scores[scores["status"] != "ok"]
        .groupby(["dataset", "task", "model", "seed", "status", "message"], sort=True)["metric"]
        .agg(lambda m: ", ".join(sorted(m)))
        .reset_index()
        .rename(columns={"metric": "metrics"})
    )
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "run": config["run"],
        "provenance": {**provenance(config, datasets, _ontology_info(ontology_graph)), "pretraining_corpus": corpus},
        "config": json.loads(json.dumps(config, default=str)),
        "datasets": datasets,
        "models": {
            m: {
                "name": specs[m].name,
                "kind": specs[m].kind,
                "summary": specs[m].summary,
                "reference": specs[m].reference,
                "control_roles": specs[m].control_roles,
                "twin_of": specs[m].twin_of,
            }
            for m in config["models"]
        },
        "metrics": metrics,
        "task_weights": weights,
        "scores": _records(scores.drop(columns=["seconds"])),
        "task_scores": _records(summarize_over_seeds(tasks)),
        "ranking": _records(ranking),
        "failures": _records(failures),
        "rogi_vs_f1": rogi_vs_f1(scores),
        "finetune_comparison": finetune_comparison(scores),
        "fronts": _records(front_table),
        "runs": _records(read_run_infos(run_infos)),
        "resources": _records(read_benchmarks(benchmark_jobs)),
        "metric_seconds": _records(scores[["dataset", "task", "model", "seed", "metric", "seconds"]]),
        "pretraining": pretraining_summary(tasks, config["models"], specs, checkpoints),
    }
    validate(results, "results", "results.json")
    return results, scores


FINETUNE_PAIRS = ("accuracy", "macro_f1", "kappa", "lcad", "lcad_per_cell")


def finetune_comparison(scores: pd.DataFrame) -> list[dict]:
    """Per dataset and fine-tuned model: each annotation metric zero-shot (logistic-regression probe on
    the frozen embedding) beside fine-tuned, raw values averaged over seeds."""
    ok = scores[scores["status"] == "ok"]
    means = ok.groupby(["dataset", "model", "metric"])["value"].mean()
    rows = []
    for (dataset, model), _ in ok[ok["task"] == "finetune"].groupby(["dataset", "model"], sort=True):
        for name in FINETUNE_PAIRS:
            rows.append({"dataset": dataset, "model": model, "metric": name,
                         "zero_shot": _number(means.get((dataset, model, f"logreg_{name}"))),
                         "finetuned": _number(means.get((dataset, model, f"finetuned_{name}")))})  # fmt: skip
    return rows


def _ontology_info(path: str | None) -> dict:
    if path is None:
        return {}
    ontology = read_ontology(path)
    return {"source": ontology.source, "version": ontology.version, "terms": len(ontology.names)}


def write_results(results: dict, scores: pd.DataFrame, results_path: str, scores_path: str) -> None:
    write_json(results, results_path)
    write_tsv(scores, scores_path)
