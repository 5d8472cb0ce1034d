rule evaluate:
    """Score one model's outputs on one dataset for every task that applies, in one process (one start-up, one
    read of the data): a score table and a details table with a `task` column."""
    input:
        unpack(evaluate_inputs),
    output:
        scores="results/scores/{dataset}/{model}/seed{seed}.tsv",
        details="results/details/{dataset}/{model}/seed{seed}.tsv.gz",
    params:
        tasks=evaluated_tasks,  # {task: {config, seed}} of the tasks that apply (benchmark/tasks/plan.py)
        code=EVALUATE_CODE,
    threads: 1  # what the metrics use (they follow OMP_NUM_THREADS); atlases: --set-threads evaluate=N
    resources:
        attempt=attempt_number,
        mem_mb=grows(8000),
        runtime=evaluate_runtime,
    log:
        "results/logs/evaluate/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/evaluate.py"
