rule evaluate:
    input:
        dataset="results/data/{dataset}/dataset.h5ad",
        embedding="results/embed/{dataset}/{model}/seed{seed}.h5ad",
    output:
        scores="results/scores/{dataset}/{task}/{model}/seed{seed}.tsv",
    params:
        task_config=lambda wildcards: CONFIG["tasks"][wildcards.task] or {},
    threads: 1
    log:
        "results/logs/evaluate/{dataset}/{task}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{task}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/evaluate.py"
