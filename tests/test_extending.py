"""Extending the suite: a model from the template, a failing model, precomputed embeddings and a new scFM
family (tests/toy_family/: one folder plus one registry line), added to a copy of the checkout with no
change to benchmark/, workflow/ or metrics/."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmark.data.prepare import prepare_dataset
from benchmark.errors import ContractError
from benchmark.paths import REPO_ROOT
from benchmark.precomputed import load_external

pytestmark = pytest.mark.workflow


def copy_checkout(target: Path) -> Path:
    """The repository's files as a fresh clone would have them (tracked and unignored untracked)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    for name in listed:
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def sim_small():
    catalog = yaml.safe_load((REPO_ROOT / "config" / "datasets.yaml").read_text())
    return prepare_dataset(
        "sim_small", catalog["sim_small"], None, Path("/nonexistent"), {"min_genes": 25, "min_cells": 3}
    )


def test_new_models_by_copying_folders(tmp_path):
    repo = copy_checkout(tmp_path / "checkout")
    shutil.copytree(repo / "models" / "_template", repo / "models" / "my_model")
    shutil.copytree(repo / "models" / "_template", repo / "models" / "broken_model")
    model_py = repo / "models" / "broken_model" / "model.py"
    model_py.write_text(
        model_py.read_text().replace("n_comps = int(", "raise RuntimeError('simulated crash')\n        n_comps = int(")
    )
    shutil.copytree(REPO_ROOT / "tests" / "toy_family" / "bag_of_genes", repo / "models" / "bag_of_genes")
    registry = repo / "models" / "foundation" / "families.py"
    line = '    "bag_of_genes": "models.bag_of_genes.family",\n'  # the one registry line of a new family
    registered = registry.read_text().replace("FAMILIES = {\n", "FAMILIES = {\n" + line)
    assert registered != registry.read_text()
    registry.write_text(registered)

    external = sim_small()
    order = np.random.default_rng(0).permutation(external.n_obs)  # another cell order: matched by id
    external = external[order].copy()
    external.obsm["X_ext"] = external.obsm["X_pca_unintegrated"][:, :5]
    external.write_h5ad(tmp_path / "external.h5ad")

    config = yaml.safe_load((repo / "config" / "test.yaml").read_text())
    external_source = {"path": str(tmp_path / "external.h5ad"), "obsm_key": "X_ext"}
    models = ["random", "label_oracle", "hvg_pca", "my_model", "broken_model", "precomputed", "bag_of_genes"]
    config.update(run="extended", datasets=["sim_small"], models=models, precomputed={"sim_small": external_source})
    config["tasks"] = {"integration": {"metrics": ["kmeans_nmi", "silhouette_label", "ilisi"]},
                       "annotation": {"n_splits": 2, "train_fraction": 0.3}}  # fmt: skip
    configfile = repo / "config" / "extended.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [str(Path(sys.executable).parent / "snakemake"), "-s", str(repo / "workflow" / "Snakefile"),
               "--directory", str(tmp_path / "work"), "--cores", "2", "--configfile", str(configfile)]  # fmt: skip
    # the jobs import the copy's packages (its models/foundation/families.py with the new line), as in a clone
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo)})
    assert result.returncode == 0, result.stderr[-5000:]

    results = json.loads((tmp_path / "work" / "reports" / "extended" / "results.json").read_text())
    status = {(r["model"], r["task"]): r["status"] for r in results["task_scores"]}
    assert status[("my_model", "integration")] == "ok" and status[("precomputed", "annotation")] == "ok"
    assert status[("broken_model", "integration")] == "failed"
    assert status[("bag_of_genes", "integration")] == "ok"
    checkpoint = tmp_path / "work" / "results" / "checkpoints" / "bag_of_genes"
    pretrained = json.loads((checkpoint / "config.json").read_text())
    assert pretrained["family"] == "bag_of_genes" and len(pretrained["losses"]) == pretrained["steps"] == 4
    failure = next(f for f in results["failures"] if f["model"] == "broken_model")
    assert failure["message"] == "RuntimeError: simulated crash"
    ranked = {row["model"]: row for row in results["ranking"]}
    assert ranked["my_model"]["rank"] is not None and ranked["broken_model"]["rank"] is None
    html = (tmp_path / "work" / "reports" / "extended" / "leaderboard.html").read_text()
    assert "My model" in html and "RuntimeError: simulated crash" in html
    for folder in ("benchmark", "workflow", "metrics"):  # the framework was not touched
        diff = subprocess.run(["diff", "-r", "-x", "__pycache__", str(REPO_ROOT / folder), str(repo / folder)],
                              capture_output=True, text=True)  # fmt: skip
        assert diff.returncode == 0, diff.stdout[:2000]


def test_precomputed_cells_must_match():
    dataset = sim_small()
    external = dataset[5:].copy()
    external.obsm["X_emb"] = np.zeros((external.n_obs, 3))
    with pytest.raises(
        ContractError, match=r"5 of the prepared dataset's .* cells are not in the file .* same cell ids"
    ):
        load_external_from(external, dataset)
    external = dataset.copy()
    with pytest.raises(ContractError, match=r"obsm\['X_emb'\] is missing .*available: X_pca_unintegrated"):
        load_external_from(external, dataset)


def load_external_from(external, dataset, tmp=Path("/tmp")):
    path = tmp / f"external-{id(external)}.h5ad"
    external.write_h5ad(path)
    try:
        return load_external({"path": str(path)}, dataset, None)
    finally:
        path.unlink()
