rule pretrain:
    input:
        corpus=[f"results/data/{d}/dataset.h5ad" for d in CONFIG["pretrain"]["corpus"]],
    output:
        manifest="results/checkpoints/{model}/manifest.json",
    params:
        spec=lambda wildcards: SPECS[wildcards.model],
        code=lambda wildcards: code_of_model(wildcards.model),
        model_params=lambda wildcards: SPECS[wildcards.model].params_with(
            CONFIG["model_params"].get(wildcards.model)
        ),
        seed=lambda wildcards: derive_seed(CONFIG["seeds"][0], "pretrain", wildcards.model),
        progress=lambda wildcards: f"results/checkpoints/.progress/{wildcards.model}",
    resources:
        attempt=attempt_number,
        gpu=model_resource("gpu", 0),
        mem_mb=model_resource("mem_mb", 8000, grow=True),
        runtime=model_resource("runtime", 120, grow=True),
    threads: model_threads
    log:
        "results/logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/pretrain.py"
