"""Snakemake glue for rule aggregate (see benchmark.aggregate), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    from pathlib import Path

    from benchmark.aggregate import aggregate, write_results

    results, scores = aggregate(
        list(sm.input.scores),
        sm.params.jobs,
        sm.params.run_infos,
        sm.params.summaries,
        sm.params.config,
        sm.params.specs,
        sm.input.ontology_graph,
        {Path(path).parent.name: str(Path(path).parent) for path in sm.input.checkpoints},
        sm.params.unscheduled,
    )
    write_results(results, scores, sm.output.results, sm.output.scores)


supervise(snakemake, main)  # noqa: F821 - snakemake is injected by Snakemake
