"""The embed step: one model on one dataset: check its needs, embed, validate, record status and cost."""

import json
import logging
import resource
import time
import traceback
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.data.contract import is_labelled, n_batches, read_dataset
from benchmark.errors import ContractError, NotApplicable
from benchmark.io import write_h5ad, write_json
from benchmark.ontology import OntologyView, load_view, ontology_problem
from benchmark.pretraining import pretraining_failure
from benchmark.provenance import package_versions
from benchmark.registry import ModelSpec, load_class

log = logging.getLogger(__name__)

RECORDED_PACKAGES = ("torch", "scanpy", "anndata", "scvi-tools", "harmonypy", "scib-metrics", "numpy")


def check_needs(spec: ModelSpec, adata: ad.AnnData, ontology: OntologyView | None = None) -> None:
    """Raise NotApplicable when the dataset lacks what model.yaml says the model needs."""
    needs = spec.needs
    info = adata.uns["dataset"]
    if needs.get("counts") and info["x_kind"] != "counts":
        raise NotApplicable(f"{spec.name} needs raw counts; dataset '{info['id']}' has {info['x_kind']} values")
    if needs.get("batches") and n_batches(adata) < 2:
        raise NotApplicable(f"{spec.name} corrects batches; dataset '{info['id']}' has a single batch")
    if needs.get("labels") and not is_labelled(adata):
        raise NotApplicable(f"{spec.name} needs cell-type labels; dataset '{info['id']}' has none")
    if needs.get("ontology"):
        problem = ontology_problem(adata, ontology)
        if problem:
            raise NotApplicable(f"{spec.name} needs Cell Ontology labels: {problem}")
    organisms = needs.get("organism")
    if organisms and info.get("organism") not in organisms:
        raise NotApplicable(f"{spec.name} supports {organisms}; dataset '{info['id']}' is {info.get('organism')}")


def validate_embedding(embedding: object, n_cells: int, model_id: str) -> np.ndarray:
    array = np.asarray(embedding, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != n_cells or array.shape[1] == 0:
        raise ContractError(
            f"model '{model_id}' returned an embedding of shape {array.shape}; expected ({n_cells}, d>0)"
        )
    if not np.all(np.isfinite(array)):
        raise ContractError(f"model '{model_id}' returned an embedding with NaN or infinite values")
    return array


def device_name() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def _peak_gpu_mb() -> float:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return float(torch.cuda.max_memory_allocated() / 2**20)
    return 0.0


def check_pretrained(spec: ModelSpec, checkpoint: str | Path | dict | None) -> None:
    failure = pretraining_failure(checkpoint)
    if failure:
        raise RuntimeError(f"pretraining {spec.id} failed: {failure}")


def embed_dataset(
    dataset_path: str | Path,
    spec: ModelSpec,
    params: dict,
    seed: int,
    output: str | Path,
    ontology_paths: tuple[str, str] | None = None,
    run_info: str | Path | None = None,
    checkpoint: str | Path | dict | None = None,
) -> str:
    """Embed a prepared dataset with one model and write the embedding contract; return the status.

    Failures never propagate: a model that raises is recorded as ``failed`` with its message,
    one that raises NotApplicable as ``not_applicable``, so the other jobs and the report go on.
    ``run_info``, when given, receives the run record and status as JSON.
    """
    adata = read_dataset(str(dataset_path))
    # The model gets the dataset itself (no copy: at a million cells X is gigabytes), so keep what is written below.
    cells, genes, dataset_id = adata.obs_names.copy(), adata.var.copy(), adata.uns["dataset"]["id"]
    device = device_name() if spec.resources.get("gpu", 0) else "cpu"  # a CPU model's job never imports torch
    start = time.perf_counter()
    embedding, status, message, model, gene_table = None, "ok", "", None, None
    try:
        ontology = load_view(*ontology_paths) if ontology_paths else None
        check_needs(spec, adata, ontology)
        check_pretrained(spec, checkpoint)
        if isinstance(checkpoint, Path):
            checkpoint = str(checkpoint)
        model = load_class(spec)(params=params, seed=seed, device=device, ontology=ontology, checkpoint=checkpoint)
        embedding = validate_embedding(model.embed(adata), len(cells), spec.id)
        gene_table = gene_embedding_table(model, spec, genes)
    except NotApplicable as reason:
        status, message = "not_applicable", str(reason)
    except Exception as error:  # one failed model never stops the others
        status, message = "failed", f"{type(error).__name__}: {error}"
        log.error("model %s failed on %s:\n%s", spec.id, dataset_id, traceback.format_exc())
    wall = time.perf_counter() - start
    del adata

    var = pd.DataFrame(index=genes.index if gene_table is not None else pd.Index([], dtype=str))
    out = ad.AnnData(obs=pd.DataFrame(index=cells), var=var)
    if embedding is not None:
        out.obsm["X_emb"] = embedding
    if gene_table is not None:
        out.varm["gene_emb"] = gene_table.reindex(genes.index).to_numpy(dtype=np.float32)  # NaN: unknown gene
    out.uns["status"] = {"status": status, "message": message}
    out.uns["run"] = {
        "model": spec.id,
        "dataset": dataset_id,
        "params": json.dumps(params, sort_keys=True),
        "seed": seed,
        "device": device,
        "wall_time_s": wall,
        "cells_per_s": len(cells) / wall if wall > 0 else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": _peak_gpu_mb(),
        "versions": package_versions(RECORDED_PACKAGES),
        "notes": json.dumps(getattr(model, "notes", {}), sort_keys=True),
    }
    write_h5ad(out, output)
    if run_info is not None:  # a small sidecar so the report need not open every embedding
        write_json(
            {**out.uns["run"], **out.uns["status"], "n_dims": 0 if embedding is None else embedding.shape[1]}, run_info
        )
    return status


def gene_embedding_table(model, spec: ModelSpec, var: pd.DataFrame) -> pd.DataFrame | None:
    """The model's gene embeddings (models with the `gene_embed` capability), one row per gene of ``var``."""
    if "gene_embed" not in spec.capabilities:
        return None
    names, matrix = model.gene_embeddings()
    table = pd.DataFrame(np.asarray(matrix, dtype=np.float32), index=pd.Index(names))
    table = table[~table.index.duplicated()]
    if not table.index.isin(var.index).any() and "gene_id" in var:  # an Ensembl-id vocabulary
        ids = [str(g).split(".")[0] for g in var["gene_id"]]
        table = table.reindex(ids).set_axis(var.index)
    return table


def read_embedding(path: str | Path, dataset: ad.AnnData) -> tuple[np.ndarray | None, str, str]:
    """Read an embedding file; return (X_emb or None, status, message), checking cell order."""
    emb = ad.read_h5ad(path)
    status = emb.uns["status"]
    if status["status"] != "ok":
        return None, status["status"], status["message"]
    if not emb.obs_names.equals(dataset.obs_names):
        raise ContractError(f"{path}: cells differ from the prepared dataset's cells (ids or order)")
    return np.asarray(emb.obsm["X_emb"]), "ok", ""
