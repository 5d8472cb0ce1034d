"""End-to-end Snakemake runs (minutes): the CI test config, and real data sets from the shared folder."""

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark.config import validate
from benchmark.paths import REPO_ROOT
from tests.conftest import snakemake

pytestmark = pytest.mark.workflow
BASELINES = ("hvg", "hvg_pca", "harmony", "scvi")
CONTROLS = ("random", "batch_only", "label_oracle", "ontology_oracle")
FOUNDATION = ("geneformer", "scgpt", "scbert", "scfoundation")
TWINS = ("geneformer_random_init",)  # the test config's one random-init twin
MODELS = {*CONTROLS, *BASELINES, *FOUNDATION, *TWINS}


def check_report(workdir: Path, run: str, datasets: list[str], models: set[str] = MODELS) -> dict:
    results = json.loads((workdir / "reports" / run / "results.json").read_text())
    validate(results, "results", "results.json")
    html = (workdir / "reports" / run / "leaderboard.html").read_text()
    assert "Overall ranking" in html and "Provenance" in html
    assert (workdir / "reports" / run / "scores.tsv").exists()
    assert set(results["datasets"]) == set(datasets)
    covered = {(r["dataset"], r["task"], r["model"]) for r in results["task_scores"]}
    expected = {(d, t, m) for d in datasets for t in ("integration", "annotation") for m in models}
    if "finetune" in results["config"]["tasks"]:  # the models that can be fine-tuned, on labelled datasets
        expected |= {(d, "finetune", m) for d in datasets for m in {*FOUNDATION, *TWINS} & models}
    assert covered == expected
    return results


def scored_tasks(workdir: Path) -> dict[tuple[str, str], set[str]]:
    """(dataset, model) -> the tasks its evaluate jobs scored (the plan's valid combinations only)."""
    tasks: dict[tuple[str, str], set[str]] = {}
    for path in (workdir / "results" / "scores").glob("*/*/seed*.tsv"):
        tasks.setdefault((path.parts[-3], path.parts[-2]), set()).update(pd.read_csv(path, sep="\t")["task"])
    return tasks


def task_rows(results: dict, dataset: str, task: str) -> dict[str, dict]:
    return {r["model"]: r for r in results["task_scores"] if r["dataset"] == dataset and r["task"] == task}


def raw(results: dict, dataset: str, metric: str) -> dict[str, float]:
    return {
        r["model"]: r["value"]
        for r in results["scores"]
        if r["dataset"] == dataset and r["metric"] == metric and r["status"] == "ok"
    }


def assert_controls_bracket_baselines(results: dict, dataset: str) -> None:
    bio = {m: r["bio"] for m, r in task_rows(results, dataset, "integration").items() if r["status"] == "ok"}
    baselines = [bio[m] for m in BASELINES if m in bio]
    assert baselines, dataset
    assert bio["label_oracle"] > max(baselines) and bio["random"] < min(baselines), (dataset, bio)


def test_the_terminal_shows_snakemake_and_one_line_per_job(test_config_run):
    """Library chatter (JAX, Lightning, tqdm, scanpy) goes to each job's log; the terminal shows Snakemake's
    progress and each finished step's line from its supervisor."""
    workdir, local = test_config_run
    terminal = local.stdout + local.stderr
    for chatter in ("log-transformed", "\r", "it/s]", "TPU", "LOCAL_RANK", "GPU available", "UserWarning"):
        assert chatter not in terminal, chatter
    finished = Counter(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)$", terminal, re.M))
    done = Counter(re.findall(r"^(\w+)(?: [\w./-]+)?: done in \d+ s, peak \d+ MB$", terminal, re.M))
    assert done == finished - Counter({"all": 1}), terminal[-3000:]
    assert done["evaluate"] > 0 and done["ontology"] == 1
    logs = list((workdir / "results" / "logs").rglob("*.log"))
    assert logs and not any("seems to be already log-transformed" in log.read_text() for log in logs)
    assert not any("\r" in log.read_text() for log in logs)  # no progress bars in the logs either


def test_test_config_end_to_end(test_config_run):
    workdir, _ = test_config_run  # the local run, shared with the SLURM test (tests/conftest.py)
    results = check_report(workdir, "test", ["sim_small", "pbmc68k_reduced"])
    for dataset in results["datasets"]:
        assert_controls_bracket_baselines(results, dataset)
    # Every model, control and metric: no value a metric cannot have (BRAS once gave -1e305 on sim_small).
    assert not [r for r in results["scores"] if "outside the declared range" in (r["message"] or "")]
    assert not [r for r in results["scores"] if r["status"] == "failed"]
    not_applicable = {(r["dataset"], r["model"]) for r in results["task_scores"] if r["status"] == "not_applicable"}
    assert not_applicable == {
        ("pbmc68k_reduced", m) for m in ("scvi", "harmony", "ontology_oracle", *FOUNDATION, *TWINS)
    }
    assert {r["stage"] for r in results["resources"]} == {
        "ontology",
        "prepare_dataset",
        "pretrain",
        "embed",
        "finetune",
        "evaluate",
    }
    finetuned = {(r["model"], r["metric"]): r for r in results["finetune_comparison"] if r["dataset"] == "sim_small"}
    assert {m for m, _ in finetuned} == {*FOUNDATION, *TWINS}  # zero-shot and fine-tuned side by side
    assert all(r["zero_shot"] is not None and r["finetuned"] is not None for r in finetuned.values())
    assert "Zero-shot vs fine-tuned annotation" in (workdir / "reports" / "test" / "leaderboard.html").read_text()
    sim = {r["model"]: r for r in results["task_scores"] if r["dataset"] == "sim_small" and r["task"] == "integration"}
    assert all(sim[m]["status"] == "ok" for m in (*FOUNDATION, *TWINS))  # the scFMs pretrained and embedded
    gains = {(g["dataset"], g["task"]): g for g in results["pretraining"]["gains"] if g["model"] == "geneformer"}
    gain = gains[("sim_small", "integration")]  # the scFM beside its twin: score minus the twin's
    assert gain["twin"] == "geneformer_random_init" and gain["gain"] == pytest.approx(
        gain["value"] - gain["twin_value"]
    )
    assert results["models"]["geneformer_random_init"]["origin"]["source"] == "random-init"
    runs = {r["model"]: r for r in results["runs"] if r["dataset"] == "sim_small"}
    for model in FOUNDATION:
        assert runs[model]["status"] == "ok" and runs[model]["cells_per_s"] > 0
        assert json.loads(runs[model]["notes"])["gene_overlap"]["overlap"] > 0.9  # the same simulated genes
    assert results["provenance"]["pretraining_corpus"]["geneformer"] == ["sim_corpus_small"]
    assert results["datasets"]["sim_small"]["in_pretraining_corpus_of"] == []
    assert results["provenance"]["ontology"]["source"] == "cellxgene-ontology-guide (bundled CL)"
    scgraph = raw(results, "sim_small", "scgraph_ontorwr")
    assert scgraph["ontology_oracle"] > 0.95 and abs(scgraph["random"]) < 0.3
    rogi = {row["dataset"]: row for row in results["rogi_vs_f1"]}
    assert rogi["sim_small"]["pearson"] is not None and rogi["sim_small"]["conclusive"]
    assert rogi["pbmc68k_reduced"]["n_models"] == 2 and rogi["pbmc68k_reduced"]["pearson"] is None  # HVG, HVG+PCA
    overall = {f["model"]: f["front"] for f in results["fronts"] if f["scope"] == "overall"}
    ranked = [row for row in results["ranking"] if row["group"] == "ranked"]
    # Like with like: every ranked model is scored on the same shared cells; fronts are the ranked models'.
    assert ranked and all(row["cells"] == results["comparison"]["shared_cells"] for row in ranked)
    assert set(overall) == {row["model"] for row in ranked} and min(overall.values()) == 1
    assert not set(overall) & set(CONTROLS)  # controls are references, in no front
    html = (workdir / "reports" / "test" / "leaderboard.html").read_text()
    assert html.count('src="data:image/png;base64,') >= 2 * 8  # UMAP maps by cell type and batch

    rerun = snakemake(workdir, REPO_ROOT / "config" / "test.yaml")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_real_datasets_end_to_end(tmp_path, data_dir):
    config = yaml.safe_load((REPO_ROOT / "config" / "test.yaml").read_text())
    # The scFMs, scVI and the HVG baseline are covered by the test config (scVI by the mini run too); real data
    # checks the controls and the baselines without training.
    models = {*CONTROLS, "hvg_pca", "harmony"}
    config.update(run="real", data_dir=str(data_dir), datasets=["pbmc_3chem", "pbmc_sorted"], models=sorted(models))
    # kBET (the slowest metric) is left out to keep CI short; the test config covers it.
    config["tasks"]["integration"]["metrics"] = [
        "isolated_labels", "kmeans_nmi", "kmeans_ari", "silhouette_label", "clisi",
        "bras", "ilisi", "graph_connectivity", "pcr_comparison", "scgraph_ontorwr", "rogi", "rogi_pca",
    ]  # fmt: skip
    configfile = tmp_path / "real.yaml"
    configfile.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, configfile)
    results = check_report(tmp_path, "real", ["pbmc_3chem", "pbmc_sorted"], models)
    assert_controls_bracket_baselines(results, "pbmc_3chem")
    assert results["datasets"]["pbmc_3chem"]["n_batches"] == 3
    # The deep CL hierarchy: every applicable model gets an LCAD on the sorted PBMCs.
    lcad = raw(results, "pbmc_sorted", "logreg_lcad")
    assert set(lcad) == models - {"harmony"}  # one declared batch: Harmony is not applicable
    assert lcad["label_oracle"] == 0.0 and lcad["random"] > lcad["hvg_pca"] > 0
    assert raw(results, "pbmc_sorted", "scgraph_ontorwr")["ontology_oracle"] > 0.95


def test_cancer_drug_and_gene_function_tasks_end_to_end(tmp_path, data_dir):
    """The tasks on the shared data: cancer (oligodendroglioma), drug (CellBench), gene function (GO, HPA)."""
    config = yaml.safe_load((REPO_ROOT / "config" / "test.yaml").read_text())
    models = {"random", "batch_only", "label_oracle", "hvg_pca", "harmony"}
    config.update(run="tasks", data_dir=str(data_dir), datasets=["oligodendroglioma", "cellbench_lung"],
                  models=sorted(models), model_params={})  # fmt: skip
    config["tasks"] = {
        "cancer": None,
        "drug": None,
        "gene_function": {"go_annotations": "go/human_gene2go_orgHsegdb_3.16.0.tsv.gz",
                          "go_edges": "go/go_edges_GOdb_3.16.0.tsv.gz",
                          "tissue": "tissue/TissueEnrich_HPA_tissue_specific_genes.tsv.gz", "min_genes": 10},
    }  # fmt: skip
    configfile = tmp_path / "tasks.yaml"
    configfile.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, configfile)
    # Only valid combinations are scored: cancer on the tumours, drug on the cell lines, gene function for
    # the models that export gene embeddings (random genes, the PCA loadings of hvg_pca and harmony).
    scored = scored_tasks(tmp_path)
    assert {m for (d, m), tasks in scored.items() if d == "oligodendroglioma" and "cancer" in tasks} == models
    assert not any("cancer" in tasks for (d, _), tasks in scored.items() if d == "cellbench_lung")
    assert not any("drug" in tasks for (d, _), tasks in scored.items() if d == "oligodendroglioma")
    assert "gene_function" not in scored[("cellbench_lung", "label_oracle")]
    results = json.loads((tmp_path / "reports" / "tasks" / "results.json").read_text())
    cancer = raw(results, "oligodendroglioma", "cancer_auroc")
    assert set(cancer) == models and cancer["label_oracle"] > 0.99 and cancer["hvg_pca"] > cancer["random"]
    # CellBench's labels are per cell line and each drug has at most one line in its minority class,
    # so no line-disjoint split can train on both classes: every drug is skipped, with the reason.
    drug = [r for r in results["scores"] if r["task"] == "drug"]
    assert {r["status"] for r in drug} == {"not_applicable"} and len(drug) == 3 * len(models)  # AUROC, AUPRC, Brier
    assert "Tamoxifen: fewer than two classes in the training part when holding out ['H2228']" in drug[0]["message"]
    for dataset in ("oligodendroglioma", "cellbench_lung"):
        for metric in ("go_macro_f1", "tissue_macro_f1"):
            assert set(raw(results, dataset, metric)) == {"random", "hvg_pca", "harmony"}
        coverage = raw(results, dataset, "gene_coverage")
        assert coverage["random"] == 1.0 and 0 < coverage["hvg_pca"] < 1.0
    html = (tmp_path / "reports" / "tasks" / "leaderboard.html").read_text()
    assert "Cancer AUROC" in html and "Tissue macro-F1" in html


def reuse_pretraining(source: Path, target: Path) -> None:
    """The test config's pretrained scFMs, their benchmark files (outputs too) and their corpus, from its run:
    the same config and code would pretrain them again, identically (a copy keeps the files' times, so
    Snakemake sees them up to date)."""
    for folder in ("results/checkpoints", "results/benchmarks/pretrain", "results/data/sim_corpus_small"):
        shutil.copytree(source / folder, target / folder, ignore=shutil.ignore_patterns(".progress"))


def test_drug_within_a_line_and_perturbation_end_to_end(tmp_path, data_dir, test_config_run):
    """The four scFMs (pretrained with the test config's tiny settings: those of the shared test-config run)
    beside the references (random, batch-only, HVG+PCA) on PC9 (drug, within-line; label = sample) and Kang
    (perturbation: IFN-beta per held-out cell type). The other baselines and controls run on real data in
    test_real_datasets_end_to_end."""
    reuse_pretraining(test_config_run[0], tmp_path)
    config = yaml.safe_load((REPO_ROOT / "config" / "test.yaml").read_text())
    models = {"random", "batch_only", "hvg_pca", *FOUNDATION}
    config.update(run="response", data_dir=str(data_dir), datasets=["pc9_erlotinib", "pbmc_kang"],
                  models=sorted(models), tasks={"drug": None, "perturbation": None},
                  scoring={"task_weights": {}})  # fmt: skip
    configfile = tmp_path / "response.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, configfile)
    assert "rule pretrain:" not in run.stdout + run.stderr  # the shared run's checkpoints served
    scored = scored_tasks(tmp_path)
    assert set().union(*(t for (d, _), t in scored.items() if d == "pc9_erlotinib")) == {"drug"}  # only_tasks: [drug]
    assert set().union(*(t for (d, _), t in scored.items() if d == "pbmc_kang")) == {"perturbation"}
    results = json.loads((tmp_path / "reports" / "response" / "results.json").read_text())
    validate(results, "results", "results.json")
    # Drug on PC9: a number for every model; batch-only separates the conditions (label = sample).
    for metric in ("drug_auroc", "drug_auprc", "drug_brier"):
        assert set(raw(results, "pc9_erlotinib", metric)) == models, metric
    auroc = raw(results, "pc9_erlotinib", "drug_auroc")
    assert auroc["batch_only"] > 0.99 and auroc["hvg_pca"] > 0.9 and abs(auroc["random"] - 0.5) < 0.1
    html = (tmp_path / "reports" / "response" / "leaderboard.html").read_text()
    assert "within-line: seeded stratified folds over cells" in html and "The label follows the sample here" in html
    assert html.count("reflects sample differences (not above batch-only by the margin)") == len(models) - 1
    # Perturbation on Kang: every model scored on the no change (0) to observed (1) scale, beside the references.
    scores = {m: r for m, r in task_rows(results, "pbmc_kang", "perturbation").items()}
    assert set(scores) == models and all(r["status"] == "ok" and r["score"] is not None for r in scores.values())
    additive = raw(results, "pbmc_kang", "perturbation_r2_all_additive")
    assert len(set(additive.values())) == 1 and 0 < next(iter(additive.values())) < 1  # one reference for all
    assert abs(scores["random"]["score"]) < 0.2 and scores["hvg_pca"]["score"] > scores["random"]["score"] + 0.3
    assert {r["scaling"] for r in results["scores"] if r["metric"] == "perturbation_energy"} == {"task references"}
    assert "Perturbation response: references" in html
