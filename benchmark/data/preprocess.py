"""Shared preprocessing: the same log-normalisation, HVG selection and PCA for every model."""

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from benchmark.data.contract import n_batches


def log_normalized(adata: ad.AnnData, target_sum: float = 1e4) -> ad.AnnData:
    """log1p(counts per ``target_sum``) in a new AnnData of X, obs, var and uns; log-normalised inputs keep
    their values. Only X is copied (not obsm or layers), and normalised in place: it is large at scale."""
    # A copy of uns: scanpy's log1p records itself there, and would then warn that the next (count) input
    # "seems to be already log-transformed".
    out = ad.AnnData(adata.X.copy(), obs=adata.obs.copy(), var=adata.var.copy(), uns=dict(adata.uns))
    if adata.uns["dataset"]["x_kind"] == "counts":
        sc.pp.normalize_total(out, target_sum=target_sum)
        sc.pp.log1p(out)
    return out


def highly_variable(adata_log: ad.AnnData, n_top_genes: int) -> ad.AnnData:
    """The ``n_top_genes`` most variable genes (Seurat flavour, batch-aware when there are batches)."""
    if adata_log.n_vars <= n_top_genes:
        return adata_log
    batch_key = "batch" if n_batches(adata_log) > 1 else None
    hvg = sc.pp.highly_variable_genes(
        adata_log, n_top_genes=n_top_genes, flavor="seurat", batch_key=batch_key, inplace=False
    )
    return adata_log[:, hvg["highly_variable"].to_numpy()].copy()


def pca(adata: ad.AnnData, n_comps: int, seed: int) -> np.ndarray:
    """PCA of X (cells x min(n_comps, n_cells - 1, n_genes - 1)) as float32."""
    return pca_with_loadings(adata, n_comps, seed)[0]


def pca_with_loadings(adata: ad.AnnData, n_comps: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """The PCA scores and the gene loadings (genes x components): the baselines' gene embeddings."""
    n_comps = min(n_comps, adata.n_obs - 1, adata.n_vars - 1)
    scores, components, _, _ = sc.pp.pca(
        adata.X, n_comps=n_comps, random_state=seed, svd_solver="arpack", return_info=True
    )
    return scores.astype(np.float32), pd.DataFrame(components.T, index=adata.var_names)


def unintegrated_pca(adata: ad.AnnData, n_top_genes: int = 2000, n_comps: int = 50, seed: int = 0) -> np.ndarray:
    """scIB's unintegrated reference: PCA of the log-normalised highly variable genes."""
    return pca(highly_variable(log_normalized(adata), n_top_genes), n_comps, seed)
