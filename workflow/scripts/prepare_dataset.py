"""Snakemake glue for rule prepare_dataset (see benchmark.data.prepare), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    import json

    from benchmark.data.prepare import prepare_dataset, summarize
    from benchmark.data.sources import resolve_cache_dir, resolve_data_dir
    from benchmark.io import write_h5ad, write_text

    adata = prepare_dataset(
        sm.wildcards.dataset,
        sm.params.catalog_entry.value,
        resolve_data_dir(sm.config.get("data_dir")),
        resolve_cache_dir(sm.config.get("cache_dir")),
        sm.params.qc,
        seed=sm.params.seed,
    )
    write_h5ad(adata, sm.output.dataset)
    write_text(json.dumps(summarize(adata), indent=2, sort_keys=True) + "\n", sm.output.summary)


supervise(snakemake, main)  # noqa: F821 - snakemake is injected by Snakemake
