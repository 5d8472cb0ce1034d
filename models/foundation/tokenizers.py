"""The tokenizers: a cell's counts -> token ids, gene positions and values.

- ``RankValueTokenizer`` (Geneformer): genes ranked by counts / total · 1e4 / gene median, descending.
- ``BinnedValueTokenizer`` (scGPT): non-zero genes with per-cell quantile bins of their values (binned over
  all expressed genes, then sampled down to the context, as ``scgpt.tasks.embed_data`` does).
- ``ScBertTokenizer`` (scBERT): every panel gene, token = floor(log2(1 + counts / total · 1e4)) capped.
- ``CellSentenceTokenizer`` (UCE, published checkpoints): sampled genes grouped by chromosome, drawn with
  UCE's own float32 weights.
- ``ContinuousValueTokenizer`` (scFoundation): non-zero genes with log1p(counts / total · 1e4) values
  plus two read-depth tokens, T (target) and S (source), holding log10 total counts (the published model
  counts the total over its gene panel only).
All take one cell's raw counts over the vocabulary's genes (a dense float vector in vocabulary gene
order, zeros where the dataset lacks a gene) and its total count over all genes.
"""

from dataclasses import dataclass

import numpy as np
import torch

from models.foundation.vocabulary import Vocabulary


@dataclass
class CellTokens:
    ids: np.ndarray  # token ids (gene tokens, bins, or specials)
    genes: np.ndarray  # gene position ids (for models with a learned gene-position embedding)
    values: np.ndarray  # a float per token (NaN-free; 0 where unused)
    special: np.ndarray  # True at special tokens (<cls>, T, S) excluded from mean pooling


@dataclass
class TokenBatch:
    ids: torch.Tensor
    genes: torch.Tensor
    values: torch.Tensor
    keep: torch.Tensor  # False at padding
    special: torch.Tensor

    def to(self, device: str) -> "TokenBatch":
        return TokenBatch(*(t.to(device) for t in (self.ids, self.genes, self.values, self.keep, self.special)))


class Tokenizer:
    """Base: subclasses implement ``cell``; padding and (de)serialisation are shared."""

    kind = ""
    pad_value = 0.0

    def __init__(self, vocabulary: Vocabulary, context: int) -> None:
        self.vocabulary = vocabulary
        self.context = context
        self.gene_ids = np.array([vocabulary.index[g] for g in vocabulary.genes], dtype=np.int64)

    @property
    def pad_id(self) -> int:
        return self.vocabulary.specials["<pad>"]

    @property
    def mask_id(self) -> int:
        return self.vocabulary.specials["<mask>"]

    @property
    def pad_gene(self) -> int:
        return len(self.vocabulary.genes)

    def cell(self, counts: np.ndarray, total: float, rng: np.random.Generator) -> CellTokens:
        raise NotImplementedError

    def collate(self, cells: list[CellTokens]) -> TokenBatch:
        length = max(len(c.ids) for c in cells)
        n = len(cells)
        ids = np.full((n, length), self.pad_id, dtype=np.int64)
        genes = np.full((n, length), self.pad_gene, dtype=np.int64)
        values = np.full((n, length), self.pad_value, dtype=np.float32)
        keep = np.zeros((n, length), dtype=bool)
        special = np.zeros((n, length), dtype=bool)
        for row, c in enumerate(cells):
            size = len(c.ids)
            ids[row, :size], genes[row, :size], values[row, :size] = c.ids, c.genes, c.values
            keep[row, :size], special[row, :size] = True, c.special
        return TokenBatch(*(torch.from_numpy(a) for a in (ids, genes, values, keep, special)))

    def settings(self) -> dict:
        return {"kind": self.kind, "context": self.context}


class RankValueTokenizer(Tokenizer):
    """Geneformer's rank-value encoding; ``medians`` are the non-zero medians of normalised expression."""

    kind = "rank_value"

    def __init__(self, vocabulary: Vocabulary, context: int, medians: np.ndarray, cls: bool = True,
                 eos: bool = False) -> None:  # fmt: skip
        super().__init__(vocabulary, context)
        self.medians = np.asarray(medians, dtype=np.float64)
        self.cls = cls
        self.eos = eos  # Geneformer V2 ends each cell with <eos>

    def cell(self, counts: np.ndarray, total: float, rng: np.random.Generator) -> CellTokens:
        normalised = counts * (1e4 / max(total, 1.0)) / self.medians
        expressed = np.flatnonzero(counts > 0)
        order = expressed[np.argsort(-normalised[expressed], kind="stable")]
        order = order[: self.context - int(self.cls) - int(self.eos)]
        ids = self.gene_ids[order]
        special = np.zeros(len(ids), dtype=bool)
        if self.cls:
            ids = np.concatenate([[self.vocabulary.specials["<cls>"]], ids])
            special = np.concatenate([[True], special])
        if self.eos:
            ids = np.concatenate([ids, [self.vocabulary.specials["<eos>"]]])
            special = np.concatenate([special, [True]])
        return CellTokens(ids, np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=np.float32), special)

    def settings(self) -> dict:
        return {**super().settings(), "cls": self.cls, "eos": self.eos, "medians": self.medians.tolist()}


def quantile_bins(values: np.ndarray, n_bins: int, rng: np.random.Generator) -> np.ndarray:
    """scGPT's per-cell binning of non-zero values: bins 1..n_bins-1 from quantile edges, ties broken at random."""
    edges = np.quantile(values, np.linspace(0, 1, n_bins - 1))
    left = np.digitize(values, edges)
    right = np.digitize(values, edges, right=True)
    choice = rng.random(len(values))
    return np.ceil(choice * (right - left) + left).astype(np.int64)


class BinnedValueTokenizer(Tokenizer):
    """scGPT: <cls> + the non-zero genes with binned values. The bins come from all of the cell's non-zero
    genes; then, when there are more than ``context`` - 1, that many are sampled (``embed_data``'s order)."""

    kind = "binned_value"
    pad_value = -2.0
    mask_value = -1.0

    def __init__(self, vocabulary: Vocabulary, context: int, n_bins: int = 51) -> None:
        super().__init__(vocabulary, context)
        self.n_bins = n_bins

    def cell(self, counts: np.ndarray, total: float, rng: np.random.Generator) -> CellTokens:
        expressed = np.flatnonzero(counts > 0)
        bins = quantile_bins(counts[expressed], self.n_bins, rng) if len(expressed) else np.zeros(0, dtype=np.int64)
        if len(expressed) > self.context - 1:
            kept = np.sort(rng.choice(len(expressed), size=self.context - 1, replace=False))
            expressed, bins = expressed[kept], bins[kept]
        ids = np.concatenate([[self.vocabulary.specials["<cls>"]], self.gene_ids[expressed]])
        values = np.concatenate([[self.pad_value], bins]).astype(np.float32)
        special = np.zeros(len(ids), dtype=bool)
        special[0] = True
        return CellTokens(ids, np.zeros(len(ids), dtype=np.int64), values, special)

    def settings(self) -> dict:
        return {**super().settings(), "n_bins": self.n_bins}


class ScBertTokenizer(Tokenizer):
    """scBERT: every panel gene in panel order plus one extra position; tokens are expression bins."""

    kind = "scbert_bins"

    def __init__(self, vocabulary: Vocabulary, bin_num: int = 5) -> None:
        super().__init__(vocabulary, len(vocabulary.genes) + 1)
        self.bin_num = bin_num

    @property
    def pad_id(self) -> int:
        return self.mask_id

    @property
    def mask_id(self) -> int:
        return self.bin_num + 1

    @property
    def n_tokens(self) -> int:
        return self.bin_num + 2

    def cell(self, counts: np.ndarray, total: float, rng: np.random.Generator) -> CellTokens:
        level = np.floor(np.log2(1.0 + counts * (1e4 / max(total, 1.0))))
        tokens = np.minimum(level, self.bin_num).astype(np.int64)
        ids = np.concatenate([tokens, [0]])
        genes = np.arange(len(ids), dtype=np.int64)
        return CellTokens(ids, genes, np.zeros(len(ids), dtype=np.float32), np.zeros(len(ids), dtype=bool))

    @property
    def pad_gene(self) -> int:
        return len(self.vocabulary.genes)

    def settings(self) -> dict:
        return {**super().settings(), "bin_num": self.bin_num}


class ContinuousValueTokenizer(Tokenizer):
    """scFoundation: non-zero genes (panel positions) with log1p-normalised values, then T and S.

    S = log10(total counts) of the cell; T = log10 of the target depth: the same total
    (``target="same"``), or a fixed value (``target=4.0``, scFoundation's default 't4'). The total is the
    one given (all of the dataset's genes), or with ``panel_total`` the sum over the vocabulary's genes:
    ``get_embedding.py`` first cuts the data to its 19,264-gene panel, then sums.
    """

    kind = "continuous_value"

    def __init__(self, vocabulary: Vocabulary, context: int, target: float | str = "same",
                 panel_total: bool = False) -> None:  # fmt: skip
        super().__init__(vocabulary, context)
        self.target = target
        self.panel_total = panel_total

    @property
    def pad_gene(self) -> int:
        return len(self.vocabulary.genes) + 2  # panel genes, then T, then S, then padding

    def cell(
        self, counts: np.ndarray, total: float, rng: np.random.Generator, target_total: float | None = None
    ) -> CellTokens:
        if self.panel_total:
            total = float(counts.sum())
        expressed = np.flatnonzero(counts > 0)[: self.context - 2]
        values = np.log1p(counts[expressed] * (1e4 / max(total, 1.0)))
        source = np.log10(max(total, 1.0))
        if target_total is not None:
            target = np.log10(max(target_total, 1.0))
        else:
            target = source if self.target == "same" else float(self.target)
        n_genes = len(self.vocabulary.genes)
        genes = np.concatenate([expressed, [n_genes, n_genes + 1]]).astype(np.int64)
        all_values = np.concatenate([values, [target, source]]).astype(np.float32)
        special = np.zeros(len(genes), dtype=bool)
        special[-2:] = True
        ids = np.zeros(len(genes), dtype=np.int64)
        return CellTokens(ids, genes, all_values, special)

    def settings(self) -> dict:
        return {**super().settings(), "target": self.target, "panel_total": self.panel_total}


def uce_weights(counts: np.ndarray) -> np.ndarray:
    """UCE's sampling probabilities, bit for bit: log1p of the int64 counts in float32 torch, divided by
    their torch sum, then by their sequential float32 sum (``weights / sum(weights)`` in ``eval_data.py``).
    The float64 equivalent moves single draws of the sampler."""
    weights = torch.log1p(torch.from_numpy(counts.astype(np.int64)))
    weights = (weights / torch.sum(weights)).numpy()
    return weights / np.cumsum(weights)[-1]  # cumsum adds in order, like Python's sum


class CellSentenceTokenizer(Tokenizer):
    """UCE's cell sentence: ``sample_size`` genes drawn with replacement with probability proportional
    to log1p(counts); grouped by chromosome, chromosomes in random order, genes by genomic start; each
    group is framed by its chromosome token and the chrom-right token, after <cls>. Token ids are rows
    of the published token table (``rows`` per vocabulary gene, chromosome tokens after ``chrom_offset``).
    """

    kind = "cell_sentence"

    def __init__(self, vocabulary: Vocabulary, rows: np.ndarray, chromosomes: np.ndarray, starts: np.ndarray,
                 chrom_offset: int, sample_size: int = 1024, pad_length: int = 1536) -> None:  # fmt: skip
        super().__init__(vocabulary, pad_length)
        self.rows, self.chromosomes, self.starts = rows, chromosomes, starts
        self.chrom_offset, self.sample_size = chrom_offset, sample_size

    def cell(self, counts: np.ndarray, total: float, rng: np.random.Generator) -> CellTokens:
        cls, right = self.vocabulary.specials["<cls>"], self.vocabulary.specials["<chrom_right>"]
        tokens, special = [cls], [True]
        if counts.sum() > 0:
            choice = rng.choice(len(counts), size=self.sample_size, p=uce_weights(counts), replace=True)
            choice = choice[np.argsort(self.chromosomes[choice], kind="stable")]
            chromosomes = self.chromosomes[choice]
            order = np.unique(chromosomes)
            rng.shuffle(order)
            for chromosome in order:
                members = choice[chromosomes == chromosome]
                members = members[np.argsort(self.starts[members], kind="stable")]
                tokens += [self.chrom_offset + int(chromosome), *self.rows[members].tolist(), right]
                special += [True] + [False] * len(members) + [True]
        ids = np.array(tokens[: self.context], dtype=np.int64)
        return CellTokens(ids, np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=np.float32),
                          np.array(special[: self.context]))  # fmt: skip


def tokenizer_from_settings(vocabulary: Vocabulary, settings: dict) -> Tokenizer:
    kind = settings["kind"]
    if kind == RankValueTokenizer.kind:
        medians = np.array(settings["medians"])
        return RankValueTokenizer(vocabulary, settings["context"], medians, settings["cls"], settings.get("eos", False))
    if kind == BinnedValueTokenizer.kind:
        return BinnedValueTokenizer(vocabulary, settings["context"], settings["n_bins"])
    if kind == ScBertTokenizer.kind:
        return ScBertTokenizer(vocabulary, settings["bin_num"])
    if kind == ContinuousValueTokenizer.kind:
        return ContinuousValueTokenizer(vocabulary, settings["context"], settings["target"],
                                        settings.get("panel_total", False))  # fmt: skip
    raise ValueError(f"unknown tokenizer kind {kind!r}")
