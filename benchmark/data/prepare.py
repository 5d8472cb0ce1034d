"""prepare_dataset: any catalog source -> the canonical dataset contract, with the same QC for all."""

import json
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scanpy as sc
from scipy import sparse

from benchmark.config import section_settings
from benchmark.data import obs_query
from benchmark.data.contract import UNLABELLED, labelled_mask, validate_dataset
from benchmark.data.preprocess import unintegrated_pca
from benchmark.data.sources import load_source
from benchmark.errors import ContractError

SINGLE_BATCH = "all"
CHUNK_CELLS = 20_000  # input rows read at a time from a backed (large) input
PLACEHOLDER_LABELS = ("", "nan", "none", "unknown", UNLABELLED, "unlabeled")  # compared ignoring case
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _obs_column(obs: pd.DataFrame, where: str, key: str, field: str, missing_ok: bool = False) -> pd.Series:
    """An obs column as strings with surrounding whitespace stripped; missing values are an error
    unless ``missing_ok`` (then they stay NaN)."""
    if key not in obs:
        raise ContractError(
            f"{where}: obs has no column '{key}' (catalog field `keys.{field}`); available columns: "
            f"{', '.join(map(str, obs.columns)) or 'none'}; fix `keys.{field}` in the catalog"
        )
    column = obs[key]
    missing = column.isna()
    if missing.any() and not missing_ok:
        raise ContractError(
            f"{where}: obs['{key}'] (catalog field `keys.{field}`) has {int(missing.sum())} "
            "missing values; fill or drop those cells"
        )
    return column.astype(str).str.strip().where(~missing)


def _matrix(raw: ad.AnnData, where: str, layer: str | None) -> sparse.csr_matrix:
    """X, a layer, or ``raw`` (``adata.raw.X``, where CELLxGENE files keep the counts)."""
    if layer is None:
        matrix = raw.X
    elif layer == "raw":
        if raw.raw is None or list(raw.raw.var_names) != list(raw.var_names):
            raise ContractError(_NO_RAW.format(where=where))
        matrix = raw.raw.X
    elif layer in raw.layers:
        matrix = raw.layers[layer]
    else:
        raise ContractError(_NO_LAYER.format(where=where, layer=layer, layers=", ".join(raw.layers.keys()) or "none"))
    return _as_counts(matrix, where)


_NO_RAW = "{where}: `keys.counts_layer: raw` but the file has no .raw with the same genes as X; name a layer instead"
_NO_LAYER = "{where}: layer '{layer}' (catalog field `keys.counts_layer`) is missing; available layers: {layers}"


def _as_counts(matrix, where: str) -> sparse.csr_matrix:
    """The matrix as float32 CSR; values beyond float32's range are an overflow error, not silent infinities."""
    matrix = sparse.csr_matrix(matrix)
    if matrix.dtype.kind == "f" and matrix.dtype.itemsize > 4:
        finite = np.abs(matrix.data[np.isfinite(matrix.data)])
        too_large = finite > FLOAT32_MAX
        if too_large.any():
            raise ContractError(
                f"{where}: {int(too_large.sum())} values are too large for float32 (largest {finite.max():.3g}; "
                f"float32 holds up to {FLOAT32_MAX:.3g}): they would overflow to infinity; check the input's values"
            )
    matrix = matrix.astype(np.float32, copy=False)
    matrix.sum_duplicates()
    return matrix


def _checked(matrix: sparse.csr_matrix, entry: dict, where: str) -> sparse.csr_matrix:
    """Reject non-finite values, round to counts when the catalog says so (recorded), then reject non-integers."""
    finite = np.isfinite(matrix.data)
    if not finite.all():
        n_nan = int(np.isnan(matrix.data).sum())
        raise ContractError(
            f"{where}: the expression matrix holds {n_nan} NaN and {int((~finite).sum()) - n_nan} infinite values; "
            "clean the input (drop or fill those entries)"
        )
    if entry.get("round_to_counts"):  # explicit and recorded (uns['dataset']['rounded_to_counts'])
        matrix.data = np.round(matrix.data)
        matrix.eliminate_zeros()
    if bool(entry.get("counts", True)) and not np.all(matrix.data == np.round(matrix.data)):
        raise ContractError(
            f"{where}: X holds non-integer values but the catalog declares counts: true; point "
            "`keys.counts_layer` at the raw counts, or set `counts: false` (models that need counts "
            "will then be not applicable)"
        )
    return matrix


def standardize(raw: ad.AnnData, dataset_id: str, entry: dict, where: str) -> ad.AnnData:
    """Map the catalog's keys onto the contract's columns; keep only what the contract names."""
    if raw.n_obs == 0:
        raise ContractError(f"{where}: the input has no cells; check the file or the catalog's filters")
    obs, cells = _select_cells(raw.obs, entry, where)
    matrix = _checked(_matrix(raw, where, entry.get("keys", {}).get("counts_layer"))[cells], entry, where)
    obs = _contract_obs(obs, entry, where)
    genes, var = _contract_var(raw.var, entry, where)
    adata = ad.AnnData(matrix if genes is None else matrix[:, genes], obs=obs, var=var)
    adata.obs_names_make_unique()
    return adata


def _contract_obs(raw_obs: pd.DataFrame, entry: dict, where: str) -> pd.DataFrame:
    """The contract's obs columns (categorical) from the selected cells' obs."""
    keys = entry.get("keys", {})
    obs = pd.DataFrame(index=raw_obs.index.astype(str))
    batch_key = keys.get("batch")
    obs["batch"] = _obs_column(raw_obs, where, batch_key, "batch").to_numpy() if batch_key else SINGLE_BATCH
    obs["cell_type"] = _labels(raw_obs, entry, where)
    labelled = obs["cell_type"].to_numpy() != UNLABELLED
    ontology_key = keys.get("ontology_id")
    if ontology_key:
        ids = _obs_column(raw_obs, where, ontology_key, "ontology_id", missing_ok=True)
        if (ids.isna().to_numpy() & labelled).any():
            raise ContractError(
                f"{where}: obs['{ontology_key}'] (catalog field `keys.ontology_id`) has "
                f"{int((ids.isna().to_numpy() & labelled).sum())} missing values in labelled cells; fill them"
            )
        obs["cell_type_ontology_term_id"] = np.where(labelled, ids.to_numpy(), UNLABELLED)
    elif entry.get("label_ontology_ids"):
        obs["cell_type_ontology_term_id"] = _ontology_ids_from_labels(
            obs["cell_type"], entry["label_ontology_ids"], where
        )
    return pd.concat([obs, _task_columns(raw_obs, entry, where)], axis=1).astype("category")


def _labels(raw_obs: pd.DataFrame, entry: dict, where: str) -> np.ndarray:
    """Cell-type labels, stripped; missing and placeholder values (:data:`PLACEHOLDER_LABELS`) become
    :data:`UNLABELLED` unless the catalog's ``keep_placeholder_labels`` names them as real classes."""
    key = entry.get("keys", {}).get("label")
    if not key:
        return np.full(len(raw_obs), UNLABELLED, dtype=object)
    kept = [str(v).strip() for v in entry.get("keep_placeholder_labels", [])]
    if any(v.lower() in (UNLABELLED, "unlabeled") for v in kept):
        raise ContractError(
            f"{where}: catalog field `keep_placeholder_labels` cannot keep '{UNLABELLED}': it marks cells without "
            f"a label; rename that class with `derive_obs` (replace) and label from the new column"
        )
    values = _obs_column(raw_obs, where, key, "label", missing_ok=True)
    placeholder = values.isna() | (values.str.lower().isin(PLACEHOLDER_LABELS) & ~values.isin(kept))
    return values.where(~placeholder, UNLABELLED).to_numpy(dtype=object)


def _contract_var(raw_var: pd.DataFrame, entry: dict, where: str) -> tuple[np.ndarray | None, pd.DataFrame]:
    """The genes kept (a mask, None for all) and the contract's var for them."""
    keys = entry.get("keys", {})
    symbol_key = keys.get("gene_symbol")
    symbols = _var_column(raw_var, where, symbol_key, "gene_symbol") if symbol_key else _stripped(raw_var.index)
    genes = None
    if entry.get("duplicate_genes") == "keep_first":  # drop empty symbols and repeats (ignoring case) after the first
        genes = np.asarray(~symbols.str.upper().duplicated() & (symbols != ""))
        raw_var, symbols = raw_var[genes], symbols[genes]
    fix = (
        "deduplicate var_names in the file, set `keys.gene_symbol` to a column of unique symbols, or set "
        "`duplicate_genes: keep_first` in the catalog entry (keeps the first column of each symbol, ignoring case)"
    )
    duplicated = symbols[symbols.duplicated()].unique()
    if len(duplicated):
        raise ContractError(
            f"{where}: {len(duplicated)} gene symbols occur more than once after stripping whitespace "
            f"(e.g. {', '.join(duplicated[:5])}); {fix}"
        )
    upper = symbols.str.upper()
    if upper.duplicated().any():
        groups = pd.Series(symbols).groupby(upper.to_numpy()).agg(list)
        pairs = ["/".join(g) for g in groups[groups.str.len() > 1]]
        raise ContractError(
            f"{where}: {len(pairs)} gene symbols differ only in case (e.g. {', '.join(pairs[:5])}): one gene written "
            f"twice, and a vocabulary finds at most one spelling; {fix}"
        )
    var = pd.DataFrame(index=pd.Index(symbols, name=None))
    gene_id_key = keys.get("gene_id")
    if gene_id_key:
        var["gene_id"] = _var_column(raw_var, where, gene_id_key, "gene_id").to_numpy()
    return genes, var


def _task_columns(raw: pd.DataFrame, entry: dict, where: str) -> pd.DataFrame:
    """The columns the cancer, drug and perturbation tasks read: ``malignant`` (True/False), ``group``
    (tumour, patient or cell line: the unit folds never split), ``drug_<name>`` (sensitive/resistant/
    unlabelled) and ``condition`` (control/perturbed/other)."""
    keys = entry.get("keys", {})
    columns = pd.DataFrame(index=raw.index.astype(str))
    if keys.get("malignant"):
        flag = _obs_column(raw, where, keys["malignant"], "malignant").str.lower()
        unknown = sorted(set(flag) - {"true", "false", "1", "0"})
        if unknown:
            raise ContractError(f"{where}: `keys.malignant` column has values {unknown}; expected True/False")
        columns["malignant"] = flag.isin(["true", "1"]).map({True: "True", False: "False"}).to_numpy()
    if keys.get("group"):
        columns["group"] = _obs_column(raw, where, keys["group"], "group").to_numpy()
    if keys.get("condition"):
        columns["condition"] = _perturbation_condition(raw, entry, where)
    prefix = entry.get("drug_response", {}).get("prefix")
    if prefix:
        drugs = [c for c in raw.columns if str(c).startswith(prefix)]
        if not drugs:
            raise ContractError(f"{where}: no obs column starts with `drug_response.prefix` '{prefix}'")
        for column in drugs:
            values = raw[column].astype(str).str.lower()
            columns[f"drug_{column[len(prefix):]}"] = values.where(values.isin(["sensitive", "resistant"]),
                                                                  "unlabelled").to_numpy()  # fmt: skip
    return columns


def _perturbation_condition(raw: pd.DataFrame, entry: dict, where: str) -> np.ndarray:
    """``keys.condition`` mapped to control / perturbed (the catalog's ``perturbation`` values) / other."""
    values = _obs_column(raw, where, entry["keys"]["condition"], "condition")
    declared = entry.get("perturbation", {})
    for role in ("control", "perturbed"):
        if str(declared.get(role)) not in set(values):
            raise ContractError(
                f"{where}: catalog field `perturbation.{role}` ({declared.get(role)!r}) is not a value of obs column "
                f"'{entry['keys']['condition']}' (`keys.condition`); its values: {', '.join(sorted(set(values))[:10])}"
            )
    roles = {str(declared["control"]): "control", str(declared["perturbed"]): "perturbed"}
    return values.map(lambda value: roles.get(value, "other")).to_numpy()


def _select_cells(obs: pd.DataFrame, entry: dict, where: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Derived obs columns, then ``filter_obs`` (value lists), then ``obs_query`` (see :mod:`benchmark.data.obs_query`).

    Returns the selected cells' obs (with the derived columns) and their positions in the input.
    """
    derived = {}
    for column, rule in entry.get("derive_obs", {}).items():
        values = _obs_column(obs, where, rule["from"], f"derive_obs.{column}.from")
        if rule.get("lowercase"):
            values = values.str.lower()
        derived[column] = values.replace(rule.get("replace", {}))
    if derived:
        obs = obs.copy()
        for column, values in derived.items():
            obs[column] = values.to_numpy()
    cells = np.arange(len(obs))
    for column, wanted in entry.get("filter_obs", {}).items():
        keep = _obs_column(obs, where, column, f"filter_obs.{column}").isin([str(v) for v in wanted]).to_numpy()
        obs, cells = obs[keep], cells[keep]
    query = entry.get("obs_query")
    if query:
        try:
            keep = obs_query.select(obs, query)
        except (obs_query.QueryError, TypeError) as error:  # TypeError: e.g. '<' on an unordered category
            raise ContractError(f"{where}: catalog field `obs_query` ({query!r}) refused: {error}") from error
        obs, cells = obs[keep], cells[keep]
    if len(obs) == 0:
        raise ContractError(f"{where}: no cells are left after `filter_obs`/`obs_query`; check those catalog fields")
    return obs, cells


def _ontology_ids_from_labels(labels: pd.Series, mapping: dict[str, str], where: str) -> np.ndarray:
    unmapped = sorted(set(labels) - set(mapping) - {UNLABELLED})
    if unmapped:
        raise ContractError(f"{where}: catalog field `label_ontology_ids` has no CL id for labels {unmapped}; add them")
    return labels.map({**mapping, UNLABELLED: UNLABELLED}).to_numpy()


def _var_column(var: pd.DataFrame, where: str, key: str, field: str) -> pd.Index:
    """A var column; ``_index`` names var_names itself (e.g. CELLxGENE's Ensembl ids)."""
    if key == "_index":
        return _stripped(var.index)
    if key not in var:
        raise ContractError(
            f"{where}: var has no column '{key}' (catalog field `keys.{field}`); available columns: "
            f"{', '.join(map(str, var.columns)) or 'none'}"
        )
    return _stripped(var[key])


def _stripped(values: pd.Index | pd.Series) -> pd.Index:
    """Gene symbols or ids as strings without surrounding whitespace."""
    return pd.Index(pd.Index(values).astype(str).str.strip())


def apply_qc(adata: ad.AnnData, min_genes: int, min_cells: int) -> ad.AnnData:
    """The one QC every model sees: drop cells with < min_genes genes and genes in < min_cells cells."""
    cells = np.asarray((adata.X > 0).sum(axis=1)).ravel() >= min_genes
    adata = adata[cells].copy()
    genes = np.asarray((adata.X > 0).sum(axis=0)).ravel() >= min_cells
    adata = adata[:, genes].copy()
    for column in adata.obs.columns:
        adata.obs[column] = adata.obs[column].cat.remove_unused_categories()
    return adata


def _backed_rows(
    raw: ad.AnnData, where: str, layer: str | None, cells: np.ndarray, chunk_cells: int
) -> Iterator[sparse.csr_matrix]:
    """The selected cells' matrix (see :func:`_matrix`) from a backed file, ``chunk_cells`` input rows at a time."""
    with h5py.File(raw.filename, "r") as handle:
        key = "X" if layer is None else "raw/X" if layer == "raw" else f"layers/{layer}"
        if layer == "raw" and (
            "raw" not in handle or list(ad.io.read_elem(handle["raw/var"]).index) != list(raw.var_names)
        ):
            raise ContractError(_NO_RAW.format(where=where))
        if key not in handle:
            layers = ", ".join(handle["layers"].keys()) if "layers" in handle else ""
            raise ContractError(_NO_LAYER.format(where=where, layer=layer, layers=layers or "none"))
        element = handle[key]
        matrix = ad.io.sparse_dataset(element) if isinstance(element, h5py.Group) else element
        for start in range(0, raw.n_obs, chunk_cells):
            rows = cells[(cells >= start) & (cells < start + chunk_cells)] - start
            if len(rows):
                yield _as_counts(matrix[start : min(start + chunk_cells, raw.n_obs)], where)[rows]


def standardize_backed(
    raw: ad.AnnData, entry: dict, where: str, min_genes: int, min_cells: int, chunk_cells: int
) -> tuple[ad.AnnData, tuple[int, int]]:
    """:func:`standardize` then :func:`apply_qc` for a backed input, reading it in chunks of cells.

    The first pass checks the values and counts genes per cell and cells per gene; the second fills
    the QC-passing counts into one preallocated CSR (memory: the output plus one chunk). Returns the
    dataset and the (cells, genes) before QC.
    """
    if raw.n_obs == 0:
        raise ContractError(f"{where}: the input has no cells; check the file or the catalog's filters")
    obs, cells = _select_cells(raw.obs, entry, where)
    obs = _contract_obs(obs, entry, where)
    obs.index = ad.utils.make_index_unique(obs.index)
    genes, var = _contract_var(raw.var, entry, where)
    layer = entry.get("keys", {}).get("counts_layer")

    def blocks() -> Iterator[sparse.csr_matrix]:
        for block in _backed_rows(raw, where, layer, cells, chunk_cells):
            yield _checked(block if genes is None else block[:, genes], entry, where)

    keep_cells, expressing, stored = [], np.zeros(len(var), dtype=np.int64), np.zeros(len(var), dtype=np.int64)
    for block in blocks():
        keep = np.asarray((block > 0).sum(axis=1)).ravel() >= min_genes
        kept = block[keep]
        expressing += np.bincount(kept.indices[kept.data > 0], minlength=len(var))
        stored += np.bincount(kept.indices, minlength=len(var))
        keep_cells.append(keep)
    keep_cell, keep_gene = np.concatenate(keep_cells), expressing >= min_cells
    nnz = int(stored[keep_gene].sum())
    index_dtype = np.int32 if max(nnz, len(var)) < 2**31 else np.int64
    data, indices = np.empty(nnz, dtype=np.float32), np.empty(nnz, dtype=index_dtype)
    indptr, filled = [np.zeros(1, dtype=index_dtype)], 0
    for block, keep in zip(blocks(), keep_cells, strict=True):
        block = block[keep][:, keep_gene]
        data[filled : filled + block.nnz], indices[filled : filled + block.nnz] = block.data, block.indices
        indptr.append((block.indptr[1:] + filled).astype(index_dtype))
        filled += block.nnz
    matrix = sparse.csr_matrix(
        (data, indices, np.concatenate(indptr)), shape=(int(keep_cell.sum()), int(keep_gene.sum()))
    )
    obs = obs[keep_cell].copy()
    for column in obs.columns:
        obs[column] = obs[column].cat.remove_unused_categories()
    return ad.AnnData(matrix, obs=obs, var=var[keep_gene]), (len(keep_cell), len(var))


def prepare_dataset(
    dataset_id: str,
    entry: dict,
    data_dir: Path | None,
    cache_dir: Path,
    qc: dict,
    seed: int = 0,
) -> ad.AnnData:
    """Load, standardise, QC and validate one catalog entry; record provenance in ``uns['dataset']``."""
    raw, checksum, origin = load_source(dataset_id, entry, data_dir, cache_dir)
    where = f"dataset '{dataset_id}' ({origin})"
    qc = section_settings("qc", qc)
    min_genes, min_cells = int(qc["min_genes"]), int(qc["min_cells"])
    if raw.isbacked:  # large: read in chunks, never the whole input at once
        adata, n_input = standardize_backed(raw, entry, where, min_genes, min_cells, CHUNK_CELLS)
        raw.file.close()
    else:
        adata = standardize(raw, dataset_id, entry, where)
        n_input = (adata.n_obs, adata.n_vars)
        adata = apply_qc(adata, min_genes, min_cells)
    adata.uns["dataset"] = {
        "id": dataset_id,
        "source": origin,
        "sha256": checksum,
        "organism": entry.get("organism", "human"),
        "x_kind": "counts" if entry.get("counts", True) else "log_normalized",
        "labelled": bool(entry.get("keys", {}).get("label")) and bool((adata.obs["cell_type"] != UNLABELLED).any()),
        "rounded_to_counts": bool(entry.get("round_to_counts", False)),
        "description": entry.get("description", ""),
        "catalog_entry": json.dumps(entry, sort_keys=True),
        "n_cells_input": n_input[0],
        "n_genes_input": n_input[1],
    }
    validate_dataset(adata, where)
    sc.settings.verbosity = 0
    adata.obsm["X_pca_unintegrated"] = unintegrated_pca(adata, seed=seed)
    return adata


def summarize(adata: ad.AnnData) -> dict:
    """Numbers about a prepared dataset for the report."""
    info = dict(adata.uns["dataset"])
    labelled = labelled_mask(adata)
    info.update(
        n_cells=int(adata.n_obs),
        n_genes=int(adata.n_vars),
        n_batches=int(adata.obs["batch"].nunique()),
        n_cell_types=int(adata.obs["cell_type"][labelled].nunique()),
        n_unlabelled_cells=int((~labelled).sum()),  # left out of label metrics
        has_ontology_ids="cell_type_ontology_term_id" in adata.obs,
    )
    return info
