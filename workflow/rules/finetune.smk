rule finetune:
    wildcard_constraints:
        model=CLASS_MODELS,
    input:
        unpack(embed_inputs),
    output:
        predictions="results/finetune/{dataset}/{model}/seed{seed}.tsv.gz",
        run_info="results/finetune/{dataset}/{model}/seed{seed}.json",
    params:
        spec=lambda wildcards: SPECS[wildcards.model],
        code=lambda wildcards: code_of_model(wildcards.model),
        model_params=lambda wildcards: SPECS[wildcards.model].params_with(
            CONFIG["model_params"].get(wildcards.model)
        ),
        annotation=lambda wildcards: CONFIG["tasks"].get("annotation") or {},
        settings=lambda wildcards: CONFIG["tasks"].get("finetune") or {},
        seed=model_seed,
        split_seed=annotation_seed,
        published=published_checkpoint,
    resources:
        attempt=attempt_number,
        gpu=model_resource("gpu", 0),
        mem_mb=model_resource("mem_mb", 4000, grow=True),
        runtime=model_resource("runtime", 60, grow=True),
    threads: model_threads
    log:
        "results/logs/finetune/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/finetune/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/finetune.py"
