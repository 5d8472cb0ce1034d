"""Gene vocabularies and the mapping of a dataset's genes onto them (with the overlap reported)."""

import logging
from dataclasses import dataclass, field

import numpy as np

from benchmark.errors import NotApplicable

log = logging.getLogger(__name__)
LOW_OVERLAP = 0.5  # warn (and record) when fewer than half of the vocabulary's genes are in the data


@dataclass
class Vocabulary:
    """Tokens in id order: the special tokens first, then genes."""

    tokens: list[str]
    specials: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens are not unique")

    @classmethod
    def build(cls, genes: list[str], specials: tuple[str, ...] = ("<pad>", "<mask>", "<cls>")) -> "Vocabulary":
        tokens = list(specials) + [g for g in genes if g not in specials]
        return cls(tokens, {s: i for i, s in enumerate(specials)})

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def genes(self) -> list[str]:
        special_ids = set(self.specials.values())
        return [t for i, t in enumerate(self.tokens) if i not in special_ids]

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "specials": self.specials}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        return cls(list(data["tokens"]), dict(data["specials"]))


@dataclass(frozen=True)
class GeneMap:
    """Which dataset genes (columns) the vocabulary knows, and their token ids."""

    columns: np.ndarray  # column indices into the dataset's genes
    token_ids: np.ndarray  # the matching vocabulary ids
    n_dataset_genes: int
    n_vocabulary_genes: int

    @property
    def overlap(self) -> float:
        """Share of the vocabulary's genes found in the dataset."""
        return len(self.columns) / max(self.n_vocabulary_genes, 1)

    def report(self) -> dict:
        return {
            "genes_matched": int(len(self.columns)),
            "dataset_genes": int(self.n_dataset_genes),
            "vocabulary_genes": int(self.n_vocabulary_genes),
            "overlap": float(self.overlap),
            "low_overlap": bool(self.overlap < LOW_OVERLAP),
        }


def map_genes(vocabulary: Vocabulary, dataset_genes: list[str], model: str) -> GeneMap:
    """Map dataset gene identifiers onto the vocabulary; zero overlap is not applicable, low overlap warns."""
    columns, ids = [], []
    for column, gene in enumerate(dataset_genes):
        token = vocabulary.index.get(gene)
        if token is not None and token not in vocabulary.specials.values():
            columns.append(column)
            ids.append(token)
    gene_map = GeneMap(np.array(columns, dtype=np.int64), np.array(ids, dtype=np.int64), len(dataset_genes),
                       len(vocabulary.genes))  # fmt: skip
    if not columns:
        raise NotApplicable(
            f"{model}: none of the dataset's {len(dataset_genes)} genes is in the model's vocabulary of "
            f"{len(vocabulary.genes)} genes (e.g. dataset {dataset_genes[:3]}, vocabulary {vocabulary.genes[:3]}); "
            "check the gene identifier type (symbols vs Ensembl ids)"
        )
    if gene_map.overlap < LOW_OVERLAP:
        log.warning("%s: only %d of %d vocabulary genes are in the dataset (%.0f%%)", model, len(columns),
                    len(vocabulary.genes), 100 * gene_map.overlap)  # fmt: skip
    return gene_map
