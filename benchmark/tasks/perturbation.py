"""Perturbation response: predict how a cell type responds to a perturbation it was never seen under.

Datasets name ``keys.condition`` and its ``perturbation: {control, perturbed}`` values in the catalog.
Each cell type (with enough control and perturbed cells) is held out in turn as the *target*: from
every cell except the target's perturbed ones, predict the perturbed expression of the target's
control cells. Expression is log-normalised (CP10k, log1p) on the ``n_genes`` most variable genes,
chosen on those same cells.

Predictions (one row per target control cell):

- **no change**: the control cells themselves (the floor);
- **additive**: each control cell plus the mean expression shift (perturbed − control) of the other
  cell types, each type weighted equally;
- **embedding** (the model's score, one predictor for every model): the same shift taken in the
  model's embedding, δ = mean over the other types of (mean perturbed − mean control embedding) on one
  seeded half of their cells; a k-nearest-neighbour decoder D fitted on the other half (both
  conditions) maps embeddings to expression, and each control cell x with embedding z is predicted as
  x + D(z + δ) − D(z). An
  embedding where the perturbation is a consistent direction and similar types are neighbours moves
  each cell to the response of the types it resembles; one that ignores the perturbation (δ ≈ 0, or
  z + δ keeps the same neighbours) predicts no change;
- **observed**: the target's perturbed cells (the ceiling).

Metrics per target, then averaged over targets: scGen's R² (squared Pearson correlation of mean
expression) over all genes and over the target's top ``n_de_genes`` differentially expressed genes
(Wilcoxon rank-sum of perturbed vs control, up-regulated first, as scanpy's ``rank_genes_groups``
orders them), Pearson correlation of the predicted and observed mean shift, and the energy distance
between predicted and observed cells on a PCA (``n_pcs``) fitted on all the fold's cells, the same
for every prediction. The scored values are scaled so that no change = 0 and observed = 1 (for the
energy distance, 1 − distance / no change's distance), from the means over targets; the raw values
and the additive baseline's scaled values are reported beside them. Cells are subsampled to at most
``max_cells`` per cell type and condition (seeded).
"""

from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import mannwhitneyu
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from benchmark.config import task_settings
from benchmark.data.contract import UNLABELLED, is_labelled
from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from metrics.base import Metric
from metrics.perturbation import delta_pearson, energy_distance, scaled_to_references, squared_pearson

SETTINGS = ("n_genes", "n_neighbors", "n_de_genes", "n_pcs", "max_cells", "min_cells")  # defaults: the config schema
MEASURES = {  # name: (label, raw direction: higher is better, description)
    "r2_all": ("R² mean, all genes", True, "scGen's R² (squared Pearson) of predicted vs observed mean expression"),
    "r2_de": ("R² mean, top DE genes", True, "the same R² over the target type's top differentially expressed genes"),
    "delta_pearson": ("Δ Pearson", True, "Pearson of predicted vs observed mean shift from the control cells"),
    "energy": ("Energy distance", False, "energy distance between predicted and observed cells on a fixed PCA"),
}  # fmt: skip


@dataclass
class Cells:
    """The task's cells: log-normalised expression, embedding, cell type, perturbed or control."""

    expression: sparse.csr_matrix
    embedding: np.ndarray
    cell_type: np.ndarray
    perturbed: np.ndarray
    batch: np.ndarray

    def subset(self, rows: np.ndarray) -> "Cells":
        return Cells(self.expression[rows], self.embedding[rows], self.cell_type[rows], self.perturbed[rows],
                     self.batch[rows])  # fmt: skip


@dataclass
class PerturbationResults:
    """Means over targets of every measure for every predictor, and the scaled values."""

    raw: dict[str, dict[str, float]] = field(default_factory=dict)  # predictor -> measure -> mean over targets

    def scaled(self, predictor: str, measure: str) -> float:
        return scaled_to_references(self.raw[predictor][measure], self.raw["no_change"][measure],
                                    self.raw["observed"][measure])  # fmt: skip


def _metrics() -> dict[str, Metric]:
    metrics = {}
    for measure, (label, higher, description) in MEASURES.items():
        scaled = "scaled: no change 0, observed 1"
        metrics[f"perturbation_{measure}"] = Metric(
            f"perturbation_{measure}",
            f"{label} (scaled)",
            "perturbation",
            True,
            (-np.inf, 1.0),
            lambda r, m=measure: r.scaled("embedding", m),
            description=f"{description}; {scaled}",
            scaled_by_task=True,
        )
        metrics[f"perturbation_{measure}_raw"] = Metric(
            f"perturbation_{measure}_raw",
            f"{label} (raw)",
            "perturbation",
            higher,
            (-np.inf, np.inf),
            lambda r, m=measure: r.raw["embedding"][m],
            description=f"{description}; raw, mean over targets",
            scored=False,
        )
        metrics[f"perturbation_{measure}_additive"] = Metric(
            f"perturbation_{measure}_additive",
            f"{label}: additive baseline",
            "perturbation",
            True,
            (-np.inf, 1.0),
            lambda r, m=measure: r.scaled("additive", m),
            scored=False,
            scaled_by_task=True,
            description=f"reference: the additive baseline's value ({scaled}), the same for every model",
        )
    return metrics


PERTURBATION_METRICS = _metrics()
PERTURBATION_DEFAULT = tuple(PERTURBATION_METRICS)


def perturbation_metrics(task_config: dict) -> list[Metric]:
    return select(PERTURBATION_METRICS, "perturbation", task_config, PERTURBATION_DEFAULT)


def settings(task_config: dict) -> dict:
    filled = task_settings("perturbation", task_config)
    return {key: int(filled[key]) for key in SETTINGS}


# ---------- the cells ----------
def task_cells(dataset: ad.AnnData, embedding: np.ndarray, config: dict, seed: int) -> tuple[Cells | None, str, list]:
    """The subsampled control and perturbed cells of the cell types that have both (at least ``min_cells``
    each), with why anything is left out; (None, reason, notes) when the task cannot run."""
    obs = dataset.obs
    if "condition" not in obs:
        return None, "the dataset declares no condition (catalog keys.condition and perturbation)", []
    if not is_labelled(dataset):
        return None, "the dataset has no cell-type labels", []
    if dataset.X is None:
        raise ValueError("the perturbation task needs the expression: read the dataset with x=True")
    condition, types = obs["condition"].astype(str).to_numpy(), obs["cell_type"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    rows, notes = [], []
    for cell_type in sorted(set(types) - {UNLABELLED}):  # cells without a label take no part
        groups = [np.flatnonzero((types == cell_type) & (condition == c)) for c in ("control", "perturbed")]
        if min(len(g) for g in groups) < config["min_cells"]:
            notes.append(
                {"target": cell_type, "reason": f"fewer than {config['min_cells']} control or perturbed cells"}
            )
            continue
        for group in groups:
            too_many = len(group) > config["max_cells"]
            rows.append(np.sort(rng.choice(group, config["max_cells"], replace=False)) if too_many else group)
    if len(rows) < 4:
        return None, f"needs at least two cell types with {config['min_cells']} control and perturbed cells each", notes
    rows = np.sort(np.concatenate(rows))
    from benchmark.data.preprocess import log_normalized  # here: scanpy, which every evaluate job would import

    expression = log_normalized(dataset[rows]).X
    cells = Cells(sparse.csr_matrix(expression, dtype=np.float32), np.asarray(embedding, dtype=np.float64)[rows],
                  types[rows], condition[rows] == "perturbed", obs["batch"].astype(str).to_numpy()[rows])  # fmt: skip
    return cells, "", notes


# ---------- predictions (never see the target's perturbed cells) ----------
def allowed(cells: Cells, target: str) -> np.ndarray:
    """Every cell except the target's perturbed ones: all a prediction for ``target`` may use."""
    return ~((cells.cell_type == target) & cells.perturbed)


def fold_genes(cells: Cells, target: str, n_genes: int) -> np.ndarray:
    """The ``n_genes`` most variable genes (column indices) of the cells a prediction may use."""
    if cells.expression.shape[1] <= n_genes:
        return np.arange(cells.expression.shape[1])
    seen = cells.subset(allowed(cells, target))
    names = np.array([f"g{i}" for i in range(seen.expression.shape[1])])
    obs = pd.DataFrame({"batch": seen.batch}, index=[f"c{i}" for i in range(len(seen.batch))])
    adata = ad.AnnData(seen.expression, obs=obs, var=pd.DataFrame(index=names))
    from benchmark.data.preprocess import highly_variable  # here: scanpy, which every evaluate job would import

    kept = highly_variable(adata, n_genes).var_names
    return np.flatnonzero(np.isin(names, kept))


def type_shift(values: np.ndarray, cell_type: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Mean over cell types (equal weights) of (mean perturbed − mean control) of ``values``' rows."""
    shifts = [values[(cell_type == t) & perturbed].mean(axis=0) - values[(cell_type == t) & ~perturbed].mean(axis=0)
              for t in sorted(set(cell_type))]  # fmt: skip
    return np.mean(shifts, axis=0)


def halves(cell_type: np.ndarray, perturbed: np.ndarray, seed: int) -> np.ndarray:
    """A seeded split of the cells into two halves, within every (cell type, condition): True = first."""
    rng, first = np.random.default_rng(seed), np.zeros(len(cell_type), dtype=bool)
    for group in sorted(set(zip(cell_type, perturbed, strict=True))):
        rows = np.flatnonzero((cell_type == group[0]) & (perturbed == group[1]))
        first[rng.permutation(rows)[: len(rows) // 2]] = True
    return first


def predict(cells: Cells, target: str, genes: np.ndarray, n_neighbors: int, seed: int) -> dict[str, np.ndarray]:
    """The no-change, additive and embedding predictions for the target's control cells (cells x genes),
    from :func:`allowed` cells only. The embedding's shift and its decoder come from disjoint halves of
    the other types' cells: a shift estimated on the decoder's own cells points at them (a random
    embedding would then move cells towards the perturbed ones it memorised)."""
    seen = cells.subset(allowed(cells, target))
    expression = seen.expression[:, genes].toarray().astype(np.float64)
    control = (seen.cell_type == target) & ~seen.perturbed
    others = seen.cell_type != target
    x, z = expression[control], seen.embedding[control]
    additive = x + type_shift(expression[others], seen.cell_type[others], seen.perturbed[others])
    first = np.zeros(len(others), dtype=bool)
    first[others] = halves(seen.cell_type[others], seen.perturbed[others], seed)
    decoding = others & ~first
    shift = type_shift(seen.embedding[first], seen.cell_type[first], seen.perturbed[first])
    decoder = NearestNeighbors(n_neighbors=min(n_neighbors, int(decoding.sum()))).fit(seen.embedding[decoding])

    def decode(points: np.ndarray) -> np.ndarray:  # mean expression of the nearest decoding cells
        weights = decoder.kneighbors_graph(points) / decoder.n_neighbors
        return np.asarray(weights @ expression[decoding])

    return {"no_change": x, "additive": additive, "embedding": x + decode(z + shift) - decode(z)}


# ---------- scoring one target ----------
def top_de_genes(control: np.ndarray, perturbed: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` genes with the largest Wilcoxon rank-sum statistic of perturbed vs control
    (up-regulated first; scanpy's rank_genes_groups order)."""
    statistic = mannwhitneyu(perturbed, control, axis=0).statistic
    return np.argsort(-statistic, kind="stable")[: min(n, len(statistic))]


def score_target(predictions: dict[str, np.ndarray], control: np.ndarray, observed: np.ndarray, pca: PCA,
                 de: np.ndarray) -> dict[str, dict[str, float]]:  # fmt: skip
    """Every measure for every prediction (``observed`` included) of one target."""
    control_mean, observed_mean = control.mean(axis=0), observed.mean(axis=0)
    observed_pcs = pca.transform(observed)
    scores = {}
    for name, predicted in {**predictions, "observed": observed}.items():
        mean = predicted.mean(axis=0)
        scores[name] = {
            "r2_all": squared_pearson(mean, observed_mean),
            "r2_de": squared_pearson(mean[de], observed_mean[de]),
            "delta_pearson": delta_pearson(mean, observed_mean, control_mean),
            "energy": energy_distance(pca.transform(predicted), observed_pcs),
        }
    return scores


def evaluate_target(cells: Cells, target: str, config: dict, seed: int,
                    pcas: dict[bytes, PCA] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """Predict the target from the allowed cells, then score against its observed perturbed cells. The
    PCA is fitted on all the cells on the fold's genes, once per gene set (``pcas`` caches it)."""
    genes = fold_genes(cells, target, config["n_genes"])
    predictions = predict(cells, target, genes, config["n_neighbors"], seed)
    expression = cells.expression[:, genes].toarray().astype(np.float64)
    is_target = cells.cell_type == target
    control, observed = expression[is_target & ~cells.perturbed], expression[is_target & cells.perturbed]
    pcas = {} if pcas is None else pcas
    if genes.tobytes() not in pcas:
        n_pcs = min(config["n_pcs"], expression.shape[0] - 1, expression.shape[1] - 1)
        pcas[genes.tobytes()] = PCA(n_components=n_pcs, svd_solver="randomized", random_state=seed).fit(expression)
    pca = pcas[genes.tobytes()]
    return score_target(predictions, control, observed, pca, top_de_genes(control, observed, config["n_de_genes"]))


def evaluate_perturbation(ctx: TaskContext) -> list[dict]:
    config = settings(ctx.config)
    metrics = perturbation_metrics(ctx.config)
    cells, problem, notes = task_cells(ctx.dataset, ctx.X, config, ctx.seed)
    if cells is None:
        if notes:
            ctx.details.append(pd.DataFrame(notes))
        return run_metrics(metrics, None, {"labels": problem})
    rows, pcas = [], {}
    for target in sorted(set(cells.cell_type)):
        scores = evaluate_target(cells, target, config, ctx.seed, pcas)
        is_target = cells.cell_type == target
        sizes = {
            "n_control": int((is_target & ~cells.perturbed).sum()),
            "n_perturbed": int((is_target & cells.perturbed).sum()),
        }
        rows += [{"target": target, "predictor": name, **values, **sizes} for name, values in scores.items()]
    table = pd.DataFrame(rows)
    results = PerturbationResults(
        {name: group[list(MEASURES)].mean().to_dict() for name, group in table.groupby("predictor", sort=False)}
    )
    ctx.details.append(pd.concat([table, pd.DataFrame(notes)], ignore_index=True))
    return run_metrics(metrics, results, {"labels": ""})
