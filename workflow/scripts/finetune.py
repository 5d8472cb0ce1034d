"""Snakemake glue for rule finetune (see benchmark.finetuning.finetune_dataset), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    import logging
    from pathlib import Path

    from benchmark.finetuning import finetune_dataset

    status = finetune_dataset(
        sm.input.dataset,
        sm.params.spec,
        sm.params.model_params,
        sm.params.annotation,
        sm.params.settings,
        sm.params.seed,
        sm.params.split_seed,
        sm.output.predictions,
        sm.output.run_info,
        sm.params.published or (str(Path(sm.input.checkpoint).parent) if hasattr(sm.input, "checkpoint") else None),
    )
    logging.getLogger("finetune").info("%s on %s: %s", sm.wildcards.model, sm.wildcards.dataset, status)


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
