"""scFoundation: the cell encoder from ``models.ckpt`` and the 19,264-gene list.

``models.ckpt`` is a pickle of {'cell', 'gene', 'rde'} sub-checkpoints, each with ``config`` and a
``state_dict`` prefixed ``model.``; it needs ``weights_only=False``, so it loads only with
``trusted: true``. The cell embedding uses ``token_emb``, ``pos_emb`` and the encoder (its keys are
``nn.TransformerEncoderLayer``'s); the Performer decoder is not needed and is ignored. Embedding as
``get_embedding.py --version ce --tgthighres t4 --pre_normalized F --pool_type all``: non-zero genes with
log1p(x / total · 1e4), then T = 4 and S = log10(total); [S, T, max, mean] of the final-norm output.
The total is over the panel's genes only: the script first rebuilds the data on the 19,264 panel columns
(``main_gene_selection``), dropping the dataset's other genes.
"""

import csv

from benchmark.errors import ConfigError
from models.foundation.architectures import FoundationModel
from models.foundation.families import family_of
from models.foundation.published import Published
from models.foundation.published.files import TORCH_LAYER_KEYS, CheckpointFiles, load_into, load_state, strict_rename
from models.foundation.tokenizers import ContinuousValueTokenizer
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

UNUSED = ("decoder.", "decoder_embed.", "norm.", "to_final.", "token_emb.emb_pad.")
FIXED_KEYS = {
    "token_emb.mlp.weight": "embeddings.mlp.weight",
    "token_emb.mlp.bias": "embeddings.mlp.bias",
    "token_emb.mlp2.weight": "embeddings.mlp2.weight",
    "token_emb.mlp2.bias": "embeddings.mlp2.bias",
    "token_emb.emb.weight": "embeddings.bins.weight",
    "token_emb.emb_mask.weight": "embeddings.mask",
    "pos_emb.weight": "embeddings.gene.weight",
    "encoder.norm.weight": "encoder.final_norm.weight",
    "encoder.norm.bias": "encoder.final_norm.bias",
}


def scfoundation_key_map(n_layers: int) -> dict[str, str]:
    mapping = dict(FIXED_KEYS)
    for i in range(n_layers):
        for theirs, ours in TORCH_LAYER_KEYS.items():
            mapping[f"encoder.transformer_encoder.{i}.{theirs}"] = f"encoder.layers.{i}.{ours}"
    return mapping


def read_gene_list(path) -> list[str]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or "gene_name" not in rows[0]:
        raise ConfigError(f"{path}: expected a tab-separated gene list with a `gene_name` column")
    return [row["gene_name"] for row in rows]


def _encoder_settings(config: dict, source: str) -> dict:
    try:
        return config["model_config"][config.get("model", "mae_autobin")]["encoder"]
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{source}: no config['model_config']['mae_autobin']['encoder'] ({error})") from error


def load_scfoundation(settings: dict) -> Published:
    files = CheckpointFiles(settings, settings.get("model", "scfoundation"))
    weights = files.find("weights", family_of("scfoundation").weight_files)
    bundle = load_state(weights, trusted=bool(settings.get("trusted", False)))
    part = settings.get("part", "cell")
    if part not in bundle:
        raise ConfigError(f"{weights}: no '{part}' sub-checkpoint (found {sorted(bundle)}); is this models.ckpt?")
    config, raw_state = bundle[part]["config"], bundle[part]["state_dict"]
    state = {k.split("model.", 1)[1] if "model." in k else k: v for k, v in raw_state.items()}
    encoder_settings = _encoder_settings(config, str(weights))
    genes = read_gene_list(files.find("gene_list", ("OS_scRNA_gene_index.19264.tsv",)))
    positions = state["pos_emb.weight"].shape[0] if "pos_emb.weight" in state else None
    if positions != len(genes) + 3:
        raise ConfigError(
            f"{weights}: pos_emb has {positions} rows but the gene list has {len(genes)} genes (+ T, S, pad = "
            f"{len(genes) + 3}): the gene list does not match the weights"
        )
    n_layers = int(encoder_settings["depth"])
    hidden = int(encoder_settings["hidden_dim"])
    ffn = state["encoder.transformer_encoder.0.linear1.weight"].shape[0]
    encoder = EncoderConfig(hidden=hidden, layers=n_layers, heads=int(encoder_settings["heads"]), ffn=ffn,
                            norm="post", activation="relu", dropout=0.0, eps=1e-5, final_norm=True)  # fmt: skip
    vocabulary = Vocabulary.build(genes)
    model = FoundationModel("scfoundation", encoder, len(vocabulary), len(genes), 0, 0)
    converted = strict_rename(state, scfoundation_key_map(n_layers), UNUSED, str(weights))
    converted["embeddings.mask"] = converted["embeddings.mask"].reshape(-1)
    converted.update({k: v for k, v in model.state_dict().items() if k.startswith("head.")})  # pretraining head
    load_into(model, converted, str(weights))
    tokenizer = ContinuousValueTokenizer(vocabulary, len(genes) + 2, target=4.0, panel_total=True)
    return Published(model, tokenizer, {"pooling": "all", "layer": -1, "normalize": False}, gene_key="symbol")
