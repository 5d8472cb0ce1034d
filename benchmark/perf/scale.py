"""Atlas scale: wall time, CPU time and peak memory of every stage, and our metrics against scib-metrics.

    python -m benchmark.perf.scale [--sizes 50k 200k 1m] [--out /tmp/scfm-scale] [--compare-at 50k] [--threads N]

For each simulated atlas of config/scale.yaml (``sim_50k``, ``sim_200k``, ``sim_1m``: 2,000 genes,
built by the simulation source) it runs prepare, embed (hvg_pca, harmony) and evaluate (the
integration task: scib-metrics' default set + scGraph-OntoRWR + ROGI) each in a fresh process, through
the same functions the workflow's scripts call, and prints wall time, CPU time (the stage's process
and its workers; on a busy machine the steadier number), peak RSS (the process's high-water mark from
the kernel) and the sampled peak of the process plus its concurrent worker processes (kBET's), then
the exponent k of time ∝ cells^k per stage fitted over the sizes run. At ``--compare-at`` it then
times, each in a fresh process on the same harmony embedding: our evaluate, scib-metrics' ``Benchmarker``
as shipped (pynndescent neighbours), ``Benchmarker`` with exact neighbours and the same kBET choices as
ours (``benchmark.perf.reference``), and scib-metrics' metric functions one by one in the
Benchmarker's order (where its time goes); it prints the ratio of times, every value side by side and
the seconds per metric. ``--threads`` caps every stage at N CPUs (``OMP_NUM_THREADS``, which the
metrics follow as in a Snakemake job with ``threads: N``); default: all. JAX starts with an empty
compilation cache in every process (cold, as the first job of a run). Results also go to
``<out>/scale.tsv``, ``<out>/exponents.tsv``, ``<out>/metric_speed.tsv`` and ``<out>/metric_seconds.tsv``.
"""

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from metrics.scib import BENCHMARKER_ROW

REPO = Path(__file__).resolve().parents[2]
SIZES = {"50k": "sim_50k", "200k": "sim_200k", "1m": "sim_1m"}
MODELS = ("hvg_pca", "harmony")
SCALE_CONFIG = REPO / "config" / "scale.yaml"


def peak_rss_gb() -> float:
    """This process's peak resident memory, its finished children included (ru_maxrss is in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 2**20


class TreeMemory(threading.Thread):
    """Samples the resident memory of this process plus all its children (e.g. kBET's worker
    processes, which run at the same time) every ``interval`` seconds; ``peak_gb`` is the largest sum."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak_gb = interval, 0.0

    def run(self) -> None:
        me = psutil.Process()
        while True:
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak_gb = max(self.peak_gb, total / 2**30)
            time.sleep(self.interval)


def _scale_config() -> tuple[dict, dict]:
    from benchmark.config import load_config

    return load_config(SCALE_CONFIG)


# --- stages: each runs in its own process (``--stage``) and prints one JSON line -----------------------


def stage_prepare(out: Path, dataset: str) -> dict:
    from benchmark.data.prepare import prepare_dataset
    from benchmark.data.sources import resolve_cache_dir
    from benchmark.io import write_h5ad

    config, catalog = _scale_config()
    adata = prepare_dataset(dataset, catalog[dataset], None, resolve_cache_dir(None), config["qc"], seed=0)
    write_h5ad(adata, out / dataset / "dataset.h5ad")
    return {"n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars)}


def stage_embed(out: Path, dataset: str, model: str) -> dict:
    from benchmark.embedding import embed_dataset
    from benchmark.registry import discover

    spec = discover(REPO / "models")[model]
    folder = out / dataset / model
    status = embed_dataset(
        out / dataset / "dataset.h5ad", spec, spec.params_with(None), 0, folder / "embedding.h5ad", None,
        folder / "run.json", None,
    )  # fmt: skip
    return {"status": status}


def stage_evaluate(out: Path, dataset: str, model: str) -> dict:
    from benchmark.tasks.evaluate import evaluate

    config, _ = _scale_config()
    started = time.perf_counter()
    scores, details = evaluate(
        out / dataset / "dataset.h5ad", out / dataset / model / "embedding.h5ad", "integration",
        config["tasks"]["integration"], model, 0, 0, ontology_paths=_ontology(out),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    failed = scores[scores["status"] == "failed"]
    if len(failed):
        raise RuntimeError(f"metrics failed: {failed[['metric', 'message']].to_dict('records')}")
    return {
        "metric_seconds": seconds,
        "values": dict(zip(scores["metric"], scores["value"], strict=True)),
        "seconds": dict(zip(scores["metric"], scores["seconds"], strict=True)),
    }


def _benchmarker_input(out: Path, dataset: str, model: str):
    import anndata as ad

    prepared = ad.read_h5ad(out / dataset / "dataset.h5ad", backed="r")
    adata = ad.AnnData(obs=prepared.obs[["batch", "cell_type"]].copy())
    adata.obsm["X_pre"] = prepared.obsm["X_pca_unintegrated"][:]
    adata.obsm["X_emb"] = ad.read_h5ad(out / dataset / model / "embedding.h5ad").obsm["X_emb"]
    return adata


def stage_benchmarker(out: Path, dataset: str, model: str, neighbours: str) -> dict:
    """scib-metrics' Benchmarker on the same embedding: as shipped, or with our exact neighbours and kBET choices."""
    from contextlib import nullcontext

    from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

    from benchmark.perf.reference import same_definitions
    from metrics.base import available_cores
    from metrics.scib import exact_neighbors

    adata = _benchmarker_input(out, dataset, model)
    started = time.perf_counter()
    bench = Benchmarker(
        adata,
        batch_key="batch",
        label_key="cell_type",
        embedding_obsm_keys=["X_emb"],
        pre_integrated_embedding_obsm_key="X_pre",
        bio_conservation_metrics=BioConservation(),
        batch_correction_metrics=BatchCorrection(),
        progress_bar=False,
        n_jobs=available_cores(),
    )
    exact = neighbours == "exact"
    bench.prepare(neighbor_computer=exact_neighbors if exact else None)
    with same_definitions() if exact else nullcontext():
        bench.benchmark()
    seconds = time.perf_counter() - started
    results = bench.get_results(min_max_scale=False, clean_names=False).loc["X_emb"]
    return {"metric_seconds": seconds, "values": {ours: float(results[row]) for ours, row in BENCHMARKER_ROW.items()}}


def stage_scib_functions(out: Path, dataset: str, model: str) -> dict:
    """scib-metrics' metric functions one by one, as the Benchmarker as shipped calls them (pynndescent
    neighbours, then bio and batch metrics in its order), each timed: where the Benchmarker's time goes."""
    import scib_metrics
    from scib_metrics.nearest_neighbors import pynndescent

    from metrics.base import available_cores

    adata = _benchmarker_input(out, dataset, model)
    X, X_pre = adata.obsm["X_emb"].copy(), adata.obsm["X_pre"]
    labels, batches = adata.obs["cell_type"].to_numpy(), adata.obs["batch"].to_numpy()
    seconds, values = {}, {}

    def timed(name: str, fn):
        started = time.perf_counter()
        result = fn()
        seconds[name] = time.perf_counter() - started
        return result

    graph = timed("neighbours", lambda: pynndescent(X, n_neighbors=90, random_state=0, n_jobs=available_cores()))
    knn = {n: graph.subset_neighbors(n) for n in (15, 50, 90)}
    values["isolated_labels"] = timed("isolated_labels", lambda: scib_metrics.isolated_labels(X, labels, batches))
    kmeans = timed("kmeans_nmi", lambda: scib_metrics.nmi_ari_cluster_labels_kmeans(X, labels))
    values["kmeans_nmi"], values["kmeans_ari"] = kmeans["nmi"], kmeans["ari"]
    values["silhouette_label"] = timed("silhouette_label", lambda: scib_metrics.silhouette_label(X, labels))
    values["clisi"] = timed("clisi", lambda: scib_metrics.clisi_knn(knn[90], labels))
    values["bras"] = timed("bras", lambda: scib_metrics.bras(X, labels, batches))
    values["ilisi"] = timed("ilisi", lambda: scib_metrics.ilisi_knn(knn[90], batches))
    values["kbet"] = timed("kbet", lambda: scib_metrics.kbet_per_label(knn[50], batches, labels))
    values["graph_connectivity"] = timed("graph_connectivity", lambda: scib_metrics.graph_connectivity(knn[15], labels))
    pcr = timed("pcr_comparison", lambda: scib_metrics.pcr_comparison(X_pre, X, batches, categorical=True))
    values["pcr_comparison"] = pcr
    return {
        "metric_seconds": sum(seconds.values()),
        "seconds": seconds,
        "values": {k: float(v) for k, v in values.items()},
    }


def _ontology(out: Path) -> tuple[str, str]:
    graph, vectors = out / "ontology" / "cell_ontology.json.gz", out / "ontology" / "dca_vectors.npz"
    if not vectors.exists():
        from benchmark.ontology import build_ontology

        build_ontology(_scale_config()[0]["ontology"], graph, vectors)
    return str(graph), str(vectors)


STAGES = {
    "prepare": stage_prepare,
    "embed": stage_embed,
    "evaluate": stage_evaluate,
    "benchmarker": stage_benchmarker,
    "scib_functions": stage_scib_functions,
}


def run_stage(out: Path, stage: str, *args: str, threads: int | None = None) -> dict:
    """Run one stage in a fresh process (cold JAX cache); return its JSON plus wall time, CPU time
    (the process and the workers it waited for) and peak RSS."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(prefix="jax-cold-")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.perf.scale", "--out", str(out), "--stage", stage, *args],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"stage": stage, "args": " ".join(args), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), **result}


def compare(out: Path, dataset: str, model: str, threads: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our evaluate vs Benchmarker (shipped; exact neighbours) and scib-metrics' functions one by one,
    each timed in a fresh process; returns the run table and the seconds per metric."""
    stages = {
        "ours": ("evaluate",),
        "benchmarker_pynndescent": ("benchmarker", "pynndescent"),
        "benchmarker_exact": ("benchmarker", "exact"),
        "scib_functions": ("scib_functions",),
    }
    runs = {}
    for name, (stage, *extra) in stages.items():
        runs[name] = run_stage(out, stage, dataset, model, *extra, threads=threads)
        print(name, json.dumps(runs[name]), flush=True)  # each as it finishes: a long comparison keeps its parts
    rows = []
    for name, run in runs.items():
        shared = {m: v for m, v in run["values"].items() if m in BENCHMARKER_ROW}
        diff = {m: abs(v - runs["ours"]["values"][m]) for m, v in shared.items()}
        rows.append(
            {
                "run": name, "metric_s": round(run["metric_seconds"], 1), "process_s": run["wall_s"],
                "cpu_s": run["cpu_s"], "peak_rss_gb": round(run["peak_rss_gb"], 2),
                "ratio_ours_to_this": round(runs["ours"]["metric_seconds"] / run["metric_seconds"], 3),
                "max_abs_diff_vs_ours": max(diff.values()), "largest_diff": max(diff, key=diff.get),
            }
        )  # fmt: skip
    values = pd.DataFrame({name: run["values"] for name, run in runs.items()})
    values["diff_vs_benchmarker_exact"] = (values["ours"] - values["benchmarker_exact"]).abs()
    print(values.to_string(float_format=lambda v: f"{v:.8f}"))
    seconds = pd.DataFrame({"ours": runs["ours"]["seconds"], "scib_functions": runs["scib_functions"]["seconds"]})
    return pd.DataFrame(rows), seconds.round(2)


def exponents(table: pd.DataFrame) -> pd.DataFrame:
    """Per stage and model, k of time ∝ cells^k (least squares on log-log over the sizes run)."""
    cells = {"50k": 5e4, "200k": 2e5, "1m": 1e6}
    rows = []
    for (stage, model), runs in table.groupby(["stage", "model"], sort=False):
        if len(runs) < 2:
            continue
        x = np.log([cells[size] for size in runs["size"]])
        row = {"stage": stage, "model": model, "sizes": " ".join(runs["size"])}
        for column in ("wall_s", "cpu_s", "peak_with_workers_gb"):
            row[f"k_{column}"] = round(float(np.polyfit(x, np.log(runs[column].clip(lower=1e-3)), 1)[0]), 2)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "scfm-scale")
    parser.add_argument("--compare-at", choices=[*SIZES, "none"], default="50k")
    parser.add_argument(
        "--stages",
        nargs="*",
        choices=["prepare", "embed", "evaluate"],
        default=["prepare", "embed", "evaluate"],
        help="stages to run (outputs of others are reused)",
    )
    parser.add_argument("--skip-evaluate", nargs="*", choices=list(SIZES), default=[],
                        help="sizes whose evaluate stage is skipped")  # fmt: skip
    parser.add_argument("--threads", type=int, help="CPUs each stage may use (OMP_NUM_THREADS); default: all")
    parser.add_argument("--stage", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    if options.stage:  # child process
        tree = TreeMemory()
        tree.start()
        result = STAGES[options.stage](options.out, *options.args)
        print(json.dumps({**result, "peak_rss_gb": peak_rss_gb(), "peak_tree_gb": tree.peak_gb}))
        return

    _ontology(options.out)
    rows = []
    for size in options.sizes:
        dataset = SIZES[size]
        steps = [("prepare", dataset), *[("embed", dataset, m) for m in MODELS]]
        if size not in options.skip_evaluate:
            steps += [("evaluate", dataset, m) for m in MODELS]
        for stage, *args in (step for step in steps if step[0] in options.stages):
            result = run_stage(options.out, stage, *args, threads=options.threads)
            row = {"size": size, "stage": stage, "model": args[1] if len(args) > 1 else "",
                   "wall_s": result["wall_s"], "cpu_s": result["cpu_s"], "peak_rss_gb": round(result["peak_rss_gb"], 2),
                   "peak_with_workers_gb": round(result["peak_tree_gb"], 2)}  # fmt: skip
            print(row, flush=True)
            rows.append(row)
    if rows:
        table = pd.DataFrame(rows)
        table.to_csv(options.out / "scale.tsv", sep="\t", index=False)
        print(table.to_string(index=False))
        fitted = exponents(table)
        if len(fitted):
            fitted.to_csv(options.out / "exponents.tsv", sep="\t", index=False)
            print(fitted.to_string(index=False))
    if options.compare_at != "none":
        comparison, seconds = compare(options.out, SIZES[options.compare_at], "harmony", options.threads)
        comparison.to_csv(options.out / "metric_speed.tsv", sep="\t", index=False)
        seconds.to_csv(options.out / "metric_seconds.tsv", sep="\t")
        print(seconds.to_string())
        print(comparison.to_string(index=False))


if __name__ == "__main__":
    main()
