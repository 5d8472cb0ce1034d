rule embed:
    wildcard_constraints:
        model=CLASS_MODELS,
    input:
        unpack(embed_inputs),
    output:
        embedding="results/embed/{dataset}/{model}/seed{seed}.h5ad",
        run_info="results/embed/{dataset}/{model}/seed{seed}.json",
    params:
        spec=lambda wildcards: SPECS[wildcards.model],
        code=lambda wildcards: code_of_model(wildcards.model),
        model_params=lambda wildcards: SPECS[wildcards.model].params_with(
            CONFIG["model_params"].get(wildcards.model)
        ),
        seed=model_seed,
        published=published_checkpoint,
    resources:
        attempt=attempt_number,
        gpu=model_resource("gpu", 0),
        mem_mb=model_resource("mem_mb", 4000, grow=True),
        runtime=model_resource("runtime", 60, grow=True),
    threads: model_threads
    log:
        "results/logs/embed/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/embed.py"
