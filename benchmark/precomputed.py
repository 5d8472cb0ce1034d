"""Score embeddings made elsewhere: read them, check them against the prepared dataset, write the contract."""

import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.config import section_settings
from benchmark.data.contract import read_dataset
from benchmark.embedding import validate_embedding
from benchmark.errors import ContractError, NotApplicable
from benchmark.io import write_h5ad, write_json


def load_external(source: dict, dataset: ad.AnnData, data_dir: Path | None) -> np.ndarray:
    """The external embedding aligned to the prepared dataset's cells (by cell id)."""
    path = Path(source["path"]).expanduser()
    if not path.is_absolute() and data_dir is not None:
        path = data_dir / path
    if not path.exists():
        raise ContractError(f"precomputed embedding {path} does not exist; check `precomputed.<dataset>.path`")
    try:
        external = ad.read_h5ad(path)
    except Exception as error:  # h5py and anndata raise many types for a file that is not an .h5ad
        raise ContractError(
            f"precomputed embedding {path} is not a readable .h5ad ({type(error).__name__}: {error}); "
            "write it with anndata (`adata.write_h5ad`)"
        ) from error
    key = section_settings("precomputed.*", source)["obsm_key"]
    if key not in external.obsm:
        raise ContractError(
            f"{path}: obsm['{key}'] is missing (config `precomputed.<dataset>.obsm_key`); "
            f"available: {', '.join(external.obsm.keys()) or 'none'}"
        )
    cells = dataset.obs_names
    missing = cells.difference(external.obs_names)
    if len(missing):
        raise ContractError(
            f"{path}: {len(missing)} of the prepared dataset's {len(cells)} cells are not in the file "
            f"(e.g. {', '.join(missing[:3])}); embed the same cells, with the same cell ids (obs_names)"
        )
    if not external.obs_names.is_unique:
        raise ContractError(f"{path}: obs_names (cell ids) are not unique")
    rows = pd.Index(external.obs_names).get_indexer(cells)
    return validate_embedding(np.asarray(external.obsm[key])[rows], len(cells), "precomputed")


def import_embedding(dataset_path: str, source: dict | None, data_dir: Path | None, output: str, run_info: str) -> str:
    """Write the embedding contract for an external embedding; problems become a failed status."""
    dataset = read_dataset(dataset_path, x=False)
    start = time.perf_counter()
    embedding, status, message = None, "ok", ""
    try:
        if source is None:
            raise NotApplicable(f"no precomputed embedding is configured for dataset '{dataset.uns['dataset']['id']}'")
        embedding = load_external(source, dataset, data_dir)
    except NotApplicable as reason:
        status, message = "not_applicable", str(reason)
    except ContractError as error:
        status, message = "failed", f"ContractError: {error}"
    out = ad.AnnData(obs=pd.DataFrame(index=dataset.obs_names))
    if embedding is not None:
        out.obsm["X_emb"] = embedding
    wall = time.perf_counter() - start
    out.uns["status"] = {"status": status, "message": message}
    out.uns["run"] = {"model": "precomputed", "dataset": dataset.uns["dataset"]["id"], "source": str(source),
                      "device": "cpu", "wall_time_s": wall}  # fmt: skip
    write_h5ad(out, output)
    write_json({**out.uns["run"], **out.uns["status"], "cells_per_s": 0.0, "peak_rss_mb": 0.0, "peak_gpu_mb": 0.0,
                "n_dims": 0 if embedding is None else embedding.shape[1], "notes": "{}"}, run_info)  # fmt: skip
    return status
