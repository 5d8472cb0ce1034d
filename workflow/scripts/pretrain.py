"""Snakemake glue for rule pretrain (see models.foundation.pretrain), supervised (benchmark.supervisor)."""

from benchmark.supervisor import supervise


def main(sm) -> None:
    import logging
    from pathlib import Path

    from benchmark.data.contract import read_dataset
    from benchmark.embedding import device_name
    from benchmark.registry import load_class
    from models.foundation.corpus import build_corpus

    corpus = build_corpus([read_dataset(path) for path in sm.input.corpus])
    summary = load_class(sm.params.spec).pretrain(
        corpus, sm.params.model_params, sm.params.seed, Path(sm.output.manifest).parent, sm.params.progress,
        device_name(),
    )  # fmt: skip
    final = (summary["check"] or {}).get("final") or {}
    logging.getLogger("pretrain").info(
        "%s: %d steps on %d cells, final loss %s, %.0f s; held-out masked loss %s (marginal baseline %s)",
        sm.wildcards.model,
        summary["steps"],
        summary["train_cells"],
        summary["final_loss"],
        summary["seconds"],
        final.get("loss"),
        final.get("baseline_loss"),
    )


supervise(snakemake, main, record=True)  # noqa: F821 - snakemake is injected by Snakemake
