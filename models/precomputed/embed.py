"""Snakemake glue for rule embed_precomputed (see benchmark.precomputed)."""

from benchmark.data.sources import resolve_data_dir
from benchmark.logs import setup_logging
from benchmark.precomputed import import_embedding

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
import_embedding(
    sm.input.dataset, sm.params.source, resolve_data_dir(sm.params.data_dir), sm.output.embedding, sm.output.run_info
)
