"""Embedding throughput of each published architecture at its published size, with random weights.

For a GPU machine (never CI): cells/s and peak GPU memory of the embedding forward (collate, encoder,
pooling, readout) in fp32 and bf16 autocast (as ``extract.embed_cells`` runs on CUDA), for Geneformer
V1-10M, V2-104M and V2-316M, LangCell's and scCello's cell encoders, scGPT whole-human, scFoundation's
cell encoder and UCE 4-layer. The BERT family also runs through Hugging Face ``BertModel`` (SDPA
attention) with the same weights and token batches: its cells/s and the largest difference between
the two embeddings (fp32) are reported beside ours. Tokenization runs once per model on the CPU; its
cells/s is reported separately. Each run stops after ``--time-limit`` seconds (at least one batch);
a model that fails (e.g. out of memory) is reported and the others go on.

    python -m models.foundation.published.throughput --device cuda --out throughput.json
    python -m models.foundation.published.throughput --tiny   # small shapes, on the CPU (the test)
"""

import argparse
import json
import logging
import time
import traceback
from dataclasses import dataclass, field, replace

import anndata as ad
import numpy as np
import torch
from scipy import sparse
from torch import nn

from models.foundation.architectures import FoundationModel
from models.foundation.extract import pool, tokenize_cells
from models.foundation.hf_bert import convert_bert_state
from models.foundation.published.uce import _full_block
from models.foundation.tokenizers import (
    BinnedValueTokenizer,
    CellSentenceTokenizer,
    ContinuousValueTokenizer,
    RankValueTokenizer,
    Tokenizer,
)
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary, map_genes

log = logging.getLogger("throughput")
BERT_SPECIALS = {"v1": ("<pad>", "<mask>"), "v1_cls": ("<pad>", "<mask>", "<cls>"),
                 "v2": ("<pad>", "<mask>", "<cls>", "<eos>")}  # fmt: skip


@dataclass(frozen=True)
class Architecture:
    """One published model's shape, as its loader in ``models/foundation/published`` builds it."""

    name: str
    kind: str  # bert, scgpt, scfoundation, uce
    encoder: EncoderConfig
    genes: int  # gene tokens in the vocabulary (panel, token dictionary...)
    context: int
    batch_size: int
    extraction: dict
    options: dict = field(default_factory=dict)


def _bert(hidden: int, layers: int, heads: int, ffn: int) -> EncoderConfig:
    return EncoderConfig(hidden=hidden, layers=layers, heads=heads, ffn=ffn, eps=1e-12)


def _torch_layers(hidden: int, layers: int, heads: int, ffn: int, final_norm: bool = False) -> EncoderConfig:
    return EncoderConfig(hidden=hidden, layers=layers, heads=heads, ffn=ffn, eps=1e-5, final_norm=final_norm)


MEAN_2ND_LAST = {"pooling": "mean", "layer": -2, "normalize": False}
CLS_2ND_LAST = {"pooling": "cls", "layer": -2, "normalize": False}
CLS_LAST = {"pooling": "cls", "layer": -1, "normalize": False}
CLS_LAST_L2 = {"pooling": "cls", "layer": -1, "normalize": True}
PUBLISHED = (
    Architecture("Geneformer V1-10M", "bert", _bert(256, 6, 4, 512), 25_424, 2048, 64, MEAN_2ND_LAST,
                 {"specials": "v1"}),
    Architecture("Geneformer V2-104M", "bert", _bert(768, 12, 12, 3072), 20_271, 4096, 32, CLS_2ND_LAST,
                 {"specials": "v2"}),
    Architecture("Geneformer V2-316M", "bert", _bert(1152, 18, 18, 4608), 20_271, 4096, 16, CLS_2ND_LAST,
                 {"specials": "v2"}),
    Architecture("LangCell cell encoder", "bert", _bert(512, 12, 8, 1024), 25_424, 2048, 32, CLS_LAST_L2,
                 {"specials": "v1_cls", "projection": 256}),
    Architecture("scCello", "bert", _bert(256, 6, 4, 512), 25_424, 2048, 64, CLS_LAST,
                 {"specials": "v1_cls", "token_types": 1}),
    Architecture("scGPT whole-human", "scgpt", _torch_layers(512, 12, 8, 512), 60_694, 1200, 64, CLS_LAST_L2),
    Architecture("scFoundation cell", "scfoundation", _torch_layers(768, 12, 12, 3072, final_norm=True), 19_264,
                 19_266, 16, {"pooling": "all", "layer": -1, "normalize": False}),
    Architecture("UCE 4-layer", "uce", _torch_layers(1280, 4, 20, 5120), 19_790, 1536, 100, CLS_LAST_L2,
                 {"token_dim": 5120, "table_rows": 145_469, "chrom_offset": 143_574, "chromosomes": 1_895,
                  "decoder": (1024, 1280)}),
)  # fmt: skip


def tiny(architecture: Architecture) -> Architecture:
    """The same architecture, small enough for a CPU test."""
    options = dict(architecture.options)
    if architecture.kind == "uce":
        options.update(token_dim=16, table_rows=400, chrom_offset=360, chromosomes=40, decoder=(24, 32))
    if "projection" in options:
        options["projection"] = 8
    encoder = replace(architecture.encoder, hidden=32, layers=2, heads=4, ffn=64)
    return replace(architecture, encoder=encoder, genes=300, context=302 if architecture.kind == "scfoundation" else 64,
                   batch_size=4, options=options)  # fmt: skip


def build(architecture: Architecture, device: str) -> tuple[FoundationModel, Tokenizer]:
    """A random-weight model and its tokenizer; gene names are G0, G1..."""
    genes = [f"G{i}" for i in range(architecture.genes)]
    options = architecture.options
    with torch.device(device):
        if architecture.kind == "bert":
            vocabulary = Vocabulary.build(genes, BERT_SPECIALS[options["specials"]])
            v2 = options["specials"] == "v2"
            with_cls = options["specials"] != "v1"
            tokenizer = RankValueTokenizer(vocabulary, architecture.context, np.ones(len(genes)), cls=with_cls, eos=v2)
            model = FoundationModel("geneformer", architecture.encoder, len(vocabulary), len(genes), 0,
                                    architecture.context, options.get("token_types", 2))  # fmt: skip
            if "projection" in options:
                model.readout = nn.Linear(architecture.encoder.hidden, options["projection"])
        elif architecture.kind == "scgpt":
            specials = {"<pad>": len(genes), "<cls>": len(genes) + 1, "<eoc>": len(genes) + 2}
            vocabulary = Vocabulary(genes + list(specials), specials)
            tokenizer = BinnedValueTokenizer(vocabulary, architecture.context)
            model = FoundationModel("scgpt", architecture.encoder, len(vocabulary), len(genes), len(genes), 0)
        elif architecture.kind == "scfoundation":
            vocabulary = Vocabulary.build(genes)
            tokenizer = ContinuousValueTokenizer(vocabulary, architecture.context, target=4.0, panel_total=True)
            model = FoundationModel("scfoundation", architecture.encoder, len(vocabulary), len(genes), 0, 0)
        else:
            model, tokenizer = _uce(architecture, genes)
    return model.eval(), tokenizer


def _uce(architecture: Architecture, genes: list[str]) -> tuple[FoundationModel, CellSentenceTokenizer]:
    options, hidden = architecture.options, architecture.encoder.hidden
    rng = np.random.default_rng(0)
    vocabulary = Vocabulary(["<pad>", "<chrom_left>", "<chrom_right>", "<cls>", *genes],
                            {"<pad>": 0, "<chrom_left>": 1, "<chrom_right>": 2, "<cls>": 3})  # fmt: skip
    rows = 4 + rng.permutation(options["chrom_offset"] - 4)[: len(genes)]
    chromosomes = rng.integers(0, 24, len(genes))  # human: 24 of the chromosome codes
    starts = rng.random(len(genes)) * 1e8
    tokenizer = CellSentenceTokenizer(vocabulary, rows, chromosomes, starts, options["chrom_offset"], 1024,
                                      architecture.context)  # fmt: skip
    model = FoundationModel("uce", architecture.encoder, options["table_rows"], len(genes), 0, architecture.context,
                            token_dim=options["token_dim"])  # fmt: skip
    first, out = options["decoder"]
    model.readout = nn.Sequential(_full_block(hidden, first), _full_block(first, out), _full_block(out, out),
                                  nn.Linear(out, out))  # fmt: skip
    return model, tokenizer


def hugging_face_twin(architecture: Architecture, model: FoundationModel, device: str):
    """Hugging Face ``BertModel`` with the shape of a BERT-family architecture; ``model`` gets its weights."""
    import transformers

    encoder = architecture.encoder
    config = transformers.BertConfig(
        vocab_size=model.embeddings.word.num_embeddings, hidden_size=encoder.hidden, num_hidden_layers=encoder.layers,
        num_attention_heads=encoder.heads, intermediate_size=encoder.ffn, hidden_act=encoder.activation,
        max_position_embeddings=architecture.context, type_vocab_size=architecture.options.get("token_types", 2),
        layer_norm_eps=encoder.eps, pad_token_id=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        attn_implementation="sdpa",
    )  # fmt: skip
    with torch.device(device):
        twin = transformers.BertModel(config, add_pooling_layer=False).eval()
    converted = convert_bert_state(twin.state_dict(), encoder.layers, prefix="", with_head=False)
    converted.update({k: v for k, v in model.state_dict().items() if k.startswith(("head.", "readout."))})
    model.load_state_dict(converted, strict=True)
    return twin


def synthetic_cells(genes: list[str], n_cells: int, expressed: int, seed: int = 0) -> ad.AnnData:
    """Raw counts: each cell expresses ``expressed`` random genes, counts 1 + Poisson(Gamma)."""
    rng = np.random.default_rng(seed)
    expressed = min(expressed, len(genes))
    columns = np.concatenate([np.sort(rng.choice(len(genes), expressed, replace=False)) for _ in range(n_cells)])
    values = 1 + rng.poisson(rng.gamma(0.5, 4.0, len(columns)))
    indptr = np.arange(0, n_cells * expressed + 1, expressed)
    X = sparse.csr_matrix((values.astype(np.float32), columns, indptr), shape=(n_cells, len(genes)))
    adata = ad.AnnData(X)
    adata.var_names = genes
    return adata


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def _embed_batch(forward, batch, extraction: dict, readout: nn.Module | None) -> torch.Tensor:
    states = forward(batch)[extraction["layer"]]
    vectors = pool(states.float(), batch, extraction["pooling"])
    if readout is not None:
        vectors = readout(vectors)
    return nn.functional.normalize(vectors, dim=1) if extraction["normalize"] else vectors


def timed_run(forward, readout, tokenizer: Tokenizer, cells: list, extraction: dict, batch_size: int, device: str,
              precision: str, time_limit: float) -> dict:  # fmt: skip
    """Embed length-sorted batches until all cells are done or ``time_limit`` has passed."""
    order = np.argsort([len(c.ids) for c in cells], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
    with autocast:
        first = _embed_batch(forward, tokenizer.collate([cells[m] for m in batches[0]]).to(device), extraction, readout)
    _sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    done, start = 0, time.perf_counter()
    with autocast:
        for members in batches:
            _embed_batch(forward, tokenizer.collate([cells[m] for m in members]).to(device), extraction, readout)
            done += len(members)
            if time.perf_counter() - start > time_limit:
                break
        _sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {"cells": done, "seconds": seconds, "cells_per_s": done / seconds, "peak_gpu_mb": peak,
            "first_batch": first.float().cpu()}  # fmt: skip


def measure(architecture: Architecture, args: argparse.Namespace) -> list[dict]:
    """Rows for one architecture: ours (and Hugging Face's for BERT) per precision."""
    device = args.device
    model, tokenizer = build(architecture, device)
    twin = hugging_face_twin(architecture, model, device) if architecture.kind == "bert" and args.hf else None
    weights_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    adata = synthetic_cells(tokenizer.vocabulary.genes, args.cells, args.expressed)
    gene_map = map_genes(tokenizer.vocabulary, list(adata.var_names), architecture.name)
    start = time.perf_counter()
    cells = tokenize_cells(tokenizer, adata, gene_map, np.arange(adata.n_obs), 0)
    tokenize_per_s = len(cells) / (time.perf_counter() - start)
    batch_size = args.batch_size or architecture.batch_size
    common = {"model": architecture.name, "weights_mb": round(weights_mb, 1), "batch_size": batch_size,
              "tokens_per_cell": float(np.mean([len(c.ids) for c in cells])),
              "tokenize_cells_per_s": round(tokenize_per_s, 1)}  # fmt: skip
    implementations = {"ours": model.hidden_states}
    if twin is not None:
        implementations["hugging_face"] = lambda b: twin(input_ids=b.ids, attention_mask=b.keep.long(),
                                                         output_hidden_states=True).hidden_states  # fmt: skip
    rows = []
    for precision in args.precisions:
        firsts = {}
        for name, forward in implementations.items():
            result = timed_run(forward, model.readout, tokenizer, cells, architecture.extraction, batch_size, device,
                               precision, args.time_limit)  # fmt: skip
            firsts[name] = result.pop("first_batch")
            rows.append({**common, "implementation": name, "precision": precision, "status": "ok", **result})
        if "hugging_face" in firsts:
            rows[-1]["max_abs_diff_vs_ours"] = float((firsts["hugging_face"] - firsts["ours"]).abs().max())
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | implementation | precision | batch | tokens/cell | cells/s | peak GPU MB | |Δ| vs ours |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | | | | | {r['status']}: {r['message'][:80]} | | |")
            continue
        peak = "" if r["peak_gpu_mb"] is None else f"{r['peak_gpu_mb']:.0f}"
        diff = f"{r['max_abs_diff_vs_ours']:.1e}" if "max_abs_diff_vs_ours" in r else ""
        lines.append(f"| {r['model']} | {r['implementation']} | {r['precision']} | {r['batch_size']} | "
                     f"{r['tokens_per_cell']:.0f} | {r['cells_per_s']:.1f} | {peak} | {diff} |")  # fmt: skip
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="small shapes and few cells, for a CPU check")
    parser.add_argument("--cells", type=int, default=None, help="synthetic cells per model (default 2048; tiny 8)")
    parser.add_argument("--expressed", type=int, default=None, help="expressed genes per cell (default 2000; tiny 40)")
    parser.add_argument("--batch-size", type=int, default=None, help="cells per batch (default: per model)")
    parser.add_argument("--time-limit", type=float, default=15.0, help="seconds per model, precision, implementation")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--models", nargs="+", default=None, help="names (substrings) of the models to run")
    parser.add_argument("--no-hf", dest="hf", action="store_false", help="skip the Hugging Face BertModel runs")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    args.cells = args.cells or (8 if args.tiny else 2048)
    args.expressed = args.expressed or (40 if args.tiny else 2000)
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse(argv)
    torch.manual_seed(0)
    architectures = [tiny(a) if args.tiny else a for a in PUBLISHED]
    if args.models:
        architectures = [a for a in architectures if any(m.lower() in a.name.lower() for m in args.models)]
    rows = []
    for architecture in architectures:
        log.info("%s ...", architecture.name)
        try:
            rows += measure(architecture, args)
        except Exception as error:  # one failed model (out of memory...) never stops the others
            log.error("%s failed:\n%s", architecture.name, traceback.format_exc())
            rows.append({"model": architecture.name, "status": "failed", "message": f"{type(error).__name__}: {error}"})
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()  # the model is gone: free its memory for the next one
    info = {"device": args.device, "torch": torch.__version__, "cells": args.cells, "expressed": args.expressed,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tiny": args.tiny,
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}  # fmt: skip
    print(json.dumps(info))
    print(table(rows))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"info": info, "rows": rows}, handle, indent=1)
    return rows


if __name__ == "__main__":
    main()
