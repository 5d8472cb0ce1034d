"""Cancer cell identification, drug response (both protocols), gene function, task planning and fine-tuning
on small hand-made inputs."""

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.registry import ModelSpec
from benchmark.tasks.cancer import evaluate_cancer
from benchmark.tasks.context import TaskContext
from benchmark.tasks.drug import drug_protocol, evaluate_drug, prevalence_corrected, score_drug
from benchmark.tasks.folds import leave_one_group_out, stratified_folds
from benchmark.tasks.gene_function import evaluate_gene_function, go_labels, propagate, tissue_labels
from benchmark.tasks.plan import task_applies
from models.foundation.architectures import FoundationModel
from models.foundation.finetune import FinetuneSettings, finetune_split
from models.foundation.tokenizers import RankValueTokenizer
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary


def _values(rows: list[dict]) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in rows if r["status"] == "ok"}


def _dataset(obs: pd.DataFrame) -> ad.AnnData:
    adata = ad.AnnData(np.zeros((len(obs), 3), dtype=np.float32), obs=obs)
    adata.uns["dataset"] = {"id": "toy", "labelled": True, "x_kind": "counts"}
    return adata


def test_leave_one_group_out_never_puts_a_group_on_both_sides():
    groups = np.random.default_rng(0).choice(["t1", "t2", "t3", "t4"], size=200)
    folds = leave_one_group_out(groups)
    assert len(folds) == 4
    for train, test in folds:
        assert set(groups[train]).isdisjoint(groups[test]) and len(set(groups[test])) == 1
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(200))


def test_cancer_task_separates_malignant_cells_across_tumours():
    rng = np.random.default_rng(1)
    groups = np.repeat(["t1", "t2", "t3", "t4"], 30)
    malignant = np.tile(np.r_[np.ones(20, bool), np.zeros(10, bool)], 4)
    obs = pd.DataFrame({"malignant": np.where(malignant, "True", "False"), "group": groups},
                       index=[f"c{i}" for i in range(120)])  # fmt: skip
    informative = np.c_[malignant * 3.0, rng.normal(size=(120, 4))] + rng.normal(scale=0.3, size=(120, 5))
    ctx = TaskContext(_dataset(obs), informative, {}, 0)
    scores = _values(evaluate_cancer(ctx))
    assert scores["cancer_auroc"] > 0.99 and scores["cancer_auprc"] > 0.99 and scores["cancer_accuracy"] > 0.95
    noise = _values(evaluate_cancer(TaskContext(_dataset(obs), rng.normal(size=(120, 5)), {}, 0)))
    assert noise["cancer_auroc"] < 0.75
    one_group = obs.assign(group="t1")
    rows = evaluate_cancer(TaskContext(_dataset(one_group), informative, {}, 0))
    assert {r["status"] for r in rows} == {"not_applicable"}
    assert rows[0]["message"] == "a single tumour/patient group: leave-one-group-out needs at least two"


def test_drug_task_scores_cell_line_labels_and_skips_drugs_it_cannot_split():
    rng = np.random.default_rng(2)
    lines = np.repeat([f"L{i}" for i in range(6)], 20)
    sensitive_lines = {"L0", "L2", "L4"}
    label = pd.Series(np.where(np.isin(lines, list(sensitive_lines)), "sensitive", "resistant"))
    X = np.c_[np.isin(lines, list(sensitive_lines)) * 2.0, rng.normal(size=(120, 3))] + rng.normal(
        scale=0.5, size=(120, 4)
    )
    good = score_drug(X, label, lines, 0, "line_disjoint", 5)
    assert good["reason"] == "" and good["auroc"] > 0.95 and good["n_groups"] == 6
    lone = pd.Series(np.where(lines == "L0", "sensitive", "resistant"))  # one sensitive line only
    assert score_drug(X, lone, lines, 0, "line_disjoint", 5)["reason"] == (
        "fewer than two classes in the training part when holding out ['L0']"
    )
    drug_c = np.where(lines == "L5", "unlabelled", label)
    obs = pd.DataFrame({"group": lines, "drug_A": label.to_numpy(), "drug_B": "resistant", "drug_C": drug_c},
                       index=[f"c{i}" for i in range(120)])  # fmt: skip
    ctx = TaskContext(_dataset(obs), X, {}, 0)
    scores = _values(evaluate_drug(ctx))
    per_drug = ctx.details[0].set_index("drug")
    assert per_drug.loc["B", "reason"] == "the labelled cells hold a single class"
    assert per_drug.loc["C", "n_cells"] == 100 and per_drug.loc["C", "n_groups"] == 5
    assert scores["drug_auroc"] == pytest.approx(per_drug.loc[["A", "C"], "auroc"].mean())


def test_go_annotations_propagate_to_ancestors_through_is_a_and_part_of_only():
    edges = pd.DataFrame(
        [("c", "b", "isa"), ("b", "a", "part of"), ("d", "a", "regulates"), ("e", "d", "isa"), ("b", "x", "isa")],
        columns=["child", "parent", "relation"],
    )
    propagated = propagate({"g1": {"c"}, "g2": {"e"}, "g3": {"a"}}, edges)
    assert propagated == {"g1": {"c", "b", "a", "x"}, "g2": {"e", "d"}, "g3": {"a"}}


def test_go_labels_keep_top_level_terms_in_range():
    edges = pd.DataFrame(
        [("t1", "ROOT", "isa"), ("t2", "ROOT", "isa"), ("t3", "ROOT", "isa"), ("t1a", "t1", "isa")],
        columns=["child", "parent", "relation"],
    )
    genes = [f"g{i}" for i in range(10)]
    direct = [(g, "t1a") for g in genes[:4]] + [(g, "t2") for g in genes] + [(g, "t3") for g in genes[:1]]
    annotations = pd.DataFrame(direct + [("other", "t1a")], columns=["symbol", "go_id"])
    table = go_labels(annotations, edges, genes, "ROOT", min_genes=2, max_fraction=0.5)
    assert list(table.columns) == ["t1"]  # t2 covers every gene (too broad), t3 one gene (too rare)
    assert table["t1"].sum() == 4 and set(table.index) == set(genes)


def test_tissue_labels_use_tissue_enriched_genes_of_common_tissues():
    enriched = pd.DataFrame({"Gene_name": ["a", "b", "c", "d", "e", "f"],
                             "Tissue": ["Liver", "Liver", "Brain", "Brain", "Testis", "Liver"],
                             "Group": ["Tissue-Enriched"] * 5 + ["Group-Enriched"]})  # fmt: skip
    labels = tissue_labels(enriched, ["a", "b", "c", "d", "e", "f", "z"], min_genes=2)
    assert labels.to_dict() == {"a": "Liver", "b": "Liver", "c": "Brain", "d": "Brain"}


def test_gene_function_informative_embedding_beats_random(tmp_path):
    rng = np.random.default_rng(3)
    genes = [f"G{i}" for i in range(120)]
    tissues = np.array(["Liver", "Brain", "Testis"])[np.arange(120) % 3]
    pd.DataFrame({"Gene": genes, "Tissue": tissues, "Group": "Tissue-Enriched", "Gene_name": genes}).to_csv(
        tmp_path / "tissue.tsv", sep="\t", index=False
    )
    onehot = (tissues[:, None] == np.array(["Liver", "Brain", "Testis"])).astype(float)
    informative = pd.DataFrame(onehot + rng.normal(scale=0.3, size=(120, 3)), index=genes)
    informative.iloc[:10] = np.nan  # ten genes without an embedding: zero vectors, and lower coverage
    config = {"min_genes": 5, "metrics": ["tissue_accuracy", "tissue_macro_f1", "gene_coverage"]}
    resources = {"tissue": str(tmp_path / "tissue.tsv")}
    good, _ = evaluate_gene_function(informative, genes, config, resources, 0)
    noise, _ = evaluate_gene_function(pd.DataFrame(rng.normal(size=(120, 3)), index=genes), genes, config, resources, 0)
    good, noise = _values(good), _values(noise)
    assert good["tissue_accuracy"] > 0.8 > 0.5 > noise["tissue_accuracy"]
    assert good["gene_coverage"] == pytest.approx(110 / 120) and noise["gene_coverage"] == 1.0
    rows, _ = evaluate_gene_function(None, genes, config, resources, 0)
    assert {r["status"] for r in rows} == {"not_applicable"}


def test_finetuning_overfits_a_tiny_labelled_batch():
    genes = [f"G{i}" for i in range(30)]
    vocabulary = Vocabulary.build(genes)
    tokenizer = RankValueTokenizer(vocabulary, 32, np.ones(30), cls=True)
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 8)
    counts = rng.poisson(1.0, (24, 30)).astype(float)
    for cls in range(3):  # each type expresses its own block of genes highest
        counts[labels == cls, cls * 10 : cls * 10 + 5] += 20
    cells = [tokenizer.cell(c, c.sum(), rng) for c in counts]
    torch.manual_seed(0)
    model = FoundationModel("geneformer", EncoderConfig(hidden=32, layers=2, heads=4, ffn=64), len(vocabulary), 30,
                            0, 32)  # fmt: skip
    everything = np.arange(24)
    settings = FinetuneSettings.from_config({"unfrozen_layers": 2, "epochs": 40, "lr": 3e-3, "head_lr": 1e-2,
                                             "batch_size": 8, "val_fraction": 0.0, "patience": 40})  # fmt: skip
    extraction = {"pooling": "cls", "layer": -1, "normalize": False}
    predicted, log = finetune_split(model, tokenizer, cells, labels, everything, everything, extraction, settings, 0)
    assert np.array_equal(predicted, labels) and log["epochs_run"] >= 1
    again, _ = finetune_split(model, tokenizer, cells, labels, everything, everything, extraction, settings, 0)
    assert np.array_equal(again, predicted)  # seeded
    probe = FinetuneSettings.from_config({"unfrozen_layers": 0, "epochs": 5, "val_fraction": 0.2})
    frozen_before = [p.detach().clone() for p in model.parameters()]
    finetune_split(model, tokenizer, cells, labels, everything, everything, extraction, probe, 0)
    assert all(torch.equal(a, b) for a, b in zip(frozen_before, model.parameters(), strict=True))  # never changed


def _within_line(obs: pd.DataFrame) -> ad.AnnData:
    adata = _dataset(obs)
    adata.uns["dataset"]["catalog_entry"] = json.dumps({"drug_response": {"prefix": "r_", "protocol": "within_line"}})
    return adata


def test_drug_within_line_uses_seeded_stratified_folds_and_reports_calibration():
    rng = np.random.default_rng(5)
    n = 200
    sensitive = np.r_[np.ones(50, bool), np.zeros(150, bool)]  # skewed, as in PC9 (324 vs 958)
    label = np.where(sensitive, "sensitive", "resistant")
    obs = pd.DataFrame({"drug_erlotinib": label, "group": "PC9"}, index=[f"c{i}" for i in range(n)])
    informative = np.c_[sensitive * 2.0, rng.normal(size=(n, 3))] + rng.normal(scale=0.5, size=(n, 4))
    ctx = TaskContext(_within_line(obs), informative, {"n_splits": 4}, 7)
    good = _values(evaluate_drug(ctx))
    assert ctx.details[0].loc[0, "protocol"] == "within_line" and ctx.details[0].loc[0, "n_groups"] == 1
    assert good["drug_auroc"] > 0.95 and good["drug_auprc"] > 0.9 and good["drug_brier"] < 0.1
    noise = _values(evaluate_drug(TaskContext(_within_line(obs), rng.normal(size=(n, 4)), {"n_splits": 4}, 7)))
    # An uninformative probe, corrected to the training prevalence (0.25), sits near the prior's Brier score.
    assert noise["drug_auroc"] < 0.7 and noise["drug_brier"] == pytest.approx(0.25 * 0.75, abs=0.03)
    folds = stratified_folds(sensitive, 4, 7)
    assert all(sensitive[test].sum() in (12, 13) for _, test in folds)  # the class balance in every fold
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, stratified_folds(sensitive, 4, 7), strict=True))
    assert score_drug(informative, pd.Series(label), obs["group"].to_numpy(), 7, "within_line", 60)["reason"] == (
        "the smaller class has 50 cells, fewer than the 60 folds"
    )


def test_brier_needs_per_cell_labels_and_the_probabilities_move_to_the_prevalence():
    assert prevalence_corrected(np.array([0.5, 0.75, 1.0, 0.0]), np.full(4, 0.25)) == pytest.approx([0.25, 0.5, 1, 0])
    lines = np.repeat([f"L{i}" for i in range(4)], 10)
    obs = pd.DataFrame({"group": lines, "drug_A": np.where(np.isin(lines, ["L0", "L1"]), "sensitive", "resistant")},
                       index=[f"c{i}" for i in range(40)])  # fmt: skip
    X = np.c_[np.isin(lines, ["L0", "L1"]) * 2.0, np.random.default_rng(0).normal(size=(40, 2))]
    rows = {r["metric"]: r for r in evaluate_drug(TaskContext(_dataset(obs), X, {}, 0))}
    assert rows["drug_auroc"]["status"] == "ok" and rows["drug_brier"]["status"] == "not_applicable"
    assert (
        rows["drug_brier"]["message"] == "per-cell calibration needs per-cell labels; this dataset's are per cell line"
    )
    assert drug_protocol({}) == "line_disjoint"
    with pytest.raises(ValueError, match="drug_response.protocol"):
        drug_protocol({"catalog_entry": json.dumps({"drug_response": {"protocol": "per_cell"}})})


def test_plan_builds_drug_jobs_within_a_line_and_perturbation_jobs_and_honours_only_tasks():
    spec = ModelSpec(id="m", directory="/x", name="M", summary="", kind="baseline", class_name="M",
                     capabilities=("embed",))  # fmt: skip
    pc9 = {"drug_response": {"prefix": "response_", "protocol": "within_line"}, "keys": {}, "only_tasks": ["drug"]}
    assert task_applies("drug", pc9, spec) and not task_applies("integration", pc9, spec)
    assert not task_applies("drug", {"drug_response": {"prefix": "gdsc2_"}, "keys": {}}, spec)  # needs lines
    kang = {
        "keys": {"label": "cell_type", "condition": "condition"},
        "perturbation": {"control": "ctrl", "perturbed": "stim"},
    }
    assert task_applies("perturbation", kang, spec) and task_applies("integration", kang, spec)
    assert not task_applies("perturbation", {"keys": {"label": "cell_type"}}, spec)
