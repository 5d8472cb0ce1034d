"""Published checkpoints: random weights written in each official layout load strictly into our models
and give the reference implementation's outputs (Hugging Face BERT, or a reference forward written
from the published architecture with PyTorch's own layers)."""

import argparse
import hashlib
import json
import pickle

import anndata as ad
import numpy as np
import pytest
import torch
from scipy import sparse
from torch import nn
from torch.nn import functional as F

from benchmark.errors import ConfigError
from benchmark.registry import discover, load_class
from models.foundation.extract import embed_cells, tokenize_cells
from models.foundation.plugin import FoundationPlugin, dataset_gene_ids
from models.foundation.published import load_published
from models.foundation.vocabulary import map_genes
from tests.conftest import import_or_skip

transformers = import_or_skip("transformers", "SCFM_REQUIRE_TRANSFORMERS")

N_GENES = 40
GENES = [f"ENSG{i:011d}" for i in range(N_GENES)]
SYMBOLS = [f"G{i}" for i in range(N_GENES)]


def _counts(n_cells: int = 9, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    x = rng.poisson(rng.gamma(0.6, 2.0, (n_cells, N_GENES))).astype(np.float32)
    x[:, 0] += 1  # every cell expresses something
    adata = ad.AnnData(sparse.csr_matrix(x))
    adata.var_names = SYMBOLS
    adata.var["gene_id"] = [f"{g}.7" for g in GENES]  # versioned ids, as GENCODE writes them
    return adata


def _bert_config(vocab_size: int, **changes) -> "transformers.BertConfig":
    settings = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                    intermediate_size=64, hidden_act="relu", max_position_embeddings=64, pad_token_id=0,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12)  # fmt: skip
    settings.update(changes)
    return transformers.BertConfig(**settings)


def _dictionaries(folder, specials: list[str]) -> tuple[dict, dict]:
    tokens = {t: i for i, t in enumerate(specials)} | {g: len(specials) + i for i, g in enumerate(GENES)}
    medians = {g: np.float64(0.5 + (i % 7) / 3) for i, g in enumerate(GENES)}  # numpy scalars, as published
    (folder / "token_dictionary.pkl").write_bytes(pickle.dumps(tokens))
    (folder / "gene_median_dictionary.pkl").write_bytes(pickle.dumps(medians))
    return tokens, medians


def _hf_reference_embedding(hf_model, published, adata, layer: int, pooling: str) -> np.ndarray:
    """Tokens from our tokenizer, hidden states from Hugging Face, pooled as the published code does."""
    gene_map = map_genes(published.tokenizer.vocabulary, dataset_gene_ids(adata, "ensembl"), "x")
    rows = []
    for cell in tokenize_cells(published.tokenizer, adata, gene_map, np.arange(adata.n_obs), 0):
        with torch.no_grad():
            out = hf_model(input_ids=torch.from_numpy(cell.ids)[None], output_hidden_states=True)
        states = out.hidden_states[layer][0]
        rows.append(states[0] if pooling == "cls" else states[~torch.from_numpy(cell.special)].mean(0))
    return torch.stack(rows).numpy()


def _our_embedding(published, adata, extraction) -> np.ndarray:
    gene_map = map_genes(published.tokenizer.vocabulary, dataset_gene_ids(adata, published.gene_key), "x")
    return embed_cells(published.model, published.tokenizer, adata, gene_map, extraction["pooling"],
                       extraction["layer"], 4, 0, "cpu", extraction["normalize"])  # fmt: skip


def test_geneformer_v1_safetensors_matches_bert_for_masked_lm(tmp_path):
    _dictionaries(tmp_path, ["<pad>", "<mask>"])
    torch.manual_seed(0)
    reference = transformers.BertForMaskedLM(_bert_config(N_GENES + 2)).eval()
    reference.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    published = load_published({"format": "geneformer", "path": str(tmp_path)})
    assert published.extraction == {"pooling": "mean", "layer": -2, "normalize": False}
    assert not published.tokenizer.cls and not published.tokenizer.eos
    adata = _counts()
    expected = _hf_reference_embedding(reference.bert, published, adata, -2, "mean")
    assert np.abs(_our_embedding(published, adata, published.extraction) - expected).max() < 1e-5


def test_geneformer_v2_bin_with_cls_and_eos_matches_hugging_face(tmp_path):
    tokens, _ = _dictionaries(tmp_path, ["<pad>", "<mask>", "<cls>", "<eos>"])
    torch.manual_seed(1)
    reference = transformers.BertForMaskedLM(_bert_config(N_GENES + 4)).eval()
    torch.save(reference.state_dict(), tmp_path / "pytorch_model.bin")
    reference.config.to_json_file(tmp_path / "config.json")
    published = load_published({"format": "geneformer", "path": str(tmp_path)})
    assert published.extraction["pooling"] == "cls"
    cell = published.tokenizer.cell(np.arange(N_GENES, dtype=float), 100.0, np.random.default_rng(0))
    assert cell.ids[0] == tokens["<cls>"] and cell.ids[-1] == tokens["<eos>"] and cell.special.sum() == 2
    adata = _counts(seed=1)
    expected = _hf_reference_embedding(reference.bert, published, adata, -2, "cls")
    assert np.abs(_our_embedding(published, adata, published.extraction) - expected).max() < 1e-5


def test_langcell_bert_model_and_projection_match_reference(tmp_path):
    _dictionaries(tmp_path, ["<pad>", "<mask>"])  # V1 dictionary: LangCell appends <cls>
    cell_bert = tmp_path / "cell_bert"
    torch.manual_seed(2)
    reference = transformers.BertModel(_bert_config(N_GENES + 3), add_pooling_layer=True).eval()
    reference.save_pretrained(cell_bert)
    projection = nn.Linear(32, 16)
    torch.save(projection.state_dict(), tmp_path / "cell_proj.bin")
    settings = {"format": "langcell", "path": str(cell_bert),
                "files": {"token_dictionary": "../token_dictionary.pkl",
                          "gene_median": "../gene_median_dictionary.pkl"}}  # fmt: skip
    published = load_published(settings)
    adata = _counts(seed=2)
    cls = torch.from_numpy(_hf_reference_embedding(reference, published, adata, -1, "cls"))
    with torch.no_grad():
        expected = F.normalize(projection(cls), dim=1).numpy()
    assert np.abs(_our_embedding(published, adata, published.extraction) - expected).max() < 1e-5


def test_sccello_with_extra_heads_and_one_token_type(tmp_path):
    _dictionaries(tmp_path, ["<pad>", "<mask>"])
    torch.manual_seed(3)
    reference = transformers.BertForMaskedLM(_bert_config(N_GENES + 3, type_vocab_size=1)).eval()
    state = dict(reference.state_dict())
    state["cell_cls.weight"], state["learned_centroid.weight"] = torch.randn(5, 32), torch.randn(7, 32)
    torch.save(state, tmp_path / "pytorch_model.bin")
    reference.config.to_json_file(tmp_path / "config.json")
    published = load_published({"format": "sccello", "path": str(tmp_path)})
    adata = _counts(seed=3)
    expected = _hf_reference_embedding(reference.bert, published, adata, -1, "cls")
    assert np.abs(_our_embedding(published, adata, published.extraction) - expected).max() < 1e-5


# --- scGPT ------------------------------------------------------------------------------------------


def _scgpt_checkpoint(folder, d: int = 32, layers: int = 2, heads: int = 4, d_hid: int = 48) -> dict:
    vocab = {g: i for i, g in enumerate(SYMBOLS)} | {"<pad>": N_GENES, "<cls>": N_GENES + 1, "<eoc>": N_GENES + 2}
    torch.manual_seed(4)
    state = {
        "encoder.embedding.weight": torch.randn(len(vocab), d),
        "encoder.enc_norm.weight": 1 + 0.1 * torch.randn(d), "encoder.enc_norm.bias": 0.1 * torch.randn(d),
        "value_encoder.linear1.weight": torch.randn(d, 1), "value_encoder.linear1.bias": torch.randn(d),
        "value_encoder.linear2.weight": torch.randn(d, d) / d**0.5, "value_encoder.linear2.bias": torch.randn(d),
        "value_encoder.norm.weight": torch.ones(d), "value_encoder.norm.bias": torch.zeros(d),
        "mvc_decoder.gene2query.weight": torch.randn(d, d), "mvc_decoder.gene2query.bias": torch.randn(d),
        "mvc_decoder.W.weight": torch.randn(d, d),
        "cls_decoder._decoder.0.weight": torch.randn(d, d),  # a fine-tuning head the embedding does not use
    }  # fmt: skip
    for i in (0, 2, 4):
        state[f"decoder.fc.{i}.weight"] = torch.randn(1 if i == 4 else d, d)
        state[f"decoder.fc.{i}.bias"] = torch.randn(1 if i == 4 else d)
    for i in range(layers):
        prefix = f"transformer_encoder.layers.{i}."
        state |= {prefix + "self_attn.Wqkv.weight": torch.randn(3 * d, d) / d**0.5,
                  prefix + "self_attn.Wqkv.bias": 0.1 * torch.randn(3 * d),
                  prefix + "self_attn.out_proj.weight": torch.randn(d, d) / d**0.5,
                  prefix + "self_attn.out_proj.bias": 0.1 * torch.randn(d),
                  prefix + "linear1.weight": torch.randn(d_hid, d) / d**0.5,
                  prefix + "linear1.bias": torch.randn(d_hid),
                  prefix + "linear2.weight": torch.randn(d, d_hid) / d_hid**0.5,
                  prefix + "linear2.bias": torch.randn(d),
                  prefix + "norm1.weight": torch.ones(d), prefix + "norm1.bias": torch.zeros(d),
                  prefix + "norm2.weight": torch.ones(d), prefix + "norm2.bias": torch.zeros(d)}  # fmt: skip
    torch.save(state, folder / "best_model.pt")
    (folder / "vocab.json").write_text(json.dumps(vocab))
    args = {"nlayers": layers, "nheads": heads, "embsize": d, "d_hid": d_hid, "n_bins": 51, "max_seq_len": 30,
            "pad_value": -2, "input_emb_style": "continuous", "dropout": 0.2}  # fmt: skip
    (folder / "args.json").write_text(json.dumps(args))
    return state


def _scgpt_reference(state: dict, ids: torch.Tensor, values: torch.Tensor, pad: torch.Tensor, layers: int,
                     heads: int) -> torch.Tensor:  # fmt: skip
    """scGPT's TransformerModel._encode, written from the published architecture with torch layers."""
    d = state["encoder.embedding.weight"].shape[1]
    genes = F.layer_norm(F.embedding(ids, state["encoder.embedding.weight"]), (d,),
                         state["encoder.enc_norm.weight"], state["encoder.enc_norm.bias"])  # fmt: skip
    v = values.clamp(max=512).unsqueeze(-1)
    v = F.relu(F.linear(v, state["value_encoder.linear1.weight"], state["value_encoder.linear1.bias"]))
    v = F.linear(v, state["value_encoder.linear2.weight"], state["value_encoder.linear2.bias"])
    v = F.layer_norm(v, (d,), state["value_encoder.norm.weight"], state["value_encoder.norm.bias"])
    x = genes + v
    for i in range(layers):
        prefix = f"transformer_encoder.layers.{i}."
        layer = nn.TransformerEncoderLayer(d, heads, state[prefix + "linear1.weight"].shape[0], dropout=0.0,
                                           batch_first=True, norm_first=False)  # fmt: skip
        layer.load_state_dict({
            "self_attn.in_proj_weight": state[prefix + "self_attn.Wqkv.weight"],
            "self_attn.in_proj_bias": state[prefix + "self_attn.Wqkv.bias"],
            **{k: state[prefix + k] for k in ("self_attn.out_proj.weight", "self_attn.out_proj.bias", "linear1.weight",
               "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight",
               "norm2.bias")},
        })  # fmt: skip
        layer.eval()
        x = layer(x, src_key_padding_mask=pad)
    return x


def test_scgpt_folder_matches_reference_forward(tmp_path):
    state = _scgpt_checkpoint(tmp_path)
    published = load_published({"format": "scgpt", "path": str(tmp_path)})
    assert published.extraction == {"pooling": "cls", "layer": -1, "normalize": True}
    adata = _counts(seed=4)
    dense = adata.X.toarray()
    dense[:, :35] += 1  # more expressed genes than max_seq_len - 1: genes are sampled
    adata.X = sparse.csr_matrix(dense)
    ours = _our_embedding(published, adata, {"pooling": "cls", "layer": -1, "normalize": False})
    gene_map = map_genes(published.tokenizer.vocabulary, list(adata.var_names), "scgpt")
    cells = tokenize_cells(published.tokenizer, adata, gene_map, np.arange(adata.n_obs), 0)
    assert max(len(c.ids) for c in cells) == 30 and cells[0].values[0] == -2.0
    batch = published.tokenizer.collate(cells)
    expected = _scgpt_reference(state, batch.ids, batch.values, ~batch.keep, 2, 4)[:, 0]
    assert np.abs(ours - expected.detach().numpy()).max() < 1e-5


def test_scgpt_vocabulary_that_does_not_match_the_weights_is_an_error(tmp_path):
    _scgpt_checkpoint(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    (tmp_path / "vocab.json").write_text(json.dumps(vocab | {"EXTRA": len(vocab)}))
    with pytest.raises(ConfigError, match="gene embedding has 43 rows but .*vocab.json .* gives 44 tokens: the "
                       "vocabulary does not match the weights"):  # fmt: skip
        load_published({"format": "scgpt", "path": str(tmp_path)})


def test_scgpt_unexpected_and_missing_keys_are_listed(tmp_path):
    state = _scgpt_checkpoint(tmp_path)
    state["surprise.weight"] = torch.zeros(1)
    del state["transformer_encoder.layers.1.linear2.bias"]
    torch.save(state, tmp_path / "best_model.pt")
    with pytest.raises(ConfigError, match=r"missing: \['transformer_encoder.layers.1.linear2.bias'\]; "
                       r"unexpected: \['surprise.weight'\]"):  # fmt: skip
        load_published({"format": "scgpt", "path": str(tmp_path)})


# --- scFoundation -----------------------------------------------------------------------------------


def _scfoundation_checkpoint(folder, d: int = 32, layers: int = 2, heads: int = 4) -> dict:
    torch.manual_seed(5)
    n_pos = N_GENES + 3
    state = {
        "token_emb.mlp.weight": torch.randn(100, 1), "token_emb.mlp.bias": torch.randn(100),
        "token_emb.mlp2.weight": torch.randn(100, 100) / 10, "token_emb.mlp2.bias": torch.randn(100),
        "token_emb.emb.weight": torch.randn(100, d), "token_emb.emb_mask.weight": torch.randn(1, d),
        "token_emb.emb_pad.weight": torch.randn(1, d), "pos_emb.weight": torch.randn(n_pos, d),
        "encoder.norm.weight": 1 + 0.1 * torch.randn(d), "encoder.norm.bias": 0.1 * torch.randn(d),
        "decoder_embed.weight": torch.randn(16, d), "to_final.weight": torch.randn(1, 16),
    }  # fmt: skip
    for i in range(layers):
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, batch_first=True)
        state |= {f"encoder.transformer_encoder.{i}.{k}": v for k, v in layer.state_dict().items()}
    config = {"model": "mae_autobin", "model_config": {"mae_autobin": {
        "encoder": {"hidden_dim": d, "depth": layers, "heads": heads, "dim_head": d // heads}}},
        "args": argparse.Namespace(seed=0)}  # a pickled object, as Lightning leaves in models.ckpt  # fmt: skip
    bundle = {part: {"config": config, "state_dict": {f"model.{k}": v for k, v in state.items()}}
              for part in ("cell", "gene", "rde")}  # fmt: skip
    torch.save(bundle, folder / "models.ckpt")
    (folder / "OS_scRNA_gene_index.19264.tsv").write_text("gene_name\n" + "\n".join(SYMBOLS) + "\n")
    return state


def _scfoundation_reference(state: dict, counts: np.ndarray, layers: int, heads: int) -> torch.Tensor:
    """get_embedding.py for one cell (no padding), written from the published architecture."""
    total = counts.sum()
    nonzero = np.flatnonzero(counts > 0)
    values = np.concatenate([np.log1p(counts[nonzero] / total * 1e4), [4.0, np.log10(total)]])
    positions = torch.from_numpy(np.concatenate([nonzero, [N_GENES, N_GENES + 1]]))
    v = torch.tensor(values, dtype=torch.float32).unsqueeze(-1)
    h = F.leaky_relu(F.linear(v, state["token_emb.mlp.weight"], state["token_emb.mlp.bias"]), 0.1)
    h = h + F.linear(h, state["token_emb.mlp2.weight"], state["token_emb.mlp2.bias"])
    x = torch.softmax(h, dim=-1) @ state["token_emb.emb.weight"] + state["pos_emb.weight"][positions]
    d = x.shape[-1]
    for i in range(layers):
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, batch_first=True).eval()
        prefix = f"encoder.transformer_encoder.{i}."
        layer.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        x = layer(x[None])[0]
    x = F.layer_norm(x, (d,), state["encoder.norm.weight"], state["encoder.norm.bias"])
    genes = x[:-2]
    return torch.cat([x[-1], x[-2], genes.max(0).values, genes.mean(0)])


def test_scfoundation_needs_trust_then_matches_reference_forward(tmp_path):
    state = _scfoundation_checkpoint(tmp_path)
    settings = {"format": "scfoundation", "path": str(tmp_path)}
    with pytest.raises(ConfigError, match="refuses .* if you trust its source, set `trusted: true`"):
        load_published(settings)
    published = load_published({**settings, "trusted": True})
    panel = _counts(seed=5)
    outside = np.random.default_rng(5).poisson(20.0, (panel.n_obs, 3)).astype(np.float32)  # e.g. MALAT1, XIST
    adata = ad.AnnData(sparse.csr_matrix(np.hstack([panel.X.toarray(), outside])))
    adata.var_names = SYMBOLS + ["OUT1", "OUT2", "OUT3"]
    ours = _our_embedding(published, adata, published.extraction)
    assert ours.shape == (adata.n_obs, 4 * 32)
    with torch.no_grad():  # the original cuts the data to its panel first: the total is over panel genes
        expected = np.stack([_scfoundation_reference(state, panel.X[i].toarray().ravel(), 2, 4).numpy()
                             for i in range(adata.n_obs)])  # fmt: skip
    assert np.abs(ours - expected).max() < 1e-5


def test_scfoundation_gene_list_that_does_not_match_the_weights_is_an_error(tmp_path):
    _scfoundation_checkpoint(tmp_path)
    (tmp_path / "OS_scRNA_gene_index.19264.tsv").write_text("gene_name\n" + "\n".join(SYMBOLS[:-1]) + "\n")
    with pytest.raises(ConfigError, match="pos_emb has 43 rows but the gene list has 39 genes .* does not match"):
        load_published({"format": "scfoundation", "path": str(tmp_path), "trusted": True})


# --- files: corruption, checksums, missing assets, downloads -----------------------------------------


@pytest.fixture
def geneformer_folder(tmp_path):
    _dictionaries(tmp_path, ["<pad>", "<mask>"])
    torch.manual_seed(6)
    transformers.BertForMaskedLM(_bert_config(N_GENES + 2)).save_pretrained(tmp_path)
    return tmp_path


def test_corrupted_weights_are_a_clear_error(geneformer_folder):
    weights = geneformer_folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ConfigError, match="model.safetensors cannot be read .* truncated or corrupt"):
        load_published({"format": "geneformer", "path": str(geneformer_folder)})


def test_wrong_sha256_is_a_clear_error(geneformer_folder):
    settings = {"format": "geneformer", "path": str(geneformer_folder), "model": "geneformer",
                "files": {"weights": {"path": "model.safetensors", "sha256": "0" * 64}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"has sha256 [0-9a-f]{64} but `checkpoints.geneformer.files.weights.sha256`"):
        load_published(settings)


def test_missing_asset_file_names_the_role_and_the_setting(geneformer_folder):
    (geneformer_folder / "gene_median_dictionary.pkl").unlink()
    with pytest.raises(ConfigError, match="no gene_median file; looked for .*gene_median_dictionary.pkl .*"
                       r"set `checkpoints.geneformer.files.gene_median`"):  # fmt: skip
        load_published({"format": "geneformer", "path": str(geneformer_folder), "model": "geneformer"})


def test_token_dictionary_that_does_not_match_the_weights_is_an_error(geneformer_folder):
    tokens = pickle.loads((geneformer_folder / "token_dictionary.pkl").read_bytes())
    (geneformer_folder / "token_dictionary.pkl").write_bytes(pickle.dumps(tokens | {"ENSGEXTRA": len(tokens)}))
    with pytest.raises(
        ConfigError, match="has 43 tokens but .*config.json says vocab_size 42: the vocabulary does not"
    ):
        load_published({"format": "geneformer", "path": str(geneformer_folder)})


def test_dictionary_pickles_cannot_run_code(geneformer_folder):
    (geneformer_folder / "token_dictionary.pkl").write_bytes(pickle.dumps({"a": argparse.Namespace()}))
    with pytest.raises(ConfigError, match="not a plain-data pickle .*refusing to load argparse.Namespace"):
        load_published({"format": "geneformer", "path": str(geneformer_folder)})


def test_weights_downloaded_from_a_url_with_sha256(http_server, geneformer_folder, tmp_path, monkeypatch):
    base, root, requests = http_server
    data = (geneformer_folder / "model.safetensors").read_bytes()
    (root / "model.safetensors").write_bytes(data)
    (geneformer_folder / "model.safetensors").unlink()
    monkeypatch.setenv("SCFM_CACHE_DIR", str(tmp_path / "cache"))
    entry = {"url": f"{base}/model.safetensors", "sha256": hashlib.sha256(data).hexdigest()}
    settings = {"format": "geneformer", "path": str(geneformer_folder), "files": {"weights": entry}}
    load_published(settings)
    load_published(settings)
    assert requests == ["/model.safetensors"]


def test_plugin_embeds_with_a_published_checkpoint_and_records_it(geneformer_folder):
    class Plugin(FoundationPlugin):
        family = "geneformer"

    settings = {"format": "geneformer", "path": str(geneformer_folder), "model": "geneformer"}
    params = {"pooling": "cls", "layer": -1, "normalize": True, "embed_batch_size": 4}
    plugin = Plugin(params=params, seed=0, checkpoint=settings)
    embedding = plugin.embed(_counts())
    assert embedding.shape == (9, 32) and plugin.notes["extraction"]["pooling"] == "mean"
    assert plugin.notes["checkpoint"] == settings and plugin.notes["gene_overlap"]["genes_matched"] == N_GENES
    ours = Plugin(params=params, seed=0, checkpoint={**settings, "extraction": "model"}).embed(_counts())
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0)  # model.yaml's pooling: normalised <cls>... of V1
    no_ids = _counts()
    del no_ids.var["gene_id"]
    with pytest.raises(Exception, match="Ensembl gene ids but the dataset has none; set `keys.gene_id`"):
        plugin.embed(no_ids)


@pytest.mark.parametrize("model_id", ["langcell", "sccello"])
def test_published_only_plugins_embed_deterministically(model_id, tmp_path):
    _dictionaries(tmp_path, ["<pad>", "<mask>"])
    torch.manual_seed(7)
    transformers.BertForMaskedLM(_bert_config(N_GENES + 3)).save_pretrained(tmp_path)
    torch.save(nn.Linear(32, 8).state_dict(), tmp_path / "cell_proj.bin")
    spec = discover()[model_id]
    assert spec.checkpoint == "published"
    settings = {"format": model_id, "path": str(tmp_path), "model": model_id}
    first, second = (load_class(spec)(spec.params_with(None), seed=0, checkpoint=settings).embed(_counts())
                     for _ in range(2))  # fmt: skip
    assert first.shape == (9, 8 if model_id == "langcell" else 32) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)


# --- UCE --------------------------------------------------------------------------------------------


class _PositionalEncoding(nn.Module):
    def __init__(self, d: int, max_len: int) -> None:
        super().__init__()
        self.register_buffer("pe", torch.randn(max_len, 1, d))


class _UceReference(nn.Module):
    """UCE's TransformerModel and its evaluation forward, written from the published code."""

    def __init__(self, n_rows: int, token_dim: int = 24, d: int = 16, heads: int = 2, layers: int = 2,
                 max_len: int = 300) -> None:  # fmt: skip
        super().__init__()

        def block(n_in, n_out):
            return nn.Sequential(nn.Linear(n_in, n_out), nn.LayerNorm(n_out), nn.GELU(), nn.Dropout(0.0))

        self.d = d
        self.pe_embedding = nn.Embedding(n_rows, token_dim)
        self.encoder = nn.Sequential(nn.Linear(token_dim, d), nn.GELU(), nn.LayerNorm(d))
        self.pos_encoder = _PositionalEncoding(d, max_len)
        layer = nn.TransformerEncoderLayer(d, heads, 3 * d, dropout=0.0)  # sequence-first, post-LN, ReLU
        self.transformer_encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.decoder = nn.Sequential(block(d, 20), block(20, 12), block(12, 12), nn.Linear(12, 12))
        self.binary_decoder = nn.Sequential(block(24, 8), nn.Linear(8, 1))  # pretraining only
        self.gene_embedding_layer = nn.Sequential(nn.Linear(token_dim, d), nn.GELU(), nn.LayerNorm(d))

    def forward(self, sentences: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``sentences``: (length, batch) token rows; ``mask``: (batch, length) 1.0 real, 0.0 padding."""
        src = F.normalize(self.pe_embedding(sentences), dim=2)
        src = self.encoder(src) * self.d**0.5 + self.pos_encoder.pe[: src.size(0)]
        output = self.transformer_encoder(src, src_key_padding_mask=1 - mask)  # a float mask: added to logits
        return F.normalize(self.decoder(output)[0], dim=1)


def _uce_files(folder) -> tuple[_UceReference, int]:
    human = [s.upper() for s in SYMBOLS[::-1]] + ["NOPOSITION"]  # protein file order gives the token rows
    mouse = ["Mgene1", "Mgene2"]
    (folder / "species_offsets.pkl").write_bytes(pickle.dumps({"human": 4, "mouse": 4 + len(human)}))
    (folder / "protein_embeddings").mkdir()
    torch.save({s: torch.randn(24) for s in human}, folder / "protein_embeddings" / "human_proteins.pt")
    chromosomes = ["1", "2", "X", "10"]
    lines = ["species,gene_symbol,chromosome,start"]
    lines += [f"human,{s.upper()},{chromosomes[i % 4]},{(i * 7919) % 1000}" for i, s in enumerate(SYMBOLS)]
    lines += ["mouse,Mgene1,1,5", "mouse,Mgene2,Y,9"]
    (folder / "species_chrom.csv").write_text("\n".join(lines) + "\n")
    chrom_offset = 4 + len(human) + len(mouse)
    n_codes = 6  # human_1, human_10, human_2, human_X, mouse_1, mouse_Y
    torch.manual_seed(8)
    reference = _UceReference(chrom_offset + n_codes).eval()
    torch.save(reference.state_dict(), folder / "4layer_model.torch")
    return reference, chrom_offset


def _uce_settings(folder, chrom_offset: int) -> dict:
    return {"format": "uce", "path": str(folder), "heads": 2, "chrom_token_offset": chrom_offset, "sample_size": 64,
            "files": {"protein_embeddings": "protein_embeddings/human_proteins.pt"}}  # fmt: skip


def test_uce_cell_sentences_follow_the_published_layout(tmp_path):
    _, chrom_offset = _uce_files(tmp_path)
    tokenizer = load_published(_uce_settings(tmp_path, chrom_offset)).tokenizer
    counts = np.zeros(len(tokenizer.vocabulary.genes))
    counts[:12] = np.arange(1, 13)
    cell = tokenizer.cell(counts, counts.sum(), np.random.default_rng(0))
    assert cell.ids[0] == 3 and not (cell.ids == 0).any()
    chrom_positions = np.flatnonzero(cell.ids >= chrom_offset)
    assert len(cell.ids) == 1 + 64 + 2 * len(chrom_positions)  # <cls>, genes, one frame per chromosome
    ends = np.flatnonzero(cell.ids == 2)
    starts_of = dict(zip(tokenizer.rows, tokenizer.starts, strict=True))
    for first, last in zip(chrom_positions, ends, strict=True):
        genes = cell.ids[first + 1 : last]
        assert len(genes) and np.all(np.diff([starts_of[g] for g in genes]) >= 0)  # sorted by genomic start
    assert set(cell.ids[~cell.special]) <= set(tokenizer.rows[:12])  # only expressed genes are drawn


def test_uce_matches_reference_forward_with_its_padding_quirk(tmp_path):
    reference, chrom_offset = _uce_files(tmp_path)
    published = load_published(_uce_settings(tmp_path, chrom_offset))
    assert published.model.encoder.config.layers == 2 and published.gene_key == "symbol_upper"
    adata = _counts(seed=8)
    dense = adata.X.toarray()
    dense[::2, 3::4] = 0  # half of the cells express nothing on chromosome 10: shorter sentences
    adata.X = sparse.csr_matrix(dense)
    ours = embed_cells(published.model, published.tokenizer, adata,
                       map_genes(published.tokenizer.vocabulary, dataset_gene_ids(adata, "symbol_upper"), "uce"),
                       "cls", -1, 64, 0, "cpu", True)  # fmt: skip
    gene_map = map_genes(published.tokenizer.vocabulary, [s.upper() for s in adata.var_names], "uce")
    cells = tokenize_cells(published.tokenizer, adata, gene_map, np.arange(adata.n_obs), 0)
    batch = published.tokenizer.collate(cells)
    assert not batch.keep.all()  # cells of different lengths: the batch is padded
    with torch.no_grad():
        expected = reference(batch.ids.T, batch.keep.float()).numpy()
    assert np.abs(ours - expected).max() < 1e-5


def test_uce_assets_that_do_not_match_the_weights_are_an_error(tmp_path):
    _, chrom_offset = _uce_files(tmp_path)
    with pytest.raises(ConfigError, match="token table has 53 rows but the species files need 55: the assets"):
        load_published(_uce_settings(tmp_path, chrom_offset + 2))


def test_uce_original_filter_drops_the_genes_scanpy_drops_and_counts_the_cells(tmp_path):
    """``original_filter`` = eval_single_anndata.py's sc.pp.filter_genes(min_cells=10) then
    filter_cells(min_genes=25), checked against scanpy itself; no cell is dropped."""
    import scanpy as sc

    _, chrom_offset = _uce_files(tmp_path)
    rng = np.random.default_rng(9)
    x = (rng.random((30, N_GENES)) < 0.9).astype(np.float32) * rng.integers(1, 6, (30, N_GENES))
    x[:, :4] = 0  # genes 0, 2, 3 dropped: 0 is in 9 cells; gene 1 in 10 cells: kept
    x[:9, 0] = 3
    x[:10, 1] = 2
    x[:5, 26:] = 0  # 5 cells keep at most 24 genes: the original drops them
    adata = ad.AnnData(sparse.csr_matrix(x))
    adata.var_names = SYMBOLS
    spec = discover()["uce"]
    settings = {**_uce_settings(tmp_path, chrom_offset), "model": "uce"}
    filtered = load_class(spec)(spec.params_with({"original_filter": True}), seed=3, checkpoint=settings)
    ours = filtered.embed(adata)

    reference = adata.copy()
    sc.pp.filter_genes(reference, min_cells=10)
    dropped_cells = reference.n_obs - sc.pp.filter_cells(reference.copy(), min_genes=25, inplace=False)[0].sum()
    assert dropped_cells == 5 and list(reference.var_names) == [SYMBOLS[1]] + SYMBOLS[4:]
    unfiltered = load_class(spec)(spec.params_with(None), seed=3, checkpoint=settings)
    np.testing.assert_array_equal(ours, unfiltered.embed(reference))  # the same genes, every cell embedded
    assert filtered.notes["original_filter"] == {"min_cells": 10, "min_genes": 25, "genes_dropped": 3,
                                                 "matched_genes_dropped": 3, "cells_below_min_genes": 5}  # fmt: skip
    assert filtered.notes["gene_overlap"]["genes_matched"] == N_GENES - 3
    assert not np.array_equal(ours, unfiltered.embed(adata))


def test_uce_plugin_embeds_deterministically(tmp_path):
    _, chrom_offset = _uce_files(tmp_path)
    spec = discover()["uce"]
    settings = {**_uce_settings(tmp_path, chrom_offset), "model": "uce"}
    first, second = (load_class(spec)(spec.params_with(None), seed=3, checkpoint=settings).embed(_counts())
                     for _ in range(2))  # fmt: skip
    assert first.shape == (9, 12) and np.allclose(np.linalg.norm(first, axis=1), 1.0)
    np.testing.assert_array_equal(first, second)


# --- throughput script (for GPU machines; here tiny, on the CPU) ------------------------------------


def test_throughput_script_runs_every_published_architecture_tiny(tmp_path):
    from models.foundation.published import throughput

    out = tmp_path / "throughput.json"
    throughput.main(["--tiny", "--device", "cpu", "--cells", "4", "--time-limit", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    runs = {(r["model"], r["implementation"], r["precision"]) for r in rows}
    bert = [a.name for a in throughput.PUBLISHED if a.kind == "bert"]
    expected = {(a.name, "ours", p) for a in throughput.PUBLISHED for p in ("fp32", "bf16")}
    assert runs == expected | {(name, "hugging_face", p) for name in bert for p in ("fp32", "bf16")}
    assert all(r["cells"] == 4 and r["cells_per_s"] > 0 for r in rows)
    hf_fp32 = [r for r in rows if r["implementation"] == "hugging_face" and r["precision"] == "fp32"]
    assert len(hf_fp32) == 5 and max(r["max_abs_diff_vs_ours"] for r in hf_fp32) < 1e-5  # same weights, same output
