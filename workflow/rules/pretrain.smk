rule pretrain:
    """Pretrain an in-repo scFM on the run's corpus (resumable), into results/checkpoints/<model>/."""
    input:
        corpus=[f"results/data/{d}/dataset.h5ad" for d in CONFIG["pretrain"]["corpus"]],
    output:
        manifest="results/checkpoints/{model}/manifest.json",
    params:
        **model_step_params(),
        seed=lambda wildcards: derive_seed(CONFIG["seeds"][0], "pretrain", wildcards.model),
        progress=lambda wildcards: f"results/checkpoints/.progress/{wildcards.model}",
    resources:
        **model_step_resources(mem_mb=8000, runtime=120),
    threads: model_threads
    priority: 10  # the longest steps, which the scFMs' embeddings wait for: they start as soon as the corpus is ready
    log:
        "results/logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/pretrain.py"
