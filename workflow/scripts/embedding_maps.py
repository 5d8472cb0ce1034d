"""Snakemake glue for rule embedding_maps (see benchmark.report.maps)."""

from benchmark.data.contract import read_dataset
from benchmark.io import write_json
from benchmark.logs import setup_logging
from benchmark.report.maps import embedding_maps

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
dataset = read_dataset(sm.input.dataset, x=False)
maps = embedding_maps(dataset, dict(zip(sm.params.models, sm.input.embeddings, strict=True)), sm.params.seed)
write_json(maps, sm.output.maps)
