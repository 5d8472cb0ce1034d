"""Snakemake glue for rule embed (see benchmark.embedding.embed_dataset), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    import logging
    from pathlib import Path

    from benchmark.embedding import embed_dataset

    ontology = (sm.input.ontology_graph, sm.input.ontology_vectors) if hasattr(sm.input, "ontology_graph") else None
    status = embed_dataset(
        sm.input.dataset,
        sm.params.spec,
        sm.params.model_params,
        sm.params.seed,
        sm.output.embedding,
        ontology,
        sm.output.run_info,
        sm.params.published or (Path(sm.input.checkpoint).parent if hasattr(sm.input, "checkpoint") else None),
    )
    logging.getLogger("embed").info("%s on %s: %s", sm.wildcards.model, sm.wildcards.dataset, status)


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
