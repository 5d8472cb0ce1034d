"""Snakemake glue for rule evaluate (see benchmark.tasks.evaluate), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    from benchmark.io import write_tsv
    from benchmark.tasks.evaluate import evaluate

    scores, details = evaluate(
        sm.input.dataset,
        sm.input.embedding,
        sm.wildcards.task,
        sm.params.task_config,
        sm.wildcards.model,
        int(sm.wildcards.seed),
        sm.params.seed,
        ontology_paths=(sm.input.ontology_graph, sm.input.ontology_vectors),
        resources={key: sm.input[key] for key in ("go_annotations", "go_edges", "tissue") if hasattr(sm.input, key)},
    )
    write_tsv(details, sm.output.details)
    write_tsv(scores, sm.output.scores)


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
