"""Snakemake glue for rule prepare_dataset (see benchmark.data.prepare)."""

import json

from benchmark.data.prepare import prepare_dataset, summarize
from benchmark.data.sources import resolve_cache_dir, resolve_data_dir
from benchmark.io import write_h5ad, write_text
from benchmark.logs import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
adata = prepare_dataset(
    sm.wildcards.dataset,
    sm.params.entry,
    resolve_data_dir(sm.params.data_dir),
    resolve_cache_dir(sm.params.cache_dir),
    sm.params.qc,
    seed=sm.params.seed,
)
write_h5ad(adata, sm.output.dataset)
write_text(json.dumps(summarize(adata), indent=2, sort_keys=True) + "\n", sm.output.summary)
