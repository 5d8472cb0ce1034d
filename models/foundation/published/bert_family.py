"""Geneformer V1/V2, LangCell and scCello: Hugging Face BERT checkpoints with Geneformer dictionaries.

- Geneformer: ``BertForMaskedLM`` folder (config.json + model.safetensors or pytorch_model.bin) and the
  token and gene-median dictionaries of the same release (V1 ``*_gc30M.pkl``: no <cls>; V2
  ``*_gc104M.pkl``: <cls> ... <eos>). Cell embedding as ``EmbExtractor``: second-to-last layer, mean
  over genes (V1) or <cls> (V2).
- LangCell: the ``cell_bert`` folder (``BertModel``, keys without ``bert.``) plus ``cell_proj.bin``;
  V1 dictionaries with <cls> appended. Embedding: L2-normalised ``cell_proj`` of the last layer's <cls>.
- scCello: a ``bert.``-prefixed folder with extra heads (unused here); V1 dictionaries plus <cls>.
  Embedding: the last layer's <cls>.
Ties in expression rank are ordered stably here (Geneformer's numpy quicksort leaves them unspecified).
"""

import numpy as np
import torch

from benchmark.errors import ConfigError
from models.foundation.architectures import FoundationModel
from models.foundation.families import family_of
from models.foundation.hf_bert import convert_bert_state
from models.foundation.published import Published
from models.foundation.published.files import CheckpointFiles, load_into, load_plain_pickle, load_state, read_json
from models.foundation.tokenizers import RankValueTokenizer
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

SPECIALS = ("<pad>", "<mask>", "<cls>", "<eos>")
TOKENS = ("token_dictionary.pkl",)
MEDIANS = ("gene_median_dictionary.pkl",)


def vocabulary_from_ids(token_ids: dict[str, int], source: str, specials: tuple[str, ...] = SPECIALS) -> Vocabulary:
    """A {token: id} dictionary -> Vocabulary; ids must be 0..n-1 with no gaps or repeats."""
    by_id = sorted(token_ids.items(), key=lambda item: item[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise ConfigError(f"{source}: token ids are not 0..{len(by_id) - 1} without gaps; is this a token dictionary?")
    tokens = [t for t, _ in by_id]
    return Vocabulary(tokens, {s: token_ids[s] for s in specials if s in token_ids})


def _encoder(config: dict) -> EncoderConfig:
    return EncoderConfig(
        hidden=config["hidden_size"], layers=config["num_hidden_layers"], heads=config["num_attention_heads"],
        ffn=config["intermediate_size"], norm="post", activation=config.get("hidden_act", "gelu"), dropout=0.0,
        eps=config.get("layer_norm_eps", 1e-12),
    )  # fmt: skip


def _medians(vocabulary: Vocabulary, medians: dict, source: str) -> np.ndarray:
    missing = [g for g in vocabulary.genes if g not in medians]
    if missing:
        raise ConfigError(
            f"{source}: {len(missing)} genes of the token dictionary have no median (e.g. {missing[:3]}); "
            "use the token and gene-median dictionaries of the same release"
        )
    return np.array([float(medians[g]) for g in vocabulary.genes])


def _bert(files: CheckpointFiles, token_ids: dict, cls: bool, eos: bool, ignored: tuple[str, ...] = ()):
    """The BERT encoder with its Geneformer tokenizer, weights loaded strictly."""
    config_path = files.find("config", ("config.json",))
    config = read_json(config_path)
    vocabulary = vocabulary_from_ids(token_ids, str(files.find("token_dictionary", TOKENS)))
    if len(vocabulary) != config.get("vocab_size"):
        raise ConfigError(
            f"{files.model} checkpoint: the token dictionary has {len(vocabulary)} tokens but {config_path} "
            f"says vocab_size {config.get('vocab_size')}: the vocabulary does not match the weights"
        )
    medians = _medians(vocabulary, load_plain_pickle(files.find("gene_median", MEDIANS)), files.model)
    tokenizer = RankValueTokenizer(vocabulary, int(config["max_position_embeddings"]), medians, cls=cls, eos=eos)
    model = FoundationModel(
        "geneformer", _encoder(config), len(vocabulary), len(vocabulary.genes), int(config.get("pad_token_id", 0)),
        int(config["max_position_embeddings"]), int(config.get("type_vocab_size", 2)),
    )  # fmt: skip
    weights = files.find("weights", family_of("geneformer").weight_files)
    state = load_state(weights)
    prefix = "bert." if any(k.startswith("bert.") for k in state) else ""
    with_head = "cls.predictions.bias" in state
    converted = convert_bert_state(state, model.encoder.config.layers, prefix, with_head, str(weights), ignored)
    if not with_head:  # a bare BertModel: keep the (unused) MLM head as initialised
        converted.update({k: v for k, v in model.state_dict().items() if k.startswith("head.")})
    load_into(model, converted, str(weights))
    return model, tokenizer


def load_geneformer(settings: dict) -> Published:
    files = CheckpointFiles(settings, settings.get("model", "geneformer"))
    token_ids = load_plain_pickle(files.find("token_dictionary", TOKENS))
    v2 = "<cls>" in token_ids
    model, tokenizer = _bert(files, token_ids, cls=v2, eos=v2 and "<eos>" in token_ids)
    extraction = {"pooling": "cls" if v2 else "mean", "layer": -2, "normalize": False}
    return Published(model, tokenizer, extraction, gene_key="ensembl")


def _with_cls(token_ids: dict) -> dict:
    """Geneformer V1 dictionary + <cls> at the next id, as LangCell and scCello extend it."""
    return token_ids if "<cls>" in token_ids else {**token_ids, "<cls>": len(token_ids)}


def load_langcell(settings: dict) -> Published:
    files = CheckpointFiles(settings, settings.get("model", "langcell"))
    token_ids = _with_cls(load_plain_pickle(files.find("token_dictionary", TOKENS)))
    model, tokenizer = _bert(files, token_ids, cls=True, eos=False)
    projection_path = files.find("cell_proj", ("cell_proj.bin", "../cell_proj.bin"))
    projection_state = load_state(projection_path)
    if set(projection_state) != {"weight", "bias"}:
        raise ConfigError(
            f"{projection_path}: expected the keys weight and bias of a Linear, found {sorted(projection_state)}"
        )
    out_dim, in_dim = projection_state["weight"].shape
    if in_dim != model.encoder.config.hidden:
        raise ConfigError(
            f"{projection_path}: projects {in_dim} dims but the cell encoder has {model.encoder.config.hidden}"
        )
    model.readout = torch.nn.Linear(in_dim, out_dim)
    model.readout.load_state_dict(projection_state)
    return Published(model, tokenizer, {"pooling": "cls", "layer": -1, "normalize": True}, gene_key="ensembl")


def load_sccello(settings: dict) -> Published:
    files = CheckpointFiles(settings, settings.get("model", "sccello"))
    token_ids = _with_cls(load_plain_pickle(files.find("token_dictionary", TOKENS)))
    model, tokenizer = _bert(files, token_ids, cls=True, eos=False, ignored=("cell_cls.", "learned_centroid"))
    return Published(model, tokenizer, {"pooling": "cls", "layer": -1, "normalize": False}, gene_key="ensembl")
