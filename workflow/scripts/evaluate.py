"""Snakemake glue for rule evaluate (see benchmark.tasks.evaluate), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    from benchmark.io import write_tsv
    from benchmark.tasks.evaluate import TaskJob, evaluate_tasks

    scores, details = evaluate_tasks(
        sm.input.dataset,
        {task: TaskJob(job["config"], job["seed"]) for task, job in sm.params.tasks.items()},
        sm.wildcards.model,
        int(sm.wildcards.seed),
        embedding_path=getattr(sm.input, "embedding", None),
        predictions_path=getattr(sm.input, "predictions", None),
        ontology_paths=(sm.input.ontology_graph, sm.input.ontology_vectors),
        resources={key: sm.input[key] for key in ("go_annotations", "go_edges", "tissue") if hasattr(sm.input, key)},
    )
    write_tsv(details, sm.output.details)
    write_tsv(scores, sm.output.scores)


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
