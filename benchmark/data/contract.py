"""The dataset contract: what every prepared dataset holds, checked on write and on read."""

import anndata as ad
import h5py
import numpy as np
from scipy import sparse

from benchmark.errors import ContractError

REQUIRED_OBS = ("batch", "cell_type")
X_KINDS = ("counts", "log_normalized")
UNLABELLED = "unlabelled"  # obs['cell_type'] of a cell without a label: left out of every label metric


def validate_dataset(adata: ad.AnnData, where: str, x: bool = True) -> None:
    """Raise :class:`ContractError` naming ``where`` (dataset id and file) if the contract is broken.

    ``x=False`` checks everything but the matrix (for a dataset read without it).
    """
    info = adata.uns.get("dataset")
    if not isinstance(info, dict) or "id" not in info:
        raise ContractError(f"{where}: uns['dataset'] is missing; prepare the dataset with prepare_dataset")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ContractError(
            f"{where}: the dataset is empty ({adata.n_obs} cells x {adata.n_vars} genes) after QC; "
            "check the input file or lower `qc.min_genes` / `qc.min_cells` in the config"
        )
    kind = info.get("x_kind")
    if kind not in X_KINDS:
        raise ContractError(f"{where}: uns['dataset']['x_kind'] must be one of {X_KINDS}, got {kind!r}")
    if x:
        _validate_x(adata.X, kind, where)
    if not adata.var_names.is_unique:
        raise ContractError(f"{where}: var_names (gene symbols) are not unique")
    for column in REQUIRED_OBS:
        if column not in adata.obs:
            raise ContractError(f"{where}: obs['{column}'] is missing")
        if adata.obs[column].isna().any():
            raise ContractError(f"{where}: obs['{column}'] has missing values")


def _validate_x(X: object, kind: str, where: str) -> None:
    if not sparse.issparse(X) or X.format != "csr":
        raise ContractError(f"{where}: X must be a CSR sparse matrix")
    values = X.data
    if not np.all(np.isfinite(values)):
        n_nan, n_inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
        raise ContractError(f"{where}: X holds {n_nan} NaN and {n_inf} infinite values")
    if np.any(values < 0):
        raise ContractError(f"{where}: X holds negative values; give raw counts or log-normalised values")
    if kind == "counts" and not np.all(values == np.round(values)):
        raise ContractError(
            f"{where}: X holds non-integer values but the catalog declares counts: true; "
            "point `keys.counts_layer` at the raw counts or set `counts: false`"
        )


def is_labelled(adata: ad.AnnData) -> bool:
    return bool(adata.uns["dataset"].get("labelled", True))


def labelled_mask(adata: ad.AnnData) -> np.ndarray:
    """True for the cells with a cell-type label (label metrics use only these)."""
    if not is_labelled(adata):
        return np.zeros(adata.n_obs, dtype=bool)
    return (adata.obs["cell_type"].astype(str) != UNLABELLED).to_numpy()


def label_problem(adata: ad.AnnData) -> str:
    """'' when label-based metrics apply, else why not (no labels, or a single cell type)."""
    labelled = labelled_mask(adata)
    if not labelled.any():
        return "the dataset has no cell-type labels"
    if adata.obs["cell_type"][labelled].nunique() < 2:
        return "the dataset has a single cell type"
    return ""


def n_batches(adata: ad.AnnData) -> int:
    return int(adata.obs["batch"].nunique())


def read_dataset(path: str, x: bool = True) -> ad.AnnData:
    """Read a prepared dataset and check its contract.

    ``x=False`` reads obs, var, obsm and uns only (``X`` is None), for steps that never use the counts:
    at a million cells the matrix is most of the file and of the memory.
    """
    where = f"prepared dataset {path}"
    if x:
        adata = ad.read_h5ad(path)
    else:
        with h5py.File(path, "r") as handle:
            if handle["X"].attrs.get("encoding-type") != "csr_matrix":
                raise ContractError(f"{where}: X must be a CSR sparse matrix")
            adata = ad.AnnData(**{key: ad.io.read_elem(handle[key]) for key in ("obs", "var", "obsm", "uns")})
    validate_dataset(adata, where, x=x)
    return adata
