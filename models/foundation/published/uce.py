"""UCE (4- or 33-layer): a plain ``state_dict`` whose ``pe_embedding`` is the whole protein-embedding
token table, plus the species assets: ``species_chrom.csv`` (species, gene_symbol, chromosome, start),
``species_offsets.pkl`` (first token row of each species) and the species' protein-embedding file
(symbol -> ESM2 vector; its key order gives each gene's row). Chromosome tokens follow at
``chrom_token_offset``; their code is the category of "<species>_<chromosome>" over all rows of the csv.
Embedding as ``eval_single_anndata.py``: the decoder MLP on the last layer's <cls>, L2-normalised;
its sentences are drawn with the original's float32 weights (``tokenizers.uce_weights``). The script's
default gene and cell filter is the plugin's ``original_filter`` param (``models/uce/model.py``).
UCE passes its padding mask as floats, which PyTorch adds (+1) to padded keys' logits; that is
replicated, so a cell's embedding depends a little on the padding of its batch, as in the original.
"""

import numpy as np
import pandas as pd
from torch import nn

from benchmark.errors import ConfigError
from models.foundation.architectures import FoundationModel
from models.foundation.families import family_of
from models.foundation.published import Published
from models.foundation.published.files import (
    TORCH_LAYER_KEYS,
    CheckpointFiles,
    load_into,
    load_plain_pickle,
    load_state,
    strict_rename,
)
from models.foundation.tokenizers import CellSentenceTokenizer
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

SPECIALS = {"<pad>": 0, "<chrom_left>": 1, "<chrom_right>": 2, "<cls>": 3}
CHROM_TOKEN_OFFSET = 143_574
PROTEIN_FILES = {"human": "Homo_sapiens.GRCh38.gene_symbol_to_embedding_ESM2.pt",
                 "mouse": "Mus_musculus.GRCm39.gene_symbol_to_embedding_ESM2.pt"}  # fmt: skip
UNUSED = ("binary_decoder.", "gene_embedding_layer.")


def _full_block(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_out), nn.LayerNorm(n_out), nn.GELU(), nn.Dropout(0.0))


def uce_key_map(state: dict, n_layers: int) -> dict[str, str]:
    mapping = {"pe_embedding.weight": "embeddings.table.weight", "pos_encoder.pe": "embeddings.positions",
               "encoder.0.weight": "embeddings.project.weight", "encoder.0.bias": "embeddings.project.bias",
               "encoder.2.weight": "embeddings.norm.weight", "encoder.2.bias": "embeddings.norm.bias"}  # fmt: skip
    for i in range(n_layers):
        for theirs, ours in TORCH_LAYER_KEYS.items():
            mapping[f"transformer_encoder.layers.{i}.{theirs}"] = f"encoder.layers.{i}.{ours}"
    mapping.update({k: "readout." + k[len("decoder.") :] for k in state if k.startswith("decoder.")})
    return mapping


def _gene_tables(files: CheckpointFiles, species: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, int]:
    """Genes with both a protein embedding and a position: symbols, token rows, chromosome codes, starts."""
    offsets = load_plain_pickle(files.find("species_offsets", ("species_offsets.pkl",)))
    if species not in offsets:
        raise ConfigError(f"uce checkpoint: species '{species}' is not in species_offsets ({sorted(offsets)})")
    protein_file = files.find("protein_embeddings", (f"protein_embeddings/{PROTEIN_FILES.get(species, '')}",))
    protein_rows = {symbol: i for i, symbol in enumerate(load_state(protein_file))}
    table = pd.read_csv(files.find("species_chrom", ("species_chrom.csv",)))
    missing = {"species", "gene_symbol", "chromosome", "start"} - set(table.columns)
    if missing:
        raise ConfigError(f"uce checkpoint: species_chrom lacks the columns {sorted(missing)}")
    codes = pd.Categorical(table["species"].astype(str) + "_" + table["chromosome"].astype(str)).codes
    table = table.assign(code=codes)[table["species"] == species].drop_duplicates("gene_symbol")
    table = table.set_index("gene_symbol")
    genes = [g for g in protein_rows if g in table.index]
    rows = np.array([protein_rows[g] + offsets[species] for g in genes], dtype=np.int64)
    chromosomes = table.loc[genes, "code"].to_numpy(dtype=np.int64)
    starts = table.loc[genes, "start"].to_numpy(dtype=np.float64)
    return genes, rows, chromosomes, starts, int(codes.max()) + 1


def load_uce(settings: dict) -> Published:
    files = CheckpointFiles(settings, settings.get("model", "uce"))
    weights = files.find("weights", family_of("uce").weight_files)
    state = load_state(weights)
    genes, rows, chromosomes, starts, n_chromosomes = _gene_tables(files, settings.get("species", "human"))
    chrom_offset = int(settings.get("chrom_token_offset", CHROM_TOKEN_OFFSET))
    n_rows, token_dim = state["pe_embedding.weight"].shape if "pe_embedding.weight" in state else (0, 0)
    needed = max(chrom_offset + n_chromosomes, int(rows.max(initial=0)) + 1)
    if n_rows < needed:
        raise ConfigError(
            f"{weights}: the token table has {n_rows} rows but the species files need {needed}: the assets do "
            "not match the weights"
        )
    n_layers = len({k.split(".")[2] for k in state if k.startswith("transformer_encoder.layers.")})
    hidden = state["encoder.0.weight"].shape[0]
    encoder = EncoderConfig(hidden=hidden, layers=n_layers, heads=int(settings.get("heads", 20)),
                            ffn=state["transformer_encoder.layers.0.linear1.weight"].shape[0], norm="post",
                            activation="relu", dropout=0.0, eps=1e-5)  # fmt: skip
    positions = state["pos_encoder.pe"].shape[0]
    model = FoundationModel("uce", encoder, n_rows, len(genes), 0, positions, token_dim=token_dim)
    out_dim = state["decoder.3.weight"].shape[0]
    model.readout = nn.Sequential(_full_block(hidden, state["decoder.0.0.weight"].shape[0]),
                                  _full_block(state["decoder.1.0.weight"].shape[1], out_dim),
                                  _full_block(out_dim, out_dim), nn.Linear(out_dim, out_dim))  # fmt: skip
    converted = strict_rename(state, uce_key_map(state, n_layers), UNUSED, str(weights))
    converted["embeddings.positions"] = converted["embeddings.positions"].reshape(positions, hidden)
    load_into(model, converted, str(weights))
    vocabulary = Vocabulary(list(SPECIALS) + genes, dict(SPECIALS))
    tokenizer = CellSentenceTokenizer(vocabulary, rows, chromosomes, starts, chrom_offset,
                                      int(settings.get("sample_size", 1024)), positions)  # fmt: skip
    return Published(model, tokenizer, {"pooling": "cls", "layer": -1, "normalize": True}, gene_key="symbol_upper")
