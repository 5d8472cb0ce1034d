"""scGPT (whole-human and the other released folders): ``best_model.pt`` + ``args.json`` + ``vocab.json``.

The flash-attention ``self_attn.Wqkv`` projection is one Linear(d, 3d) laid out [q; k; v], the layout of
our fused ``qkv``; no flash-attn is needed. Heads the cell embedding does not use (classification,
batch, adversarial) are ignored by name; anything else unexpected is an error. Cell embedding as
``scgpt.tasks.embed_data``: <cls> (value = pad value) + non-zero genes with per-cell quantile bins
(over all of the cell's non-zero genes), then at most ``max_seq_len`` tokens (genes sampled after
binning, with the job's seed), last layer's <cls>, L2-normalised. ``embed_data`` takes its length from
its ``max_length`` argument (default 1,200, the whole-human ``max_seq_len``); here it is args.json's.
"""

from benchmark.errors import ConfigError
from models.foundation.architectures import FoundationModel
from models.foundation.families import family_of
from models.foundation.published import Published
from models.foundation.published.bert_family import vocabulary_from_ids
from models.foundation.published.files import CheckpointFiles, load_into, load_state, read_json, strict_rename
from models.foundation.tokenizers import BinnedValueTokenizer
from models.foundation.transformer import EncoderConfig

APPENDED_SPECIALS = ("<pad>", "<cls>", "<eoc>")  # embed_data appends these when vocab.json lacks them
UNUSED_HEADS = ("cls_decoder.", "grad_reverse_discriminator.", "batch_encoder.", "dsbn.", "flag_encoder.",
                "decoder.zero_logit.", "mvc_decoder.query_activation", "bn.", "sim.")  # fmt: skip
LAYER_KEYS = {
    "self_attn.Wqkv": "qkv",
    "self_attn.out_proj": "attn_out",
    "linear1": "ffn_in",
    "linear2": "ffn_out",
    "norm1": "attn_norm",
    "norm2": "ffn_norm",
}
FIXED_KEYS = {
    "encoder.embedding.weight": "embeddings.gene.weight",
    "encoder.enc_norm.weight": "embeddings.gene_norm.weight",
    "encoder.enc_norm.bias": "embeddings.gene_norm.bias",
    **{f"value_encoder.{a}.{p}": f"embeddings.{b}.{p}" for a, b in
       (("linear1", "value_in"), ("linear2", "value_out"), ("norm", "value_norm")) for p in ("weight", "bias")},
    **{f"decoder.fc.{i}.{p}": f"head.net.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")},
    "mvc_decoder.gene2query.weight": "cell_head.gene2query.weight",
    "mvc_decoder.gene2query.bias": "cell_head.gene2query.bias",
    "mvc_decoder.W.weight": "cell_head.W.weight",
}  # fmt: skip


def scgpt_key_map(n_layers: int) -> dict[str, str]:
    mapping = dict(FIXED_KEYS)
    for i in range(n_layers):
        for theirs, ours in LAYER_KEYS.items():
            for p in ("weight", "bias"):
                mapping[f"transformer_encoder.layers.{i}.{theirs}.{p}"] = f"encoder.layers.{i}.{ours}.{p}"
    return mapping


def load_scgpt(settings: dict) -> Published:
    files = CheckpointFiles(settings, settings.get("model", "scgpt"))
    args = read_json(files.find("args", ("args.json",)))
    vocab_path = files.find("vocab", ("vocab.json",))
    token_ids = dict(read_json(vocab_path))
    for token in APPENDED_SPECIALS:
        token_ids.setdefault(token, len(token_ids))
    vocabulary = vocabulary_from_ids(token_ids, str(vocab_path), APPENDED_SPECIALS)
    weights = files.find("weights", family_of("scgpt").weight_files)
    state = load_state(weights)
    rows = state.get("encoder.embedding.weight")
    if rows is not None and rows.shape[0] != len(vocabulary):
        raise ConfigError(
            f"{weights}: the gene embedding has {rows.shape[0]} rows but {vocab_path} (plus {list(APPENDED_SPECIALS)}) "
            f"gives {len(vocabulary)} tokens: the vocabulary does not match the weights"
        )
    if args.get("input_emb_style", "continuous") != "continuous":
        raise ConfigError(
            f"{files.model}: input_emb_style {args['input_emb_style']!r} is not supported (continuous only)"
        )
    n_layers = int(args["nlayers"])
    encoder = EncoderConfig(hidden=int(args["embsize"]), layers=n_layers, heads=int(args["nheads"]),
                            ffn=int(args["d_hid"]), norm="post", activation="relu", dropout=0.0, eps=1e-5)  # fmt: skip
    model = FoundationModel("scgpt", encoder, len(vocabulary), len(vocabulary.genes), vocabulary.specials["<pad>"], 0)
    converted = strict_rename(state, scgpt_key_map(n_layers), UNUSED_HEADS, str(weights))
    load_into(model, converted, str(weights))
    tokenizer = BinnedValueTokenizer(vocabulary, int(args.get("max_seq_len", 1200)), int(args.get("n_bins", 51)))
    tokenizer.pad_value = float(args.get("pad_value", -2))
    return Published(model, tokenizer, {"pooling": "cls", "layer": -1, "normalize": True}, gene_key="symbol")
