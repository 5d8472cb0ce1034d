rule finetune:
    """Fine-tune an scFM for cell-type annotation on the annotation task's splits; the test cells' predictions."""
    wildcard_constraints:
        model=CLASS_MODELS,
    input:
        unpack(embed_inputs),
    output:
        predictions="results/finetune/{dataset}/{model}/seed{seed}.tsv.gz",
        run_info="results/finetune/{dataset}/{model}/seed{seed}.json",
    params:
        **model_step_params(),
        annotation=task_settings("annotation", CONFIG["tasks"].get("annotation")),  # its splits, also when it is off
        settings=CONFIG["tasks"].get("finetune"),
        seed=model_seed,
        split_seed=annotation_seed,
        published=published_checkpoint,
    resources:
        **model_step_resources(mem_mb=4000, runtime=60),
    threads: model_threads
    log:
        "results/logs/finetune/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/finetune/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/finetune.py"
