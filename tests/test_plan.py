"""Planning: only what can run is scheduled; what cannot is known from the catalog and still reported."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.config import load_catalog
from benchmark.embedding import check_needs
from benchmark.errors import NotApplicable
from benchmark.paths import REPO_ROOT
from benchmark.registry import discover
from benchmark.tasks.plan import single_batch, unmet_need, unscheduled

SPECS = discover()
DEFAULT = str(REPO_ROOT / "config" / "config.yaml")
CATALOG = load_catalog("config/datasets.yaml")


def test_catalog_facts_decide_before_anything_runs():
    pbmc = CATALOG["pbmc68k_reduced"]
    assert unmet_need(pbmc, SPECS["scvi"], "pbmc68k_reduced") == (
        "scVI needs raw counts; dataset 'pbmc68k_reduced' has log-normalised values (catalog `counts: false`)"
    )
    assert "single batch" in unmet_need(pbmc, SPECS["harmony"], "pbmc68k_reduced")
    assert "no Cell Ontology ids" in unmet_need(pbmc, SPECS["ontology_oracle"], "pbmc68k_reduced")
    assert unmet_need(pbmc, SPECS["hvg_pca"], "pbmc68k_reduced") == ""
    assert unmet_need(CATALOG["sim_immune"], SPECS["scgpt"], "sim_immune") == ""
    unlabelled = {"source": "path", "counts": True, "keys": {"batch": "b", "label": None}}
    assert "needs cell-type labels" in unmet_need(unlabelled, SPECS["label_oracle"], "x")
    assert single_batch({"source": "builtin", "params": {"n_batches": 1}, "keys": {"batch": "batch"}})
    assert not single_batch(CATALOG["sim_immune"])


def test_what_the_plan_leaves_out_would_not_have_run(pbmc68k):
    """Every model the plan drops on pbmc68k_reduced is also not applicable at run time, and vice versa."""
    for model, spec in SPECS.items():
        if spec.plugin_rule:
            continue
        planned_out = bool(unmet_need(CATALOG["pbmc68k_reduced"], spec, "pbmc68k_reduced"))
        try:
            check_needs(spec, pbmc68k)
            runs = True
        except NotApplicable:
            runs = False
        assert planned_out == (not runs), model


def test_unscheduled_lists_the_reason_and_the_tasks():
    rows = unscheduled(["sim_immune", "pbmc68k_reduced"], ["hvg", "scgpt", "harmony"],
                       ["integration", "annotation", "finetune"], CATALOG, SPECS)  # fmt: skip
    assert [(r["dataset"], r["model"], r["tasks"]) for r in rows] == [
        ("pbmc68k_reduced", "scgpt", ["integration", "annotation", "finetune"]),
        ("pbmc68k_reduced", "harmony", ["integration", "annotation"]),  # harmony cannot be fine-tuned
    ]
    assert rows[0]["reason"].startswith("scGPT needs raw counts")


def test_the_default_plan_schedules_only_what_can_run(tmp_path):
    command = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO_ROOT / "workflow" / "Snakefile"),
               "--directory", str(tmp_path), "-n", "--configfile", DEFAULT]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    # 12 models and the 4 random-init twins on sim_immune; on pbmc68k_reduced (log-normalised, one batch, no
    # CL ids) only random, batch_only, label_oracle, hvg and hvg_pca can run. One evaluate job per embedding
    # scores both tasks. Each in-repo scFM and its twin (its initial weights, no step) has a pretrain job.
    assert (stats["embed"], stats["evaluate"], stats["pretrain"]) == ("21", "21", "8")
    assert "results/embed/pbmc68k_reduced/scgpt/seed0.h5ad" not in result.stdout


@pytest.mark.parametrize("model", ["geneformer", "scvi"])
def test_a_model_that_runs_nowhere_is_not_pretrained_or_embedded(tmp_path, model):
    command = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO_ROOT / "workflow" / "Snakefile"),
               "--directory", str(tmp_path), "-n", "--configfile", DEFAULT,
               "--config", f"models=[random,label_oracle,{model}]", "datasets=[pbmc68k_reduced]"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"results/embed/pbmc68k_reduced/{model}/" not in result.stdout and "rule pretrain:" not in result.stdout
