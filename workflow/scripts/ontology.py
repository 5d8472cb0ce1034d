"""Snakemake glue for rule ontology (see benchmark.ontology.build_ontology), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    import logging

    from benchmark.data.sources import resolve_cache_dir
    from benchmark.ontology import build_ontology

    cache_dir = resolve_cache_dir(sm.params.cache_dir)
    ontology = build_ontology(sm.params.settings, sm.output.graph, sm.output.vectors, cache_dir)
    logging.getLogger("ontology").info("%s %s: %d terms", ontology.source, ontology.version, len(ontology.names))


supervise(snakemake, main)  # noqa: F821 - snakemake is injected by Snakemake
