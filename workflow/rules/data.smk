rule prepare_dataset:
    """Read one catalog entry (download once, check), apply the contract and QC, write the prepared dataset."""
    output:
        dataset="results/data/{dataset}/dataset.h5ad",
        summary="results/data/{dataset}/dataset.json",
    params:
        catalog_entry=catalog_entry,  # untracked: a new description re-runs nothing
        source=dataset_source,  # tracked: the data fields and the source file's content
        code=DATA_CODE,
        qc=CONFIG["qc"],
        seed=lambda wildcards: derive_seed(CONFIG["seeds"][0], wildcards.dataset),
    resources:
        mem_mb=grows(8000),
        runtime=grows(60),
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/prepare_dataset.py"


rule ontology:
    """Load the Cell Ontology as configured (checked for completeness), embed its terms (RWR + DCA)."""
    output:
        graph="results/ontology/cell_ontology.json.gz",
        vectors="results/ontology/dca_vectors.npz",
    params:
        settings=CONFIG["ontology"],
        cache_dir=CONFIG["cache_dir"],
        source_sha256=lambda wildcards: file_fingerprint(CONFIG["ontology"]["source"], os.getcwd()),  # a local file
    resources:
        mem_mb=grows(4000),
        runtime=grows(30),
    log:
        "results/logs/ontology.log",
    benchmark:
        "results/benchmarks/ontology.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../scripts/ontology.py"
