"""Snakemake glue for rule embed_precomputed (see benchmark.precomputed), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    from benchmark.data.sources import resolve_data_dir
    from benchmark.precomputed import import_embedding

    import_embedding(
        sm.input.dataset, sm.params.source, resolve_data_dir(sm.config.get("data_dir")), sm.output.embedding,
        sm.output.run_info,
    )  # fmt: skip


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
