"""Does pretraining help? Random-init twins, the held-out pretraining check, the gain table and its section."""

import json
import pickle

import numpy as np
import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.pretraining import downsample, pretraining_checks
from benchmark.registry import check_checkpoints, discover, load_class, with_twin_settings
from models.foundation.architectures import FoundationModel, reinitialise
from models.foundation.checkpoint import load_checkpoint
from models.foundation.corpus import build_corpus
from models.foundation.heldout import MarginalBaseline, heldout_check, heldout_split
from models.foundation.masking import masked_loss
from models.foundation.pretrain import make_tokenizer, model_config, pretrain
from models.foundation.tokenizers import BinnedValueTokenizer, RankValueTokenizer, ScBertTokenizer, TokenBatch
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

FAMILIES = ("geneformer", "scgpt", "scbert", "scfoundation")
SCFMS = ("geneformer", "scgpt", "scbert", "scfoundation", "langcell", "sccello", "uce")
TINY = {"hidden": 32, "layers": 2, "heads": 4, "ffn": 64, "context": 64, "steps": 4, "batch_size": 8, "lr": 1e-3,
        "warmup": 1, "checkpoint_every": 4, "dropout": 0.0, "heldout_fraction": 0.0}  # fmt: skip


@pytest.fixture(scope="module")
def corpus():
    from tests.conftest import _prepared

    return build_corpus([_prepared("sim")[:, :300].copy()])  # 300 genes: scBERT attends over every gene


# --- twins in the registry ------------------------------------------------------------------------------


def test_every_scfm_has_a_random_init_twin():
    specs = discover()
    for model in SCFMS:
        twin = specs[f"{model}_random_init"]
        parent = specs[model]
        assert twin.kind == "control" and twin.twin_of == model and twin.control_roles == {}
        assert (twin.class_name, twin.directory, twin.capabilities, twin.checkpoint) == (
            parent.class_name, parent.directory, parent.capabilities, parent.checkpoint)  # fmt: skip
        assert twin.params == {**parent.params, "random_init": True}
        assert load_class(twin) is load_class(parent)
    assert not any(s.twin_of for s in specs.values() if s.kind != "control")
    assert "hvg_random_init" not in specs  # only foundation models have twins


def test_twins_take_their_scfm_settings():
    specs = discover()
    config = {"models": ["geneformer_random_init", "langcell_random_init", "hvg"],
              "model_params": {"geneformer": {"hidden": 32}, "langcell_random_init": {"embed_batch_size": 2}},
              "checkpoints": {"langcell": {"format": "langcell", "path": "/x"}}}  # fmt: skip
    settled = with_twin_settings(config, specs)
    assert settled["model_params"]["geneformer_random_init"] == {"hidden": 32}
    assert settled["model_params"]["langcell_random_init"] == {"embed_batch_size": 2}
    assert settled["checkpoints"]["langcell_random_init"] == {"format": "langcell", "path": "/x"}
    assert (
        specs["geneformer_random_init"].params_with(settled["model_params"]["geneformer_random_init"])["hidden"] == 32
    )
    check_checkpoints(specs, settled["models"], settled["checkpoints"], "config")
    with pytest.raises(ConfigError, match=r"`uce_random_init` is the random-init twin of `uce`, which runs only from "
                       r"its published checkpoint .*add `checkpoints.uce`"):  # fmt: skip
        check_checkpoints(specs, ["uce_random_init"], {}, "config")


@pytest.mark.parametrize("family", FAMILIES)
def test_in_repo_twin_has_the_same_architecture_and_different_weights(family, corpus, tmp_path):
    pretrain(family, corpus, TINY, 5, tmp_path / "scfm", tmp_path / "p1")
    pretrain(family, corpus, {**TINY, "random_init": True}, 6, tmp_path / "twin", tmp_path / "p2")
    scfm, scfm_tokens, scfm_config = load_checkpoint(tmp_path / "scfm")
    twin, twin_tokens, twin_config = load_checkpoint(tmp_path / "twin")
    assert twin_config["steps"] == 0 and twin_config["losses"] == []
    assert (twin_config["encoder"], twin_config["max_positions"]) == (
        scfm_config["encoder"],
        scfm_config["max_positions"],
    )
    assert twin_tokens.settings() == scfm_tokens.settings()  # the same tokenizer (built from the same corpus)
    ours, theirs = scfm.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs) and all(ours[k].shape == theirs[k].shape for k in ours)
    assert sum(not torch.equal(ours[k], theirs[k]) for k in ours) > len(ours) // 2
    pretrain(family, corpus, {**TINY, "random_init": True}, 6, tmp_path / "again", tmp_path / "p3")
    again = load_checkpoint(tmp_path / "again")[0].state_dict()
    assert all(torch.equal(again[k], theirs[k]) for k in again)  # seeded: the same twin every time


def _bert_folder(folder, n_genes: int = 30):
    """A tiny published Geneformer V1 folder (Hugging Face BertForMaskedLM plus dictionary pickles)."""
    transformers = pytest.importorskip("transformers")
    genes = [f"ENSG{i:011d}" for i in range(n_genes)]
    (folder / "token_dictionary.pkl").write_bytes(pickle.dumps({"<pad>": 0, "<mask>": 1} | {
        g: 2 + i for i, g in enumerate(genes)}))  # fmt: skip
    (folder / "gene_median_dictionary.pkl").write_bytes(pickle.dumps({g: 1.0 + i % 3 for i, g in enumerate(genes)}))
    config = transformers.BertConfig(vocab_size=n_genes + 2, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, hidden_act="relu", max_position_embeddings=40)  # fmt: skip
    torch.manual_seed(3)
    transformers.BertForMaskedLM(config).save_pretrained(folder)
    return genes


def test_published_twin_keeps_the_architecture_and_replaces_the_weights(tmp_path):
    import anndata as ad
    from scipy import sparse

    from models.foundation.published import load_published

    genes = _bert_folder(tmp_path)
    settings = {"format": "geneformer", "path": str(tmp_path), "model": "geneformer"}
    rng = np.random.default_rng(0)
    adata = ad.AnnData(sparse.csr_matrix(rng.poisson(2.0, (12, len(genes))).astype(np.float32)))
    adata.var["gene_id"] = genes
    specs = discover()
    parent_cls, twin_spec = load_class(specs["geneformer"]), specs["geneformer_random_init"]
    params = {**twin_spec.params, "embed_batch_size": 4}
    twin = load_class(twin_spec)(params, seed=1, checkpoint=settings)
    published = load_published(settings)
    reinitialised = twin._load()
    ours, theirs = published.model.state_dict(), reinitialised.model.state_dict()
    assert list(ours) == list(theirs) and all(ours[k].shape == theirs[k].shape for k in ours)
    assert all(not torch.equal(ours[k], theirs[k]) for k in ours if ours[k].std() > 0)
    first, second = twin.embed(adata), load_class(twin_spec)(params, seed=1, checkpoint=settings).embed(adata)
    np.testing.assert_array_equal(first, second)
    assert twin.notes["random_init"] == {"seed": 1}
    pretrained = parent_cls({**specs["geneformer"].params, "embed_batch_size": 4}, seed=1, checkpoint=settings)
    assert not np.allclose(pretrained.embed(adata), first)


def test_reinitialise_keeps_fixed_inputs_and_zeroes_the_rest():
    model = FoundationModel("uce", EncoderConfig(hidden=16, layers=1, heads=2, ffn=32), 20, 10, 0, 30, token_dim=8)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(1.0, 2.0)
    table = model.embeddings.table.weight.detach().clone()
    reinitialise(model, seed=4)
    assert torch.equal(model.embeddings.table.weight, table)  # UCE's protein embeddings are inputs, not weights
    assert float(model.embeddings.project.weight.detach().std()) == pytest.approx(0.02, rel=0.3)
    assert torch.all(model.embeddings.project.bias == 0) and torch.all(model.embeddings.norm.weight == 1)
    mlm = FoundationModel("geneformer", EncoderConfig(hidden=16, layers=1, heads=2, ffn=32), 20, 17, 0, 30)
    with torch.no_grad():
        mlm.head.bias.fill_(3.0)
    reinitialise(mlm, seed=4)
    assert torch.all(mlm.head.bias == 0)  # a bare parameter: zero, as at construction


# --- the objective and the held-out check --------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_one_batch_overfits_to_near_zero_loss(family, corpus):
    """With a fixed batch and a fixed mask the objective can be driven close to zero: it is learnable."""
    from models.foundation.checkpoint import build_model

    torch.manual_seed(0)
    tokenizer = make_tokenizer(family, corpus, TINY)
    model = build_model(model_config(family, TINY, tokenizer), tokenizer)
    dense = np.asarray(corpus.counts[:4].todense(), dtype=float)
    batch = tokenizer.collate([tokenizer.cell(dense[i], corpus.totals[i], np.random.default_rng(i)) for i in range(4)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)

    def loss():
        return masked_loss(model, batch, torch.Generator().manual_seed(7), tokenizer.mask_id)

    first = loss().item()
    for _ in range(200):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.03 * first


def test_heldout_split_is_seeded_disjoint_and_complete():
    train, held = heldout_split(100, 0.1, seed=3)
    assert len(held) == 10 and len(train) == 90 and not set(train) & set(held)
    assert sorted([*train, *held]) == list(range(100))
    assert np.array_equal(held, heldout_split(100, 0.1, seed=3)[1]) and not np.array_equal(
        held, heldout_split(100, 0.1, 4)[1]
    )
    assert len(heldout_split(5, 0.0, 0)[1]) == 0 and len(heldout_split(5, 0.01, 0)[1]) == 1


def _batch(ids, genes, values, special=None) -> TokenBatch:
    ids = torch.tensor(ids)
    special = torch.zeros_like(ids, dtype=torch.bool) if special is None else torch.tensor(special)
    values = torch.tensor(values, dtype=torch.float32)
    return TokenBatch(ids, torch.tensor(genes), values, torch.ones_like(ids, dtype=torch.bool), special)


def test_marginal_baseline_by_hand():
    vocab = Vocabulary.build(["A", "B", "C"])  # <pad> 0, <mask> 1, <cls> 2, A 3, B 4, C 5
    # scGPT: the gene's mean value over its non-<cls> tokens: A (2 + 4) / 2 = 3, B (10 + 20) / 2 = 15;
    # C never seen: the pooled mean (2 + 10 + 4 + 20) / 4 = 9
    cells = _batch([[2, 3, 4], [2, 3, 4]], [[0] * 3] * 2, [[-2.0, 2.0, 10.0], [-2.0, 4.0, 20.0]],
                   [[True, False, False]] * 2)  # fmt: skip
    scgpt = MarginalBaseline.fit("scgpt", BinnedValueTokenizer(vocab, 8), [cells])
    assert scgpt.predict(torch.tensor([3, 4, 5])).tolist() == pytest.approx([3.0, 15.0, 9.0])
    # scBERT: bins of expressed genes only; gene 0 has bins 1, 1, 2 -> add-one over the expressed bins 1-5:
    # (3, 2, 1, 1, 1) / 8, and nothing for bin 0 (never a target) or <mask> (6)
    bins = _batch([[1, 0, 1], [1, 0, 2], [2, 0, 0]], [[0, 1, 2]] * 3, [[0.0] * 3] * 3)
    scbert = MarginalBaseline.fit("scbert", ScBertTokenizer(vocab, bin_num=5), [bins])
    probabilities = scbert.predict(torch.tensor([0])).exp()[0]
    assert probabilities[1:6].tolist() == pytest.approx([3 / 8, 2 / 8, 1 / 8, 1 / 8, 1 / 8])
    assert probabilities[0].item() == 0.0 and probabilities[6].item() == 0.0


def test_a_gene_no_training_cell_showed_costs_the_marginal_baseline_a_finite_loss():
    """Geneformer's baseline: gene frequencies add-one smoothed over every vocabulary gene, so a held-out
    cell's gene that the sampled training cells never held has probability 1 / (tokens + genes), not 0."""
    from models.foundation.families import family_of

    vocab = Vocabulary.build(["A", "B", "C"])  # <pad> 0, <mask> 1, <cls> 2, A 3, B 4, C 5
    tokenizer = RankValueTokenizer(vocab, 3, np.ones(3))
    cells = _batch([[3, 4], [3, 3]], [[0, 1], [0, 0]], [[0.0] * 2] * 2)  # A three times, B once, C never
    log_probabilities = MarginalBaseline.fit("geneformer", tokenizer, [cells]).predict(torch.zeros(1, dtype=torch.long))
    probabilities = log_probabilities.exp()[0]
    assert probabilities[3:].tolist() == pytest.approx([4 / 7, 2 / 7, 1 / 7])  # (3, 1, 0) + 1 over 4 + 3
    assert probabilities[:3].sum().item() == 0.0  # no special token is ever a target
    loss = family_of("geneformer").reconstruction_loss(log_probabilities, torch.tensor([5]))
    assert loss.item() == pytest.approx(np.log(7))


@pytest.fixture(scope="module")
def program_corpus():
    """300 simulated cells over 100 genes with strong programs: co-expression a tiny model learns in seconds."""
    from scipy import sparse

    from benchmark.data.simulate import simulate_immune
    from models.foundation.corpus import Corpus

    cells = simulate_immune(n_cells=300, n_batches=2, seed=5, n_genes=100, program_lfc=2.0)
    counts = sparse.csr_matrix(cells.X)
    return Corpus(counts, np.asarray(counts.sum(axis=1)).ravel(), list(cells.var_names))


@pytest.fixture(scope="module")
def learned(program_corpus, tmp_path_factory):
    """Every family pretrained 300 steps on ``program_corpus``: family -> (summary, folder)."""
    root = tmp_path_factory.mktemp("learned")
    params = {**TINY, "steps": 300, "lr": 3e-3, "warmup": 10, "checkpoint_every": 300, "heldout_fraction": 0.2}
    return {f: (pretrain(f, program_corpus, params, 2, root / f, root / "progress" / f), root / f) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_heldout_loss_is_below_the_marginal_baseline_after_pretraining(family, learned):
    check = learned[family][0]["check"]
    initial, final = check["initial"], check["final"]
    assert initial["cells"] == final["cells"] == 60 and final["masked_positions"] > 300
    assert initial["loss"] > initial["baseline_loss"]  # the untrained model is worse than the marginal predictor
    assert final["loss"] < final["baseline_loss"] < initial["loss"]
    assert final["accuracy"] > initial["accuracy"]


def test_heldout_check_scores_only_masked_tokens(corpus):
    """A Geneformer that copies its input is right on every kept token: the check must not count those."""
    from models.foundation.checkpoint import build_model

    tokenizer = make_tokenizer("geneformer", corpus, TINY)
    model = build_model(model_config("geneformer", TINY, tokenizer), tokenizer)
    n_tokens = len(tokenizer.vocabulary)
    model.hidden_states = lambda batch, masked=None: [torch.nn.functional.one_hot(batch.ids, n_tokens).float()]
    model.predict = lambda hidden: 50 * hidden  # logits: the input token, by far
    train, held = heldout_split(corpus.n_cells, 0.2, 0)
    check = heldout_check(model, tokenizer, corpus, train, held, seed=0)
    assert check["masked_positions"] > 100 and check["accuracy"] == 0.0  # a masked token shows only <mask>


# --- results and report -------------------------------------------------------------------------------


def test_pretraining_checks_are_read_from_the_checkpoints(learned, program_corpus, tmp_path):
    pretrain(
        "scgpt",
        program_corpus,
        {**TINY, "random_init": True, "heldout_fraction": 0.2},
        9,
        tmp_path / "twin",
        tmp_path / "progress",
    )
    summary, folder = learned["scgpt"]
    rows = {
        row["model"]: row
        for row in pretraining_checks({"scgpt": str(folder), "scgpt_random_init": str(tmp_path / "twin")})
    }
    assert rows["scgpt"]["steps"] == 300 and rows["scgpt"]["learned"] is True and not rows["scgpt"]["random_init"]
    assert rows["scgpt"]["final"] == summary["check"]["final"] and len(rows["scgpt"]["loss_curve"]) == 40
    assert rows["scgpt"]["loss_curve"][0] == pytest.approx(np.mean(summary["losses"][:8]))  # 300 steps in 40 windows
    assert rows["scgpt"]["cpu_seconds"] > 0 and rows["scgpt"]["steps_per_second"] > 0
    twin = rows["scgpt_random_init"]
    assert twin["random_init"] and twin["steps"] == 0 and twin["initial"] == twin["final"] and twin["loss_curve"] == []
    assert twin["learned"] is False  # an untrained model does not beat the marginal baseline
    assert json.loads((tmp_path / "twin" / "config.json").read_text())["pretraining"]["random_init"] is True

    from benchmark.report.render import render_leaderboard
    from tests import report_fixture

    (tmp_path / "report").mkdir()
    results, _, _ = report_fixture.build(tmp_path / "report", failed=None)
    results["pretraining"] = {"pairs": [], "gains": [], "checks": list(rows.values())}
    html = render_leaderboard(results)
    table = html[html.index('id="pretraining-checks"') :]
    assert "<polyline" in table and "<i>not trained</i>" in table and ">yes<" in table
    assert (
        f"{rows['scgpt']['final']['loss']:.3f}" in table and f"{rows['scgpt']['final']['baseline_loss']:.3f}" in table
    )


def test_downsample_means_over_windows():
    assert downsample([1.0, 2.0, 3.0], 5) == [1.0, 2.0, 3.0]
    assert downsample([1.0, 3.0, 5.0, 7.0, 9.0], 2) == [3.0, 8.0]  # windows [1, 3, 5] and [7, 9]


def test_gain_table_and_report_section(tmp_path, monkeypatch):
    """With B declared the twin of A, the gains are A's scaled scores minus B's, worked out by hand from
    tests/report_fixture.py: integration bio (0.9 - 0.1) / 0.9 vs (0.5 - 0.1) / 0.9, batch 0.8 / 0.9 vs 0.3 / 0.9;
    annotation (0.3 - 0.1) / 0.9 vs (0.95 - 0.1) / 0.9."""
    from dataclasses import replace

    from benchmark.report.render import render_leaderboard
    from tests import report_fixture

    plain = report_fixture.spec
    monkeypatch.setattr(
        report_fixture, "spec", lambda m, p=False: replace(plain(m, p), twin_of="A" if m == "B" else None)
    )
    results, _, _ = report_fixture.build(tmp_path, failed=None, corpus=("sim_corpus",), pretrained=("A", "B"))
    assert results["models"]["B"]["twin_of"] == "A" and results["pretraining"]["pairs"] == [{"model": "A", "twin": "B"}]
    assert results["models"]["B"]["origin"]["source"] == "random-init"  # valid under the results schema
    gains = {(g["dataset"], g["task"], g["measure"]): g for g in results["pretraining"]["gains"]}
    assert len(gains) == 8  # 2 datasets x (integration: score, bio, batch; annotation: score)
    for dataset in ("d1", "d2"):
        assert gains[(dataset, "integration", "bio")]["gain"] == pytest.approx(0.4 / 0.9)
        assert gains[(dataset, "integration", "batch")]["gain"] == pytest.approx(0.5 / 0.9)
        assert gains[(dataset, "integration", "score")]["gain"] == pytest.approx(0.6 * 0.4 / 0.9 + 0.4 * 0.5 / 0.9)
        assert gains[(dataset, "annotation", "score")]["value"] == pytest.approx(0.2 / 0.9)
        assert gains[(dataset, "annotation", "score")]["gain"] == pytest.approx(-0.65 / 0.9)
    html = render_leaderboard(results)
    assert "Does pretraining help?" in html and 'id="pretraining-gain"' in html
    assert "+0.489" in html and "-0.722" in html and 'id="pretraining-checks"' not in html  # no checkpoints here
