"""Hugging Face BERT key names <-> our Geneformer-family modules (an explicit, strict map)."""

import torch

from benchmark.errors import ContractError

QKV = ("attention.self.query", "attention.self.key", "attention.self.value")  # stacked into `qkv`
LAYER_KEYS = {
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn_in",
    "output.dense": "ffn_out",
    "output.LayerNorm": "ffn_norm",
}
EMBEDDING_KEYS = {
    "embeddings.word_embeddings": "embeddings.word",
    "embeddings.position_embeddings": "embeddings.position",
    "embeddings.token_type_embeddings": "embeddings.token_type",
    "embeddings.LayerNorm": "embeddings.norm",
}
MLM_HEAD_KEYS = {
    "cls.predictions.transform.dense.weight": "head.dense.weight",
    "cls.predictions.transform.dense.bias": "head.dense.bias",
    "cls.predictions.transform.LayerNorm.weight": "head.norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "head.norm.bias",
    "cls.predictions.bias": "head.bias",
}
# Present in some published files but not parameters of ours: tied decoder, buffers, unused pooler.
IGNORED = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "embeddings.position_ids", "pooler.")


def bert_key_map(n_layers: int, prefix: str = "bert.", with_head: bool = True) -> dict[str, str]:
    mapping = {}
    for theirs, ours in EMBEDDING_KEYS.items():
        for suffix in ("weight",) if "LayerNorm" not in theirs else ("weight", "bias"):
            mapping[f"{prefix}{theirs}.{suffix}"] = f"{ours}.{suffix}"
    for i in range(n_layers):
        for theirs, ours in LAYER_KEYS.items():
            for suffix in ("weight", "bias"):
                mapping[f"{prefix}encoder.layer.{i}.{theirs}.{suffix}"] = f"encoder.layers.{i}.{ours}.{suffix}"
    if with_head:
        mapping.update(MLM_HEAD_KEYS)
    return mapping


def qkv_keys(n_layers: int, prefix: str = "bert.") -> dict[str, list[str]]:
    """Our stacked ``qkv`` parameter <- BERT's three projections, in q, k, v order."""
    return {
        f"encoder.layers.{i}.qkv.{suffix}": [f"{prefix}encoder.layer.{i}.{name}.{suffix}" for name in QKV]
        for i in range(n_layers)
        for suffix in ("weight", "bias")
    }


def convert_bert_state(state: dict[str, torch.Tensor], n_layers: int, prefix: str = "bert.",
                       with_head: bool = True, source: str = "checkpoint",
                       ignored: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:  # fmt: skip
    """Rename a BERT state dict to our names; missing and unexpected keys are an error listing them.

    ``ignored``: key prefixes of model-specific extras that the cell embedding does not use.
    """
    mapping = bert_key_map(n_layers, prefix, with_head)
    stacked = qkv_keys(n_layers, prefix)
    expected = set(mapping) | {k for parts in stacked.values() for k in parts}
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(
        k for k in state if k not in expected and not any(i in k for i in IGNORED) and not k.startswith(ignored)
    )
    if missing or unexpected:
        raise ContractError(
            f"{source}: keys do not match a {n_layers}-layer BERT"
            + (f"; missing: {missing[:8]}{' ...' if len(missing) > 8 else ''}" if missing else "")
            + (f"; unexpected: {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}" if unexpected else "")
        )
    converted = {ours: state[theirs] for theirs, ours in mapping.items()}
    converted.update({ours: torch.cat([state[k] for k in parts]) for ours, parts in stacked.items()})
    return converted
