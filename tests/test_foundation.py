"""The in-repo scFM parts: tokenizers by hand, masking ratios, learning, determinism, batching, resume."""

import json

import numpy as np
import pytest
import torch

from benchmark.errors import ContractError, NotApplicable
from models.foundation.architectures import FoundationModel
from models.foundation.checkpoint import load_checkpoint
from models.foundation.corpus import build_corpus
from models.foundation.extract import embed_cells
from models.foundation.masking import mask_batch, masked_loss
from models.foundation.pretrain import make_tokenizer, model_config, pretrain
from models.foundation.tokenizers import (
    BinnedValueTokenizer,
    ContinuousValueTokenizer,
    RankValueTokenizer,
    ScBertTokenizer,
)
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary, map_genes

FAMILIES = ("geneformer", "scgpt", "scbert", "scfoundation")
POOLING = {"geneformer": ("mean", -2), "scgpt": ("cls", -1), "scbert": ("mean", -1), "scfoundation": ("all", -1)}
SMALL = {"hidden": 32, "layers": 2, "heads": 4, "ffn": 64, "context": 128, "steps": 6, "batch_size": 8,
         "lr": 1e-3, "warmup": 2, "checkpoint_every": 2, "dropout": 0.1}  # fmt: skip
VOCAB = Vocabulary.build(["A", "B", "C", "D"])  # ids: <pad> 0, <mask> 1, <cls> 2, A 3, B 4, C 5, D 6
RNG = np.random.default_rng(0)


def test_rank_value_tokens_by_hand():
    tokenizer = RankValueTokenizer(VOCAB, context=8, medians=np.array([1.0, 2.0, 1.0, 1.0]))
    # counts / 100 * 1e4 / median: A 400, B 200, C absent, D 100 -> ranked A, B, D after <cls>
    cell = tokenizer.cell(np.array([4.0, 4.0, 0.0, 1.0]), 100.0, RNG)
    assert cell.ids.tolist() == [2, 3, 4, 6] and cell.special.tolist() == [True, False, False, False]
    short = RankValueTokenizer(VOCAB, context=3, medians=np.ones(4)).cell(np.array([4.0, 4.0, 0.0, 1.0]), 100.0, RNG)
    assert short.ids.tolist() == [2, 3, 4]  # truncated to the context, <cls> included
    assert RankValueTokenizer(VOCAB, 8, np.ones(4), cls=False).cell(np.array([0, 1.0, 5, 0]), 6, RNG).ids.tolist() == [
        5,
        4,
    ]


def test_binned_value_tokens_by_hand():
    tokenizer = BinnedValueTokenizer(VOCAB, context=8, n_bins=4)
    # non-zero values B 5, C 1, D 9; edges = quantiles at 0, .5, 1 = [1, 5, 9]; bins 1..3 by left digitise
    cell = tokenizer.cell(np.array([0.0, 5.0, 1.0, 9.0]), 15.0, RNG)
    assert cell.ids.tolist() == [2, 4, 5, 6] and cell.values.tolist() == [-2.0, 2.0, 1.0, 3.0]
    sampled = BinnedValueTokenizer(VOCAB, context=3).cell(np.array([1.0, 2.0, 3.0, 4.0]), 10.0, RNG)
    assert len(sampled.ids) == 3 and sampled.ids[0] == 2  # <cls> + 2 randomly kept genes


def test_binned_values_are_binned_over_all_genes_then_sampled():
    class KeepLastTwo:  # tie-breaks at 0.5; the sample keeps C and D
        def random(self, n):
            return np.full(n, 0.5)

        def choice(self, n, size, replace):
            return np.arange(n)[-size:]

    # A..D = 1, 2, 3, 4; edges [1, 2.5, 4]: bins 1, 1, 2, 3 over the whole cell (C 3 -> 2, D 4 -> 3);
    # binning only the kept C and D would give them 1 and 3
    cell = BinnedValueTokenizer(VOCAB, context=3, n_bins=4).cell(np.array([1.0, 2.0, 3.0, 4.0]), 10.0, KeepLastTwo())
    assert cell.ids.tolist() == [2, 5, 6] and cell.values.tolist() == [-2.0, 2.0, 3.0]


def test_scbert_tokens_by_hand():
    tokenizer = ScBertTokenizer(VOCAB, bin_num=5)
    # total 1e4 keeps the counts: floor(log2(1 + [0, 1, 3, 100])) = [0, 1, 2, 6] -> capped at 5; one extra position
    cell = tokenizer.cell(np.array([0.0, 1.0, 3.0, 100.0]), 1e4, RNG)
    assert cell.ids.tolist() == [0, 1, 2, 5, 0] and cell.genes.tolist() == [0, 1, 2, 3, 4]
    assert tokenizer.mask_id == tokenizer.pad_id == 6


def test_continuous_tokens_by_hand():
    tokenizer = ContinuousValueTokenizer(VOCAB, context=8)
    cell = tokenizer.cell(np.array([0.0, 10.0, 0.0, 30.0]), 100.0, RNG)
    assert cell.genes.tolist() == [1, 3, 4, 5]  # B, D, then T (position 4) and S (position 5)
    np.testing.assert_allclose(cell.values, [np.log1p(1000), np.log1p(3000), 2.0, 2.0], rtol=1e-6)
    assert cell.special.tolist() == [False, False, True, True]
    fixed = ContinuousValueTokenizer(VOCAB, 8, target=4.0).cell(np.array([0.0, 10.0, 0.0, 30.0]), 100.0, RNG)
    assert fixed.values[-2:].tolist() == [4.0, 2.0]


def test_collate_pads_and_masks():
    tokenizer = RankValueTokenizer(VOCAB, 8, np.ones(4))
    batch = tokenizer.collate([tokenizer.cell(np.array([1.0, 0, 0, 0]), 1, RNG), tokenizer.cell(np.ones(4), 4, RNG)])
    assert batch.ids.tolist() == [[2, 3, 0, 0, 0], [2, 3, 4, 5, 6]]
    assert batch.keep.sum(1).tolist() == [2, 5]


def test_gene_overlap():
    assert map_genes(VOCAB, ["X", "B", "D"], "m").report()["overlap"] == 0.5
    with pytest.raises(
        NotApplicable, match=r"m: none of the dataset's 2 genes is in the model's vocabulary of 4 genes"
    ):
        map_genes(VOCAB, ["ENSG1", "ENSG2"], "m")
    assert map_genes(VOCAB, ["A"], "m").report()["low_overlap"]


@pytest.fixture(scope="module")
def corpus():
    from tests.conftest import _prepared

    return build_corpus([_prepared("sim")[:, :300].copy()])  # 300 genes: scBERT attends over every gene


def fixed_batch(family, corpus, n=16):
    tokenizer = make_tokenizer(family, corpus, SMALL)
    dense = np.asarray(corpus.counts[:n].todense(), dtype=float)
    return tokenizer, tokenizer.collate(
        [tokenizer.cell(dense[i], corpus.totals[i], np.random.default_rng(i)) for i in range(n)]
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_masking_ratio(family, corpus):
    tokenizer, batch = fixed_batch(family, corpus, n=64)
    rates = {"geneformer": 0.15, "scgpt": 0.4, "scbert": 0.15, "scfoundation": 0.3}
    masked = mask_batch(family, batch, torch.Generator().manual_seed(0), tokenizer.mask_id, len(tokenizer.vocabulary))
    candidates = batch.keep & ~batch.special & ((batch.ids > 0) if family == "scbert" else True)
    share = masked.chosen.sum().item() / candidates.sum().item()
    assert share == pytest.approx(rates[family], abs=0.02)
    assert not (masked.chosen & ~candidates).any()  # never <cls>, T/S, padding (or zero bins for scBERT)
    if family == "geneformer":
        replaced = masked.batch.ids[masked.chosen]
        assert (replaced == tokenizer.mask_id).float().mean().item() == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_steps_decrease_the_loss_on_a_fixed_batch(family, corpus):
    torch.manual_seed(0)
    tokenizer, batch = fixed_batch(family, corpus)
    from models.foundation.checkpoint import build_model

    model = build_model(model_config(family, SMALL, tokenizer), tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss():
        return masked_loss(model, batch, torch.Generator().manual_seed(7), tokenizer.mask_id)

    first = loss()
    for _ in range(8):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < first.item()


@pytest.fixture(scope="module")
def checkpoints(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {f: (pretrain(f, corpus, SMALL, 3, root / f, root / "progress" / f), root / f) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_weights_and_embeddings(family, corpus, checkpoints, tmp_path, sim):
    summary, path = checkpoints[family]
    again = pretrain(family, corpus, SMALL, 3, tmp_path / "again", tmp_path / "progress")
    assert again["losses"] == summary["losses"]
    first, tokenizer, _ = load_checkpoint(path)
    second, _, _ = load_checkpoint(tmp_path / "again")
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    gene_map = map_genes(tokenizer.vocabulary, list(sim.var_names), family)
    pooling, layer = POOLING[family]
    one = embed_cells(first, tokenizer, sim, gene_map, pooling, layer, seed=5)
    two = embed_cells(second, tokenizer, sim, gene_map, pooling, layer, seed=5)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("family", FAMILIES)
def test_embedding_does_not_depend_on_batching(family, checkpoints, sim, monkeypatch):
    import models.foundation.extract as extract

    model, tokenizer, _ = load_checkpoint(checkpoints[family][1])
    gene_map = map_genes(tokenizer.vocabulary, list(sim.var_names), family)
    pooling, layer = POOLING[family]
    whole = embed_cells(model, tokenizer, sim, gene_map, pooling, layer, batch_size=64, seed=1)
    monkeypatch.setattr(extract, "CHUNK_CELLS", 70)  # several chunks and many small batches
    first = embed_cells(model, tokenizer, sim[:150], gene_map, pooling, layer, batch_size=7, seed=1)
    rest = embed_cells(model, tokenizer, sim[150:], gene_map, pooling, layer, batch_size=7, seed=1, offset=150)
    np.testing.assert_allclose(np.vstack([first, rest]), whole, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_continues_the_same_loss_curve(family, corpus, checkpoints, tmp_path):
    summary, _ = checkpoints[family]
    partial = pretrain(family, corpus, SMALL, 3, tmp_path / "out", tmp_path / "progress", stop_after=3)
    assert partial["stopped_at"] == 3 and not (tmp_path / "out" / "manifest.json").exists()
    resumed = pretrain(family, corpus, SMALL, 3, tmp_path / "out", tmp_path / "progress")
    assert resumed["losses"] == summary["losses"]  # identical to the uninterrupted run
    assert json.loads((tmp_path / "out" / "config.json").read_text())["steps"] == SMALL["steps"]


def test_corrupted_checkpoint_is_rejected(checkpoints, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(checkpoints["scgpt"][1], copy)
    with open(copy / "model.pt", "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(ContractError, match=r"model.pt has sha256 [0-9a-f]{64} but the manifest records"):
        load_checkpoint(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(ContractError, match="manifest.json is missing"):
        load_checkpoint(copy)


def test_encoder_matches_hugging_face_bert():
    from tests.conftest import import_or_skip

    transformers = import_or_skip("transformers", "SCFM_REQUIRE_TRANSFORMERS")
    from models.foundation.hf_bert import convert_bert_state
    from models.foundation.tokenizers import TokenBatch

    config = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, hidden_act="relu", max_position_embeddings=20,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # fmt: skip
    torch.manual_seed(0)
    reference = transformers.BertForMaskedLM(config).eval()
    ours = FoundationModel("geneformer", EncoderConfig(hidden=32, layers=2, heads=4, ffn=64), 50, 47, 0, 20).eval()
    ours.load_state_dict(convert_bert_state(reference.state_dict(), 2))
    ids = torch.randint(3, 50, (3, 12))
    keep = torch.arange(12)[None] < torch.tensor([[12], [7], [3]])
    ids[~keep] = 0
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=keep.long(), output_hidden_states=True)
        batch = TokenBatch(ids, torch.zeros_like(ids), torch.zeros(ids.shape), keep, torch.zeros_like(keep))
        mine = ours.hidden_states(batch)
        logits = ours.predict(mine[-1])
    for a, b in zip(theirs.hidden_states, mine, strict=True):
        assert float(((a - b) * keep[..., None]).abs().max()) < 1e-5
    assert float(((theirs.logits - logits) * keep[..., None]).abs().max()) < 1e-4


def test_bert_key_map_is_strict():
    from models.foundation.hf_bert import convert_bert_state

    with pytest.raises(ContractError, match=r"keys do not match a 2-layer BERT; missing: \['bert.embeddings"):
        convert_bert_state({"bert.extra.weight": torch.zeros(1)}, 2, source="x")
