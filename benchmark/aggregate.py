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
    CELL,
    SCALED,
    Comparison,
    compare_models,
    rankable,
    rogi_vs_f1,
    scale_scores,
    summarize_over_seeds,
    task_scores,
)
from benchmark.supervisor import read_usage
from benchmark.tasks import METRICS, SCORE_COLUMNS

RESULTS_SCHEMA_VERSION = 1


def read_scores(paths: list[str]) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""]) for p in paths]
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)
    for column in ("message", "degenerate"):  # tables written before the degeneracy check have no column
        scores[column] = scores[column].fillna("").astype(str) if column in scores else ""
    return scores


def unscheduled_scores(unscheduled: list[dict], metrics: dict[str, dict], seeds: list) -> pd.DataFrame:
    """Not-applicable rows for the jobs the plan left out (benchmark/tasks/plan.py), with the reason."""
    rows = [
        {"dataset": job["dataset"], "task": task, "model": job["model"], "seed": seed, "metric": metric,
         "value": np.nan, "status": "not_applicable", "message": job["reason"], "seconds": 0.0, "degenerate": ""}
        for job in unscheduled
        for task in job["tasks"]
        for seed in seeds
        for metric, info in metrics.items()
        if info["task"] == task
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def read_benchmarks(jobs: list[dict]) -> pd.DataFrame:
    """One row per job (stage, dataset, model, seed, time, memory): what its supervisor measured (the end of
    its ``log``: a step forked by a warm server is not Snakemake's child), else its ``benchmark:`` file."""
    rows = []
    for job in jobs:
        usage = read_usage(job.get("log"))
        if usage is None:
            first = pd.read_csv(job["path"], sep="\t").iloc[0]
            usage = {"seconds": float(first["s"]), "max_rss_mb": _number(first.get("max_rss")),
                     "cpu_seconds": _number(first.get("cpu_time"))}  # fmt: skip
        rows.append({**{k: v for k, v in job.items() if k not in ("path", "log")}, **usage})
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


def all_fronts(scores: pd.DataFrame, tasks: pd.DataFrame, weights: dict[str, float], comparison: Comparison,
               controls: set[str], keep_degenerate: bool) -> pd.DataFrame:  # fmt: skip
    """ε-non-dominated fronts among the models (controls are references, in no front), on seed means of
    rankable scores: per (dataset, task) on the task's objectives (integration: bio and batch; other
    tasks: their scored metrics), per dataset on its task scores (tasks with a positive weight), and
    overall on the ranked models' task scores over the shared cells (the page shows these)."""
    usable = tasks[rankable(tasks, keep_degenerate) & ~tasks["model"].isin(controls)]
    keys = ["dataset", "task", "model", "seed"]
    counted = scores[scores["scored"] & scores["scaling"].isin(SCALED)].merge(usable[keys], on=keys)
    rows = []
    for (dataset, task), group in usable.groupby(["dataset", "task"], sort=True):
        if task == "integration":
            objectives = group.groupby("model")[[k for k in ("bio", "batch") if k in group]].mean()
        else:
            metrics = counted[(counted["dataset"] == dataset) & (counted["task"] == task)]
            objectives = metrics.groupby(["model", "metric"])["scaled"].mean().unstack()
        rows += _front_rows(fronts(objectives.dropna(axis=1, how="all")), scope="task", dataset=dataset, task=task)
    weighted = usable[usable["task"].map(lambda t: weights.get(t, 1.0) > 0)]
    for dataset, group in weighted.groupby("dataset", sort=True):
        rows += _front_rows(fronts(group.groupby(["model", "task"])["score"].mean().unstack()), "dataset", dataset)
    rows += _front_rows(fronts(comparison.objectives), scope="overall")
    return pd.DataFrame(rows, columns=["scope", "dataset", "task", "model", "front"])


def _front_rows(front: pd.Series, scope: str, dataset: str = "", task: str = "") -> list[dict]:
    return [
        {"scope": scope, "dataset": dataset, "task": task, "model": model, "front": value}
        for model, value in front.items()
    ]


def rank_intervals(comparison: Comparison) -> pd.DataFrame:
    """Bootstrap (over seeds) 95% rank intervals of the ranked models; with one seed there is none (NaN)."""
    by_seed = pd.DataFrame.from_dict(comparison.per_seed, orient="index")
    if by_seed.empty or by_seed.shape[1] < 2:
        return pd.DataFrame({"rank_low": np.nan, "rank_high": np.nan}, index=pd.Index(comparison.ranked))
    return bootstrap_rank_intervals(by_seed)


def ranking_table(comparison: Comparison, fronts_overall: pd.Series) -> pd.DataFrame:
    """One row per model: group (ranked, apart, control), score and rank on its cells, front, rank interval."""
    ranking = pd.DataFrame(comparison.rows)
    ranking["front"] = ranking["model"].map(fronts_overall)
    ranking = ranking.join(rank_intervals(comparison), on="model")
    group_order = ranking["group"].map({"ranked": 0, "apart": 1, "control": 2})
    ranking = ranking.assign(_group=group_order, _rank=ranking["rank"].fillna(np.inf))
    return ranking.sort_values(["_group", "_rank"], kind="stable").drop(columns=["_group", "_rank"])


def model_origins(config: dict, specs: dict[str, ModelSpec], runs: pd.DataFrame) -> dict[str, dict]:
    """How each scFM was obtained, from its embed run records (``notes.origin``, models/foundation/plugin.py)
    and the config: {source: in-repo|published, label: one line for every table, ...the facts}. Only facts
    that two runs of the same config share: the results' `models` block is compared between runs."""
    origins = {}
    for model in config["models"]:
        if specs[model].checkpoint is None:
            continue
        recorded = _recorded_origin(runs, model)
        twin_of = specs[model].twin_of
        if twin_of:  # a random-init twin: the scFM's architecture, never trained
            label = f"random-init twin of {specs[twin_of].name}: same architecture, seeded untrained weights"
            origins[model] = {"source": "random-init", "twin_of": twin_of, "label": label}
        elif model in config["checkpoints"]:
            settings = config["checkpoints"][model]
            name = recorded.get("name") or settings.get("name") or Path(str(settings.get("path", ""))).name
            name = name or settings.get("format", model)
            digest = recorded.get("sha256")
            label = f"published checkpoint {name}, " + (f"sha256 {digest[:12]}" if digest else "sha256 not recorded")
            origins[model] = {"source": "published", "name": name, "sha256": digest, "label": label}
        else:
            corpus = list(config["pretrain"]["corpus"])
            # What it learned from, not how long it took: wall time differs run to run (it is in `resources`).
            facts = [f"{recorded['corpus_cells']:,} cells" if recorded.get("corpus_cells") else "",
                     f"{recorded['steps']:,} steps" if recorded.get("steps") else ""]  # fmt: skip
            detail = ", ".join(f for f in facts if f)
            label = f"in-repo, pretrained here on {', '.join(corpus) or 'no corpus'}"
            label += f" ({detail})" if detail else ""
            origins[model] = {"source": "in-repo", "corpus": corpus, "label": label,
                              **{k: recorded.get(k) for k in ("corpus_cells", "steps")}}  # fmt: skip
    return origins


def _recorded_origin(runs: pd.DataFrame, model: str) -> dict:
    if runs.empty:
        return {}
    for row in runs[(runs["model"] == model) & (runs["status"] == "ok")].itertuples():
        notes = json.loads(row.notes) if isinstance(row.notes, str) and row.notes else {}
        if notes.get("origin"):
            return notes["origin"]
    return {}


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
    unscheduled: list[dict] | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Build the results document (validated against results.schema.yaml) and the long score table.

    ``checkpoints``: model -> folder of each checkpoint this run pretrained (their pretraining checks).
    ``unscheduled`` lists the (dataset, model) pairs the plan left out (their reason and tasks): they
    become not-applicable rows, as if their jobs had run and said so.
    """
    datasets = {d: json.loads(Path(p).read_text()) for d, p in dataset_summaries.items()}
    pretrained_here = [
        m for m in config["models"] if specs[m].checkpoint == "pretrain" and m not in config["checkpoints"]
    ]
    corpus = {m: list(config["pretrain"]["corpus"]) for m in pretrained_here}
    for dataset, info in datasets.items():  # a dataset a model pretrained on flatters it: say so
        info["in_pretraining_corpus_of"] = sorted(m for m, names in corpus.items() if dataset in names)
    metrics = metric_info(config)
    roles = {m: specs[m].control_roles for m in config["models"]}
    controls = {m for m in config["models"] if specs[m].kind == "control"}
    keep_degenerate = bool(config["scoring"]["keep_degenerate"])
    raw = read_scores(score_paths)
    if unscheduled:
        raw = pd.concat([raw, unscheduled_scores(unscheduled, metrics, config["seeds"])], ignore_index=True)
    reference = pd.Series(True, index=raw.index) if keep_degenerate else raw["degenerate"] == ""
    scores = scale_scores(raw, metrics, roles, reference)
    tasks = task_scores(scores, config["scoring"]["bio_weight"])
    weights = effective_task_weights(tasks, config)
    comparison = compare_models(tasks, weights, config["models"], controls, config["seeds"], keep_degenerate)
    front_table = all_fronts(scores, tasks, weights, comparison, controls, keep_degenerate)
    overall_front = front_table[front_table["scope"] == "overall"].set_index("model")["front"]
    ranking = ranking_table(comparison, overall_front)
    failures = (
        scores[scores["status"] != "ok"]
        .groupby(["dataset", "task", "model", "seed", "status", "message"], sort=True)["metric"]
        .agg(lambda m: ", ".join(sorted(m)))
        .reset_index()
        .rename(columns={"metric": "metrics"})
    )
    runs = read_run_infos(run_infos)
    origins = model_origins(config, specs, runs)
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
                "origin": origins.get(m),
            }
            for m in config["models"]
        },
        "metrics": metrics,
        "task_weights": weights,
        "comparison": {
            "shared_cells": [c.replace(CELL, "/") for c in comparison.shared],
            "ranked": comparison.ranked,
            "keep_degenerate": keep_degenerate,
        },
        "scores": _records(scores.drop(columns=["seconds"])),
        "task_scores": _records(summarize_over_seeds(tasks)),
        "ranking": _records(ranking),
        "failures": _records(failures),
        "degenerate": degenerate_embeddings(scores),
        "rogi_vs_f1": rogi_vs_f1(scores, controls),
        "finetune_comparison": finetune_comparison(scores),
        "fronts": _records(front_table),
        "runs": _records(runs),
        "resources": _records(read_benchmarks(benchmark_jobs)),
        "metric_seconds": _records(scores[["dataset", "task", "model", "seed", "metric", "seconds"]]),
        "pretraining": pretraining_summary(tasks, config["models"], specs, checkpoints),
    }
    validate(results, "results", "results.json")
    return results, scores


def degenerate_embeddings(scores: pd.DataFrame) -> list[dict]:
    """One row per degenerate embedding (dataset, model, seed) with its reason (benchmark/tasks/degenerate.py)."""
    flagged = scores[scores["degenerate"] != ""].drop_duplicates(["dataset", "model", "seed"])
    return _records(flagged[["dataset", "model", "seed", "degenerate"]].rename(columns={"degenerate": "reason"}))


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
