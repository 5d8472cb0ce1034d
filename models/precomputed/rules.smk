# Plugin rule: writes the standard embedding output from a user's file instead of running a model.
# config: precomputed: {<dataset id>: {path: my_embedding.h5ad, obsm_key: X_mymethod}}


rule embed_precomputed:
    input:
        dataset="results/data/{dataset}/dataset.h5ad",
    output:
        embedding="results/embed/{dataset}/precomputed/seed{seed}.h5ad",
        run_info="results/embed/{dataset}/precomputed/seed{seed}.json",
    params:
        source=precomputed_source,  # the settings and the file's content hash
        code=code_of_model("precomputed"),
    resources:
        attempt=attempt_number,
        runtime=lambda wildcards, attempt: SPECS["precomputed"].resources["runtime"] * attempt,
    log:
        "results/logs/embed/{dataset}/precomputed/seed{seed}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/precomputed/seed{seed}.tsv"
    conda:
        "../../workflow/envs/benchmark.yaml"
    script:
        "embed.py"
