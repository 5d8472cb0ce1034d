"""2-D maps of embeddings (UMAP), coloured by cell type and by batch, as small embedded PNGs.

Points are drawn in a seeded random order: drawn in data order, the cells of the last batch or type
would cover identical points of the others and hide them."""

import base64
import io
import warnings

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from benchmark.embedding import read_embedding  # noqa: E402
from benchmark.errors import ContractError  # noqa: E402

MAX_CELLS = 5000
MAX_DIMS = 50
NEIGHBOURS = 15
# UMAP's default for large data (it takes 500 below 10,000 cells): maps of 173 x 173 pixels look the same,
# at a third of the optimisation time.
EPOCHS = 200


def umap_coordinates(X: np.ndarray, seed: int) -> np.ndarray:
    """UMAP (15 neighbours, 200 epochs) of the embedding, after PCA to 50 dims when wider; seeded. The exact
    neighbours come from scikit-learn: below 4,096 cells UMAP would compute every pairwise distance through
    a Python call per pair (seconds per map)."""
    import umap
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=np.float32)
    if X.shape[1] > MAX_DIMS:
        X = PCA(n_components=MAX_DIMS, random_state=seed).fit_transform(X)
    k = min(NEIGHBOURS, len(X) - 1)
    distances, neighbours = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)  # each cell first, as UMAP's own
    reducer = umap.UMAP(n_neighbors=k, n_epochs=EPOCHS, random_state=seed, n_jobs=1,
                        precomputed_knn=(neighbours, distances.astype(np.float32), None))  # fmt: skip
    with warnings.catch_warnings():  # "no search index: transform() is unavailable": never called
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        return reducer.fit_transform(X)


def _palette(categories: list[str]) -> dict[str, tuple]:
    colours = plt.get_cmap("tab20").colors
    return {c: colours[i % len(colours)] for i, c in enumerate(categories)}


def _png(coordinates: np.ndarray, values: np.ndarray, palette: dict[str, tuple], order: np.ndarray) -> str:
    figure, axis = plt.subplots(figsize=(2.4, 2.4), dpi=72)
    shown = coordinates[order]
    axis.scatter(shown[:, 0], shown[:, 1], s=2, c=[palette[v] for v in values[order]], linewidths=0)
    axis.set_xticks([])
    axis.set_yticks([])
    figure.tight_layout(pad=0.1)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def embedding_maps(dataset: ad.AnnData, embeddings: dict[str, str], seed: int) -> dict:
    """{"legend": {colour_by: {category: hex}}, "maps": {model: {colour_by: base64 PNG}}} for one dataset."""
    rng = np.random.default_rng(seed)
    cells = np.sort(rng.choice(dataset.n_obs, size=min(MAX_CELLS, dataset.n_obs), replace=False))
    obs = dataset.obs.iloc[cells]
    colour_by = {"cell type": obs["cell_type"].astype(str).to_numpy(), "batch": obs["batch"].astype(str).to_numpy()}
    palettes = {key: _palette(sorted(pd.unique(values))) for key, values in colour_by.items()}
    order = rng.permutation(len(cells))  # the drawing order, the same for every map
    maps = {}
    for model, path in embeddings.items():
        try:
            X, status, _ = read_embedding(path, dataset)
        except ContractError:  # e.g. a plugin's cells in another order: its evaluation reports it as failed
            continue
        if X is None:
            continue
        coordinates = umap_coordinates(X[cells], seed)
        maps[model] = {key: _png(coordinates, values, palettes[key], order) for key, values in colour_by.items()}
    legend = {
        key: {c: matplotlib.colors.to_hex(rgb) for c, rgb in palette.items()} for key, palette in palettes.items()
    }
    return {"legend": legend, "maps": maps, "n_cells": int(len(cells))}
