"""The degenerate-embedding checks run before scoring, and how the report treats what they flag."""

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.io import write_h5ad
from benchmark.tasks import evaluate as evaluate_module
from benchmark.tasks.degenerate import degenerate_reason, effective_rank
from models.label_oracle.model import noisy_one_hot

RNG = np.random.default_rng(0)
LABELS = np.repeat(["T", "B", "NK"], 100)


def test_informative_embeddings_pass():
    assert degenerate_reason(RNG.normal(size=(300, 20)).astype(np.float32), LABELS) == ""
    assert degenerate_reason(noisy_one_hot(pd.Series(LABELS), 0.1, 0), LABELS) == ""  # the label oracle
    tiny = RNG.normal(scale=1e-8, size=(300, 5))  # small values are not constant
    assert degenerate_reason(tiny, LABELS) == ""


def test_constant_and_near_constant():
    assert degenerate_reason(np.full((300, 8), 3.0), LABELS).startswith("constant")
    near = 5.0 + RNG.normal(scale=1e-9, size=(300, 8))
    assert degenerate_reason(near, LABELS).startswith("constant")
    assert degenerate_reason(np.zeros((300, 8)), None).startswith("constant")


def test_rank_one():
    line = np.outer(RNG.normal(size=300), RNG.normal(size=16)) + RNG.normal(size=16)  # every cell on one line
    assert effective_rank(line) == 1
    assert degenerate_reason(line, LABELS) == "effective rank 1 (< 2): the cells lie on one line"
    plane = RNG.normal(size=(300, 2)) @ RNG.normal(size=(2, 16))
    assert effective_rank(plane) == 2 and degenerate_reason(plane, LABELS) == ""


def test_duplicated_rows_for_most_cells():
    rows = RNG.normal(size=(100, 10))
    mostly_copies = np.vstack([rows[:40], np.repeat(rows[40:50], 26, axis=0)])  # 260 of 300 cells share a vector
    reason = degenerate_reason(mostly_copies, None)
    assert reason == "duplicated rows: 87% of the cells share their vector with another cell"
    few_copies = np.vstack([rows, rows[:20], RNG.normal(size=(180, 10))])  # 40 of 300 cells
    assert degenerate_reason(few_copies, None) == ""


def test_identical_within_every_label():
    centroids = {"T": RNG.normal(size=6), "B": RNG.normal(size=6), "NK": RNG.normal(size=6)}
    labels = np.array(["T", "B", "NK", "T", "B", "NK"] + [f"single{i}" for i in range(10)])
    X = np.array([centroids[label] if label in centroids else RNG.normal(size=6) for label in labels])
    # 6 of 16 cells are copies (under the duplicated-rows threshold), yet every labelled group is one vector
    assert degenerate_reason(X, labels) == "identical within every label: the cells of each cell type share one vector"
    assert degenerate_reason(X, None) == ""


def test_evaluate_writes_the_reason_into_every_row(sim, tmp_path):
    write_h5ad(sim, tmp_path / "dataset.h5ad")
    for name, X in (("constant", np.ones((sim.n_obs, 5))), ("fine", sim.obsm["X_pca_unintegrated"][:, :10])):
        embedding = ad.AnnData(obs=pd.DataFrame(index=sim.obs_names))
        embedding.obsm["X_emb"] = X.astype(np.float32)
        embedding.uns["status"] = {"status": "ok", "message": ""}
        write_h5ad(embedding, tmp_path / f"{name}.h5ad")
    config = {"metrics": ["graph_connectivity", "silhouette_label"]}

    def rows(name: str) -> pd.DataFrame:
        return evaluate_module.evaluate(tmp_path / "dataset.h5ad", tmp_path / f"{name}.h5ad", "integration", config,
                                        name, 0, 0)[0]  # fmt: skip

    constant, fine = rows("constant"), rows("fine")
    assert list(constant.columns) == evaluate_module.SCORE_COLUMNS
    assert constant["degenerate"].str.startswith("constant").all() and (constant["status"] == "ok").all()
    assert (fine["degenerate"] == "").all()
