rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        scores="results/scores/{dataset}/{task}/{model}/seed{seed}.tsv",
        details="results/details/{dataset}/{task}/{model}/seed{seed}.tsv.gz",
    params:
        task_config=lambda wildcards: CONFIG["tasks"][wildcards.task],
        seed=task_seed,
        code=EVALUATE_CODE,
    threads: 1  # what the metrics use (they follow OMP_NUM_THREADS); atlases: --set-threads evaluate=N
    resources:
        attempt=attempt_number,
        mem_mb=grows(8000),
        runtime=grows(120),
    log:
        "results/logs/evaluate/{dataset}/{task}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{task}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/evaluate.py"
