"""Cell-type annotation: probes (kNN, logistic regression) on frozen embeddings over seeded folds.

Folds: ``n_splits`` stratified shuffle splits with ``train_fraction`` of the cells for training (the
anchor study trains on 20%). Cell types with fewer than ``min_cells_per_type`` cells are left out of
the task and listed. Metrics per probe, averaged over folds: accuracy, macro-F1, Cohen's κ, LCAD
(the published definition: mean ontology distance of the errors; 0 when nothing is misclassified)
and the misclassified share, both reported but not scored, and LCAD per cell (their product: the
mean over all test cells, correct ones counting 0), which is scored: it cannot be flattered by
being rarely but badly wrong, nor by being often but mildly wrong.
"""

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.config import task_settings
from benchmark.data.contract import label_problem, labelled_mask
from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from metrics.base import Metric
from metrics.lcad import LCAD

PROBES = ("knn", "logreg")


@dataclass
class AnnotationInput:
    X: np.ndarray
    labels: np.ndarray
    cells: np.ndarray
    splits: list[tuple[np.ndarray, np.ndarray]]
    knn_neighbors: int = 15
    seed: int = 0
    term_of_label: dict[str, str] | None = None
    lcad: LCAD | None = None
    details: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.predictions = cache(self._predict)

    def _probe(self, name: str):
        if name == "knn":
            return KNeighborsClassifier(n_neighbors=self.knn_neighbors)
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=self.seed))

    def _predict(self, probe: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(true, predicted) labels of the test cells of every split; the per-cell table is kept."""
        results = []
        for split, (train, test) in enumerate(self.splits):
            model = self._probe(probe).fit(self.X[train], self.labels[train])
            predicted = model.predict(self.X[test])
            results.append((self.labels[test], predicted))
            self.details.append(
                pd.DataFrame(
                    {
                        "cell": self.cells[test],
                        "split": split,
                        "probe": probe,
                        "true": self.labels[test],
                        "predicted": predicted,
                    }
                )
            )
        return results

    def mean_over_splits(self, probe: str, score) -> float:
        return float(np.mean([score(true, predicted) for true, predicted in self.predictions(probe)]))

    def lcad_score(self, true: np.ndarray, predicted: np.ndarray, drop_zero: bool | None = None) -> float:
        if np.all(true == predicted):
            return 0.0
        to_term = np.vectorize(self.term_of_label.get)
        return self.lcad.mean(to_term(true), to_term(predicted), drop_zero)

    def lcad_per_cell(self, true: np.ndarray, predicted: np.ndarray) -> float:
        """Over all test cells, correct ones 0: never drops zeros (``lcad_drop_zero`` is about LCAD's mean)."""
        return float(np.mean(true != predicted)) * self.lcad_score(true, predicted, drop_zero=False)


def _probe_metrics(probe: str) -> list[Metric]:
    def on(score):
        return lambda d: d.mean_over_splits(probe, score)

    label = {"knn": "kNN", "logreg": "LogReg", "finetuned": "Fine-tuned"}[probe]
    return [
        Metric(
            f"{probe}_accuracy",
            f"{label} accuracy",
            "annotation",
            True,
            (0.0, 1.0),
            on(accuracy_score),
            description=f"accuracy of a {label} probe on held-out cells",
        ),
        Metric(
            f"{probe}_macro_f1",
            f"{label} macro-F1",
            "annotation",
            True,
            (0.0, 1.0),
            on(lambda t, p: f1_score(t, p, average="macro", zero_division=0)),
            description=f"macro-averaged F1 of a {label} probe",
        ),
        Metric(
            f"{probe}_kappa",
            f"{label} κ",
            "annotation",
            True,
            (-1.0, 1.0),
            on(cohen_kappa_score),
            description=f"Cohen's kappa of a {label} probe",
        ),
        Metric(
            f"{probe}_lcad",
            f"{label} LCAD",
            "annotation",
            False,
            (0.0, float("inf")),
            lambda d: d.mean_over_splits(probe, d.lcad_score),
            ("labels", "ontology"),
            f"mean is_a edges from the LCA down to the true type, over misclassified cells ({label}); "
            "read it with the misclassified share",
            scored=False,
        ),
        Metric(
            f"{probe}_lcad_per_cell",
            f"{label} LCAD per cell",
            "annotation",
            False,
            (0.0, float("inf")),
            lambda d: d.mean_over_splits(probe, d.lcad_per_cell),
            ("labels", "ontology"),
            f"LCAD averaged over all test cells, correct ones counting 0 (= misclassified share x LCAD; {label})",
        ),
        Metric(
            f"{probe}_misclassified",
            f"{label} misclassified",
            "annotation",
            False,
            (0.0, 1.0),
            on(lambda t, p: float(np.mean(t != p))),
            description="share of misclassified test cells (read LCAD with it)",
            scored=False,
        ),
    ]


ANNOTATION_METRICS: dict[str, Metric] = {m.name: m for probe in PROBES for m in _probe_metrics(probe)}
ANNOTATION_DEFAULT = tuple(ANNOTATION_METRICS)


def annotation_metrics(task_config: dict) -> list[Metric]:
    return select(ANNOTATION_METRICS, "annotation", task_config, ANNOTATION_DEFAULT)


def make_splits(
    labels: np.ndarray, n_splits: int, train_fraction: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = StratifiedShuffleSplit(n_splits=n_splits, train_size=train_fraction, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


@dataclass
class AnnotationCells:
    """The cells the annotation task (and fine-tuning) uses, and the folds over them."""

    keep: np.ndarray  # mask over the dataset's cells: labelled, of types with >= min_cells_per_type cells
    labels: np.ndarray  # labels of the kept cells
    splits: list[tuple[np.ndarray, np.ndarray]]  # indices into the kept cells
    problems: dict[str, str]
    excluded: pd.Series  # types left out, with their cell counts


def annotation_cells(dataset, config: dict, seed: int, ontology_problem: str = "") -> AnnotationCells:
    """Seeded stratified splits over the labelled cells of the types with enough cells; identical for
    every model. Unlabelled cells are neither trained nor tested on."""
    config = task_settings("annotation", config)
    labels = dataset.obs["cell_type"].astype(str).to_numpy()
    labelled = labelled_mask(dataset)
    counts = pd.Series(labels[labelled]).value_counts()
    min_cells = int(config["min_cells_per_type"])
    kept_types = counts.index[counts >= min_cells]
    keep = labelled & np.isin(labels, kept_types)
    problems = {"labels": label_problem(dataset), "ontology": ontology_problem}
    if not problems["labels"] and len(kept_types) < 2:
        problems["labels"] = f"fewer than 2 cell types have >= {min_cells} cells"
    splits = [] if problems["labels"] else make_splits(
        labels[keep], int(config["n_splits"]), float(config["train_fraction"]), seed
    )  # fmt: skip
    return AnnotationCells(keep, labels[keep], splits, problems, counts[counts < min_cells])


def _with_ontology(inputs: AnnotationInput, dataset, ontology, problems: dict[str, str]) -> None:
    if not problems["ontology"]:
        terms = dataset.obs[["cell_type", "cell_type_ontology_term_id"]].astype(str).value_counts()
        inputs.term_of_label = {label: term for (label, term) in terms.index[::-1]}  # most frequent wins
        inputs.lcad = ontology.lcad


def evaluate_annotation(ctx: TaskContext) -> list[dict]:
    dataset, config = ctx.dataset, ctx.settings("annotation")
    cells = annotation_cells(dataset, config, ctx.seed, ctx.ontology_problem)
    inputs = AnnotationInput(
        X=np.asarray(ctx.X)[cells.keep],
        labels=cells.labels,
        cells=dataset.obs_names.to_numpy()[cells.keep],
        splits=cells.splits,
        knn_neighbors=int(config["knn_neighbors"]),
        seed=ctx.seed,
    )
    _with_ontology(inputs, dataset, ctx.ontology, cells.problems)
    rows = run_metrics(annotation_metrics(config), inputs, cells.problems)
    ctx.details.extend(inputs.details)
    if len(cells.excluded):
        ctx.details.append(pd.DataFrame({"excluded_type": cells.excluded.index, "n_cells": cells.excluded.to_numpy()}))
    return rows


class FinetunedPredictions(AnnotationInput):
    """The fine-tune rule's predictions, read back per split (no probe is fitted here)."""

    def __init__(self, predictions: pd.DataFrame) -> None:
        super().__init__(X=np.zeros((0, 0)), labels=np.array([]), cells=np.array([]), splits=[])
        self.table = predictions

    def _predict(self, probe: str) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(g["true"].astype(str).to_numpy(), g["predicted"].astype(str).to_numpy())
                for _, g in self.table.groupby("split", sort=True)]  # fmt: skip


FINETUNE_METRICS: dict[str, Metric] = {m.name: m for m in _probe_metrics("finetuned")}


def finetune_metrics(task_config: dict) -> list[Metric]:
    return select(FINETUNE_METRICS, "finetune", task_config, tuple(FINETUNE_METRICS))


def evaluate_finetuned(ctx: TaskContext, predictions: pd.DataFrame) -> list[dict]:
    """Score fine-tuned predictions with the annotation metrics (same cells and splits as the probes)."""
    problems = {"labels": label_problem(ctx.dataset) or ("" if len(predictions) else "no predictions"),
                "ontology": ctx.ontology_problem}  # fmt: skip
    inputs = FinetunedPredictions(predictions)
    _with_ontology(inputs, ctx.dataset, ctx.ontology, problems)
    ctx.details.append(predictions)
    return run_metrics(finetune_metrics(ctx.config), inputs, problems)
