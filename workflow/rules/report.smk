rule aggregate:
    input:
        scores=score_paths(),
        benchmarks=[job["path"] for job in benchmark_jobs()],
        summaries=list(dataset_summaries().values()),
        ontology_graph=ONTOLOGY_FILES["ontology_graph"],
    output:
        results="reports/{run}/results.json",
        scores="reports/{run}/scores.tsv",
    params:
        jobs=benchmark_jobs(),
        summaries=dataset_summaries(),
        config=CONFIG,
        specs=SPECS,
    log:
        "results/logs/aggregate/{run}.log",
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/aggregate.py"


rule report:
    input:
        results="reports/{run}/results.json",
    output:
        html="reports/{run}/leaderboard.html",
    log:
        "results/logs/report/{run}.log",
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/report.py"
