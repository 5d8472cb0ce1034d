"""Gene function: predict what genes do from each model's gene embeddings (``varm["gene_emb"]``).

- GO: annotations (NCBI gene2go) propagated up the GO graph (is_a and part_of) to the top-level
  terms under a root (default biological_process); the terms kept cover at least ``min_genes`` and
  at most ``max_fraction`` of the labelled genes. Multi-label: one cross-validated logistic
  regression per term; balanced accuracy and F1 (positive class) averaged over terms.
- Tissue: Human Protein Atlas tissue-enriched genes (one tissue each) of the tissues with at least
  ``min_genes`` genes; one multi-class logistic regression; accuracy and macro-F1.
Every labelled gene of the dataset is scored for every model; a gene the model has no embedding for
is a zero vector (so low coverage costs accuracy), and the coverage is reported (not scored).
"""

import gzip
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.config import task_settings
from benchmark.errors import ConfigError
from benchmark.tasks.common import run_metrics, select
from metrics.base import Metric


def read_table(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", compression="gzip" if str(path).endswith(".gz") else None)
    except (OSError, gzip.BadGzipFile, pd.errors.ParserError) as error:
        raise ConfigError(f"gene function resource {path} cannot be read ({error})") from error


def propagate(direct: dict[str, set[str]], edges: pd.DataFrame) -> dict[str, set[str]]:
    """Each gene's terms plus all their ancestors (``edges``: child, parent, relation in isa/part of)."""
    graph = nx.DiGraph()
    kept = edges[edges["relation"].isin(["isa", "is_a", "part of", "part_of"])]
    graph.add_edges_from(kept[["child", "parent"]].itertuples(index=False))
    ancestors = cache(lambda term: frozenset(nx.descendants(graph, term)) if term in graph else frozenset())
    return {gene: set(terms).union(*(ancestors(t) for t in terms)) for gene, terms in direct.items()}


def go_labels(annotations: pd.DataFrame, edges: pd.DataFrame, genes: list[str], root: str, min_genes: int,
              max_fraction: float) -> pd.DataFrame:  # fmt: skip
    """Genes x top-level terms (0/1) for the dataset's annotated genes: the root's children in range."""
    namespace = annotations[annotations["symbol"].isin(genes)]
    direct = namespace.groupby("symbol")["go_id"].apply(set).to_dict()
    propagated = {g: t for g, t in propagate(direct, edges).items() if root in t}
    children = set(edges.loc[(edges["parent"] == root) & edges["relation"].isin(["isa", "is_a"]), "child"])
    table = pd.DataFrame({c: [c in propagated[g] for g in propagated] for c in sorted(children)},
                         index=list(propagated), dtype=int)  # fmt: skip
    counts = table.sum()
    keep = counts[(counts >= min_genes) & (counts <= max_fraction * len(table))].index
    return table[keep]


def tissue_labels(enriched: pd.DataFrame, genes: list[str], min_genes: int) -> pd.Series:
    """Gene -> tissue for the HPA tissue-enriched genes of the dataset, tissues with >= min_genes genes."""
    rows = enriched[(enriched["Group"] == "Tissue-Enriched") & enriched["Gene_name"].isin(genes)]
    rows = rows.drop_duplicates("Gene_name").set_index("Gene_name")["Tissue"]
    counts = rows.value_counts()
    return rows[rows.isin(counts.index[counts >= min_genes])]


def _classifier(seed: int):
    return make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    )


@dataclass
class GeneFunctionInput:
    embedding: pd.DataFrame  # genes x dims; NaN rows: genes without an embedding
    go: pd.DataFrame | None
    tissue: pd.Series | None
    n_splits: int = 5
    seed: int = 0
    details: list[pd.DataFrame] = field(default_factory=list)

    def vectors(self, genes) -> np.ndarray:
        return self.embedding.reindex(genes).fillna(0.0).to_numpy(dtype=np.float32)

    def coverage(self) -> float:
        labelled = set(self.go.index if self.go is not None else []) | set(
            self.tissue.index if self.tissue is not None else []
        )
        covered = self.embedding.dropna().index
        return len(covered.intersection(list(labelled))) / max(len(labelled), 1)

    def folds(self, labels) -> StratifiedKFold:
        smallest = int(pd.Series(labels).value_counts().min())
        return StratifiedKFold(n_splits=max(2, min(self.n_splits, smallest)), shuffle=True, random_state=self.seed)

    def __post_init__(self) -> None:
        self.go_predictions = cache(self._go_predictions)
        self.tissue_predictions = cache(self._tissue_predictions)

    def _go_predictions(self) -> pd.DataFrame:
        X = self.vectors(self.go.index)
        predicted = {term: cross_val_predict(_classifier(self.seed), X, self.go[term], cv=self.folds(self.go[term]))
                     for term in self.go.columns}  # fmt: skip
        frame = pd.DataFrame(predicted, index=self.go.index)
        f1 = [f1_score(self.go[t], frame[t], zero_division=0) for t in self.go]
        self.details.append(pd.DataFrame({"term": self.go.columns, "n_genes": self.go.sum().to_numpy(), "f1": f1}))
        return frame

    def _tissue_predictions(self) -> np.ndarray:
        X = self.vectors(self.tissue.index)
        predicted = cross_val_predict(_classifier(self.seed), X, self.tissue.to_numpy(), cv=self.folds(self.tissue))
        self.details.append(
            pd.DataFrame({"gene": self.tissue.index, "tissue": self.tissue.to_numpy(), "predicted": predicted})
        )
        return predicted


GENE_METRICS = {
    m.name: m
    for m in (
        Metric("go_accuracy", "GO accuracy", "gene", True, (0.0, 1.0),
               lambda d: float(np.mean([balanced_accuracy_score(d.go[t], d.go_predictions()[t]) for t in d.go])),
               ("go",), "mean over top-level GO terms of the cross-validated balanced accuracy (chance 0.5; terms "
               "are imbalanced, so plain accuracy would reward predicting 'no')"),
        Metric("go_macro_f1", "GO macro-F1", "gene", True, (0.0, 1.0),
               lambda d: float(np.mean([f1_score(d.go[t], d.go_predictions()[t], zero_division=0) for t in d.go])),
               ("go",), "mean over top-level GO terms of the F1 of predicting the term"),
        Metric("tissue_accuracy", "Tissue accuracy", "gene", True, (0.0, 1.0),
               lambda d: accuracy_score(d.tissue, d.tissue_predictions()),
               ("tissue",), "accuracy of predicting the tissue of HPA tissue-enriched genes"),
        Metric("tissue_macro_f1", "Tissue macro-F1", "gene", True, (0.0, 1.0),
               lambda d: f1_score(d.tissue, d.tissue_predictions(), average="macro", zero_division=0),
               ("tissue",), "macro-F1 of predicting the tissue of HPA tissue-enriched genes"),
        Metric("gene_coverage", "Gene coverage", "gene", True, (0.0, 1.0), lambda d: d.coverage(), ("embedding",),
               "share of the labelled genes that have an embedding (missing ones count as zero vectors)",
               scored=False),
    )
}  # fmt: skip


def gene_function_metrics(task_config: dict) -> list[Metric]:
    return select(GENE_METRICS, "gene_function", task_config, tuple(GENE_METRICS))


def evaluate_gene_function(embedding: pd.DataFrame | None, genes: list[str], config: dict, resources: dict[str, str],
                           seed: int) -> tuple[list[dict], list[pd.DataFrame]]:  # fmt: skip
    """Score one model's gene embeddings on the dataset's genes; ``resources`` are the resolved files."""
    config = task_settings("gene_function", config)
    min_genes, problems = int(config["min_genes"]), {"embedding": "", "go": "", "tissue": ""}
    go = tissue = None
    if embedding is None or embedding.dropna().empty:
        problems["embedding"] = problems["go"] = problems["tissue"] = "the model exported no gene embeddings"
    if "go_annotations" in resources and not problems["go"]:
        annotations = read_table(resources["go_annotations"])
        annotations = annotations[annotations["ontology"] == config["go_namespace"]]
        go = go_labels(annotations, read_table(resources["go_edges"]), genes, config["go_root"],
                       min_genes, float(config["max_fraction"]))  # fmt: skip
        if go.shape[1] == 0:
            problems["go"] = f"no top-level GO term has >= {min_genes} of the dataset's genes"
    elif not problems["go"]:
        problems["go"] = "no GO files configured (tasks.gene_function.go_annotations, go_edges)"
    if "tissue" in resources and not problems["tissue"]:
        tissue = tissue_labels(read_table(resources["tissue"]), genes, min_genes)
        if tissue.nunique() < 2:
            problems["tissue"] = f"fewer than 2 tissues have >= {min_genes} tissue-enriched genes in the dataset"
    elif not problems["tissue"]:
        problems["tissue"] = "no tissue file configured (tasks.gene_function.tissue)"
    inputs = GeneFunctionInput(embedding if embedding is not None else pd.DataFrame(), go, tissue,
                               int(config["n_splits"]), seed)  # fmt: skip
    rows = run_metrics(gene_function_metrics(config), inputs, problems)
    return rows, inputs.details
