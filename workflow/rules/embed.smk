rule embed:
    """One model on one dataset: the cell embedding (and gene embeddings) with a run record. A deterministic
    model (model.yaml `stochastic: false`) is embedded at the first seed only; that embedding serves every seed."""
    wildcard_constraints:
        model=CLASS_MODELS,
    input:
        unpack(embed_inputs),
    output:
        embedding="results/embed/{dataset}/{model}/seed{seed}.h5ad",
        run_info="results/embed/{dataset}/{model}/seed{seed}.json",
    params:
        **model_step_params(),
        seed=model_seed,
        published=published_checkpoint,
    resources:
        **model_step_resources(mem_mb=4000, runtime=60),
    threads: model_threads
    log:
        "results/logs/embed/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/embed.py"
