"""Snakemake glue for rule ontology (see benchmark.ontology.build_ontology)."""

import logging

from benchmark.data.sources import resolve_cache_dir
from benchmark.logs import setup_logging
from benchmark.ontology import build_ontology

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
cache_dir = resolve_cache_dir(sm.params.cache_dir)
ontology = build_ontology(sm.params.settings, sm.output.graph, sm.output.vectors, cache_dir)
logging.getLogger("ontology").info("%s %s: %d terms", ontology.source, ontology.version, len(ontology.names))
