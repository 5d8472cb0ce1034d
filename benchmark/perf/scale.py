"""Atlas scale: wall time and peak memory of every stage, and our metrics against scib-metrics' Benchmarker.

    python -m benchmark.perf.scale [--sizes 50k 200k 1m] [--out /tmp/scfm-scale] [--compare-at 50k]

For each simulated atlas of config/scale.yaml (``sim_50k``, ``sim_200k``, ``sim_1m``: 2,000 genes,
built by the simulation source) it runs prepare, embed (hvg_pca, harmony) and evaluate (the
integration task: scib-metrics' default set + scGraph-OntoRWR + ROGI) each in a fresh process, through
the same functions the workflow's scripts call, and prints wall time and peak RSS (the process's
high-water mark from the kernel) and the sampled peak of the process plus its concurrent worker
processes (kBET's). At ``--compare-at`` it then times, each in a fresh
process on the same harmony embedding: our evaluate, scib-metrics' ``Benchmarker`` as shipped
(pynndescent neighbours) and ``Benchmarker`` with exact neighbours (the same definitions as ours), and
prints the ratio of times and the largest difference between values. JAX starts with an empty
compilation cache in every process (cold, as the first job of a run). Results also go to
``<out>/scale.tsv`` and ``<out>/metric_speed.tsv``.
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


def stage_benchmarker(out: Path, dataset: str, model: str, neighbours: str) -> dict:
    """scib-metrics' Benchmarker on the same embedding: as shipped, or with our exact neighbours."""
    from contextlib import nullcontext

    import anndata as ad
    from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

    from metrics.scib import exact_neighbors, reproducible_kbet

    prepared = ad.read_h5ad(out / dataset / "dataset.h5ad", backed="r")
    adata = ad.AnnData(obs=prepared.obs[["batch", "cell_type"]].copy())
    adata.obsm["X_pre"] = prepared.obsm["X_pca_unintegrated"][:]
    adata.obsm["X_emb"] = ad.read_h5ad(out / dataset / model / "embedding.h5ad").obsm["X_emb"]
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
        n_jobs=os.cpu_count(),
    )
    exact = neighbours == "exact"
    bench.prepare(neighbor_computer=exact_neighbors if exact else None)
    with reproducible_kbet() if exact else nullcontext():
        bench.benchmark()
    seconds = time.perf_counter() - started
    results = bench.get_results(min_max_scale=False, clean_names=False).loc["X_emb"]
    return {"metric_seconds": seconds, "values": {ours: float(results[row]) for ours, row in BENCHMARKER_ROW.items()}}


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
}


def run_stage(out: Path, stage: str, *args: str) -> dict:
    """Run one stage in a fresh process (cold JAX cache); return its JSON plus wall time and peak RSS."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(prefix="jax-cold-")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.perf.scale", "--out", str(out), "--stage", stage, *args],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"stage": stage, "args": " ".join(args), "wall_s": round(wall, 1), **result}


def compare(out: Path, dataset: str, model: str) -> pd.DataFrame:
    """Our evaluate vs Benchmarker (shipped, exact neighbours), each timed in a fresh process."""
    runs = {
        "ours": run_stage(out, "evaluate", dataset, model),
        "benchmarker_pynndescent": run_stage(out, "benchmarker", dataset, model, "pynndescent"),
        "benchmarker_exact": run_stage(out, "benchmarker", dataset, model, "exact"),
    }
    rows = []
    for name, run in runs.items():
        shared = {m: v for m, v in run["values"].items() if m in BENCHMARKER_ROW}
        diff = {m: abs(v - runs["ours"]["values"][m]) for m, v in shared.items()}
        rows.append(
            {
                "run": name, "metric_s": round(run["metric_seconds"], 1), "process_s": run["wall_s"],
                "peak_rss_gb": round(run["peak_rss_gb"], 2),
                "ratio_ours_to_this": round(runs["ours"]["metric_seconds"] / run["metric_seconds"], 3),
                "max_abs_diff_vs_ours": max(diff.values()), "largest_diff": max(diff, key=diff.get),
            }
        )  # fmt: skip
    values = pd.DataFrame({name: run["values"] for name, run in runs.items()})
    print(values.to_string(float_format=lambda v: f"{v:.8f}"))
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
            result = run_stage(options.out, stage, *args)
            row = {"size": size, "stage": stage, "model": args[1] if len(args) > 1 else "",
                   "wall_s": result["wall_s"], "peak_rss_gb": round(result["peak_rss_gb"], 2),
                   "peak_with_workers_gb": round(result["peak_tree_gb"], 2)}  # fmt: skip
            print(row, flush=True)
            rows.append(row)
    if rows:
        table = pd.DataFrame(rows)
        table.to_csv(options.out / "scale.tsv", sep="\t", index=False)
        print(table.to_string(index=False))
    if options.compare_at != "none":
        comparison = compare(options.out, SIZES[options.compare_at], "harmony")
        comparison.to_csv(options.out / "metric_speed.tsv", sep="\t", index=False)
        print(comparison.to_string(index=False))


if __name__ == "__main__":
    main()
