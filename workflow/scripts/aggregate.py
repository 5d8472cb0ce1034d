"""Snakemake glue for rule aggregate (see benchmark.aggregate)."""

from pathlib import Path

from benchmark.aggregate import aggregate, write_results
from benchmark.logs import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
results, scores = aggregate(
    list(sm.input.scores),
    sm.params.jobs,
    sm.params.run_infos,
    sm.params.summaries,
    sm.params.config,
    sm.params.specs,
    sm.input.ontology_graph,
    {Path(path).parent.name: str(Path(path).parent) for path in sm.input.checkpoints},
)
write_results(results, scores, sm.output.results, sm.output.scores)
