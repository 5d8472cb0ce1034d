rule aggregate:
    """Collect every score, run record and benchmark file of the run; scale, rank and write results.json."""
    input:
        scores=score_paths(),
        benchmarks=[job["path"] for job in benchmark_jobs()],
        summaries=list(dataset_summaries().values()),
        ontology_graph=ONTOLOGY_FILES["ontology_graph"],
        run_infos=[job["path"] for job in run_infos()],
        checkpoints=[f"results/checkpoints/{m}/manifest.json" for m in pretrainings()],
    output:
        results=report("reports/{run}/results.json", caption="../report/results.rst", category="Results"),
        scores=report("reports/{run}/scores.tsv", caption="../report/scores.rst", category="Results"),
    params:
        jobs=benchmark_jobs(),
        run_infos=run_infos(),
        unscheduled=unscheduled_jobs(),
        summaries=dataset_summaries(),
        config=CONFIG,
        specs=SPECS,
    resources:
        mem_mb=grows(4000),
        runtime=grows(30),
    log:
        "results/logs/aggregate/{run}.log",
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/aggregate.py"


rule report:
    """Render the self-contained leaderboard page from results.json and the embedding maps."""
    input:
        results="reports/{run}/results.json",
        maps=[f"results/maps/{d}.json" for d in CONFIG["datasets"]],
    output:
        html=report("reports/{run}/leaderboard.html", caption="../report/leaderboard.rst", category="Leaderboard"),
    resources:
        mem_mb=grows(2000),
        runtime=grows(15),
    log:
        "results/logs/report/{run}.log",
    conda:
        "../envs/benchmark.yaml"
    params:
        datasets=CONFIG["datasets"],
    script:
        "../scripts/report.py"


rule embedding_maps:
    """UMAP maps of every model's (first-seed) embedding of one dataset, coloured by cell type and batch."""
    input:
        dataset="results/data/{dataset}/dataset.h5ad",
        embeddings=lambda wildcards: [
            embedding_file(wildcards.dataset, m, CONFIG["seeds"][0])
            for m in CONFIG["models"]
            if embeds(wildcards.dataset, m)
        ],
    output:
        maps="results/maps/{dataset}.json",
    params:
        models=lambda wildcards: [m for m in CONFIG["models"] if embeds(wildcards.dataset, m)],
        seed=lambda wildcards: derive_seed(CONFIG["seeds"][0], wildcards.dataset, "maps"),
    resources:
        attempt=attempt_number,
        mem_mb=grows(4000),
        runtime=grows(30),
    log:
        "results/logs/embedding_maps/{dataset}.log",
    benchmark:
        "results/benchmarks/embedding_maps/{dataset}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/embedding_maps.py"
