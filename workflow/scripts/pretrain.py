"""Snakemake glue for rule pretrain (see models.foundation.pretrain)."""

import logging
from pathlib import Path

from benchmark.data.contract import read_dataset
from benchmark.logs import setup_logging
from benchmark.registry import load_class
from benchmark.runner import device_name
from models.foundation.corpus import build_corpus

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
corpus = build_corpus([read_dataset(path) for path in sm.input.corpus])
summary = load_class(sm.params.spec).pretrain(
    corpus, sm.params.model_params, sm.params.seed, Path(sm.output.manifest).parent, sm.params.progress, device_name()
)
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
