"""The scFM family registry, and a family added from one folder (the toy family of tests/toy_family/)."""

import numpy as np
import pytest
import torch

from models.foundation import families
from models.foundation.checkpoint import load_checkpoint
from models.foundation.corpus import build_corpus
from models.foundation.extract import embed_cells, gene_embeddings
from models.foundation.families import FAMILIES, family_of
from models.foundation.family import Family
from models.foundation.pretrain import pretrain
from models.foundation.vocabulary import map_genes

TOY = {"hidden": 16, "layers": 1, "heads": 2, "ffn": 32, "context": 32, "steps": 4, "batch_size": 16, "lr": 3e-3,
       "warmup": 1, "checkpoint_every": 4, "dropout": 0.0, "heldout_fraction": 0.1}  # fmt: skip


def test_every_registered_family_resolves():
    assert {"geneformer", "scgpt", "scbert", "scfoundation", "uce"} <= set(FAMILIES)
    for name in FAMILIES:
        family = family_of(name)
        assert isinstance(family, Family) and family.name == name


def test_unknown_family_names_the_registry_and_the_known_families():
    with pytest.raises(ValueError, match=r"unknown scFM family 'nope': .*models/foundation/families.py registers "
                                         r"\['geneformer', 'scbert', 'scfoundation', 'scgpt', 'uce'\]"):  # fmt: skip
        family_of("nope")


@pytest.fixture
def toy_registered(monkeypatch):
    """The toy family registered from its folder, as the registry line of models/README.md would."""
    monkeypatch.setitem(FAMILIES, "bag_of_genes", "tests.toy_family.bag_of_genes.family")
    families.family_of.cache_clear()
    yield
    families.family_of.cache_clear()


def test_a_family_from_one_folder_pretrains_and_embeds(toy_registered, sim, tmp_path):
    corpus = build_corpus([sim])
    summary = pretrain("bag_of_genes", corpus, TOY, 0, tmp_path / "scfm", tmp_path / "progress")
    assert summary["family"] == "bag_of_genes" and len(summary["losses"]) == 4
    assert summary["check"]["final"]["metric"] == "cross-entropy" and summary["check"]["final"]["masked_positions"] > 0
    model, tokenizer, _ = load_checkpoint(tmp_path / "scfm")
    assert [name for name, _ in model.named_children()] == ["embeddings", "head", "encoder"]
    gene_map = map_genes(tokenizer.vocabulary, list(sim.var_names), "bag_of_genes")
    cells = embed_cells(model, tokenizer, sim[:20], gene_map, "mean", -1, 8, 0)
    assert cells.shape == (20, 16) and np.isfinite(cells).all() and np.ptp(cells, axis=0).max() > 0
    genes, table = gene_embeddings(model, tokenizer)
    index = tokenizer.vocabulary.index[genes[5]]
    assert torch.equal(torch.from_numpy(table[5]), model.embeddings.token.weight[index])
