import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from benchmark.data.contract import read_dataset, validate_dataset
from benchmark.data.prepare import apply_qc, prepare_dataset, standardize
from benchmark.errors import ContractError
from benchmark.io import write_h5ad

KEYS = {"batch": "donor", "label": "celltype", "ontology_id": "cl", "gene_id": "ensembl"}


def raw_input(n_cells=20, n_genes=8, seed=0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    adata = ad.AnnData(sparse.csr_matrix(rng.poisson(2.0, (n_cells, n_genes)).astype(np.float32)))
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.var_names = [f"GENE{i}" for i in range(n_genes)]
    adata.var["ensembl"] = [f"ENSG{i:011d}" for i in range(n_genes)]
    adata.obs["donor"] = np.where(np.arange(n_cells) % 2, "d1", "d2")
    adata.obs["celltype"] = np.where(np.arange(n_cells) % 3, "T cell", "B cell")
    adata.obs["cl"] = np.where(np.arange(n_cells) % 3, "CL:0000084", "CL:0000236")
    return adata


def entry(**changes) -> dict:
    base = {"source": "path", "path": "x.h5ad", "description": "test", "counts": True, "keys": dict(KEYS)}
    base.update(changes)
    return base


def test_standardize_maps_keys_to_contract_columns():
    out = standardize(raw_input(), "toy", entry(), "dataset 'toy' (x.h5ad)")
    assert list(out.obs.columns) == ["batch", "cell_type", "cell_type_ontology_term_id"]
    assert set(out.obs["batch"]) == {"d1", "d2"} and out.var["gene_id"].iloc[0] == "ENSG00000000000"
    assert sparse.isspmatrix_csr(out.X) and out.X.dtype == np.float32


def test_missing_key_names_dataset_field_and_fix():
    with pytest.raises(ContractError) as error:
        standardize(raw_input(), "toy", entry(keys={**KEYS, "batch": "sample"}), "dataset 'toy' (x.h5ad)")
    message = str(error.value)
    assert "dataset 'toy' (x.h5ad): obs has no column 'sample' (catalog field `keys.batch`)" in message
    assert "available columns: donor, celltype, cl" in message and "fix `keys.batch` in the catalog" in message


def test_non_integer_counts_are_rejected_when_counts_declared():
    raw = raw_input()
    raw.X = raw.X * 0.5
    with pytest.raises(ContractError, match="non-integer values but the catalog declares counts: true"):
        standardize(raw, "toy", entry(), "dataset 'toy'")
    out = standardize(raw, "toy", entry(counts=False), "dataset 'toy'")
    assert out.X.max() > 0


def test_counts_layer_is_used():
    raw = raw_input()
    raw.layers["counts"] = raw.X.copy()
    raw.X = raw.X * 0.37
    out = standardize(raw, "toy", entry(keys={**KEYS, "counts_layer": "counts"}), "dataset 'toy'")
    assert np.all(out.X.data == np.round(out.X.data))


@pytest.mark.parametrize("counts", [True, False])
@pytest.mark.parametrize(("bad", "found"), [(np.nan, "1 NaN and 0 infinite"), (np.inf, "0 NaN and 1 infinite")])
def test_nan_and_infinite_values_are_named_as_such_even_with_counts(bad, found, counts):
    raw = raw_input()
    dense = raw.X.toarray()
    dense[1, 2] = bad
    raw.X = sparse.csr_matrix(dense)
    with pytest.raises(ContractError, match=f"dataset 'toy': the expression matrix holds {found} values; clean"):
        standardize(raw, "toy", entry(counts=counts), "dataset 'toy'")


def test_a_value_beyond_float32_is_an_overflow_not_a_nan():
    raw = raw_input()
    dense = raw.X.toarray().astype(np.float64)
    dense[3, 1] = 1e39
    raw.X = sparse.csr_matrix(dense)
    with pytest.raises(ContractError, match=r"1 values are too large for float32 \(largest 1e\+39; float32 holds"):
        standardize(raw, "toy", entry(counts=False), "dataset 'toy'")
    dense[3, 1] = 3e38  # still fits
    raw.X = sparse.csr_matrix(dense)
    assert standardize(raw, "toy", entry(counts=False), "x").X.max() == np.float32(3e38)


def test_duplicate_gene_symbols_are_rejected_with_fix():
    raw = raw_input()
    raw.var_names = ["A", "B", "A", "C", "D", "E", "F", "G"]
    with pytest.raises(ContractError, match="1 gene symbols occur more than once .*e.g. A.; deduplicate"):
        standardize(raw, "toy", entry(), "dataset 'toy'")


def test_gene_symbols_are_stripped_and_case_only_duplicates_reported_with_the_fix():
    raw = raw_input()
    raw.var_names = [" PARK7", "RBP7 ", "hes4", "HES4", "D", "E", "F", "G"]
    with pytest.raises(ContractError) as error:
        standardize(raw, "toy", entry(), "dataset 'toy'")
    assert "1 gene symbols differ only in case (e.g. hes4/HES4)" in str(error.value)
    assert "set `duplicate_genes: keep_first`" in str(error.value)
    out = standardize(raw, "toy", entry(duplicate_genes="keep_first"), "x")
    assert list(out.var_names) == ["PARK7", "RBP7", "hes4", "D", "E", "F", "G"]
    assert out.var["gene_id"].iloc[0] == "ENSG00000000000"
    raw.var_names = [" PARK7", "PARK7", "C", "D", "E", "F", "G", "H"]  # equal once stripped
    with pytest.raises(ContractError, match="1 gene symbols occur more than once after stripping whitespace .e.g. PAR"):
        standardize(raw, "toy", entry(), "x")


def test_missing_batch_values_are_rejected():
    raw = raw_input()
    raw.obs.loc["c0", "donor"] = np.nan
    with pytest.raises(ContractError, match=r"obs\['donor'\] \(catalog field `keys.batch`\) has 1 missing values"):
        standardize(raw, "toy", entry(), "dataset 'toy'")


def test_filter_obs_keeps_listed_values():
    out = standardize(raw_input(), "toy", entry(filter_obs={"donor": ["d1"]}), "dataset 'toy'")
    assert set(out.obs["batch"]) == {"d1"} and out.n_obs == 10


def test_no_batch_key_means_one_batch_and_no_label_means_unlabelled():
    out = standardize(raw_input(), "toy", entry(keys={"batch": None, "label": None}), "dataset 'toy'")
    assert set(out.obs["batch"]) == {"all"} and set(out.obs["cell_type"]) == {"unlabelled"}


def test_qc_filters_cells_and_genes():
    raw = raw_input()
    dense = raw.X.toarray()
    dense[0] = 0  # an empty cell
    dense[:, 0] = 0  # a gene seen nowhere
    raw.X = sparse.csr_matrix(dense)
    out = apply_qc(standardize(raw, "toy", entry(), "dataset 'toy'"), min_genes=1, min_cells=1)
    assert out.n_obs == 19 and out.n_vars == 7


def test_empty_after_qc_is_a_clear_error(tmp_path):
    raw_input().write_h5ad(tmp_path / "x.h5ad")
    with pytest.raises(ContractError, match=r"the dataset is empty \(0 cells x .* lower `qc.min_genes`"):
        prepare_dataset("toy", entry(), tmp_path, tmp_path, {"min_genes": 1000, "min_cells": 1})


def test_prepared_dataset_round_trips_and_is_validated(tmp_path):
    raw_input(n_cells=60, n_genes=30).write_h5ad(tmp_path / "x.h5ad")
    adata = prepare_dataset("toy", entry(), tmp_path, tmp_path, {"min_genes": 1, "min_cells": 1})
    info = adata.uns["dataset"]
    assert info["id"] == "toy" and len(info["sha256"]) == 64 and info["x_kind"] == "counts"
    assert adata.obsm["X_pca_unintegrated"].shape[0] == 60
    write_h5ad(adata, tmp_path / "out.h5ad")
    back = read_dataset(str(tmp_path / "out.h5ad"))
    assert (back.X != adata.X).nnz == 0 and back.obs.equals(adata.obs)


def test_validate_catches_broken_prepared_file(sim):
    sim.X = sim.X.tocsc()
    with pytest.raises(ContractError, match="where: X must be a CSR sparse matrix"):
        validate_dataset(sim, "where")


def test_pbmc68k_is_log_normalised_single_batch(pbmc68k):
    assert pbmc68k.uns["dataset"]["x_kind"] == "log_normalized"
    assert pbmc68k.obs["batch"].nunique() == 1 and pbmc68k.obs["cell_type"].nunique() == 10


def test_real_dataset_prepares(data_dir):
    entry_3chem = {
        "source": "path",
        "path": "pbmc-3chem-symphony/pbmc-3chem-symphony.h5ad",
        "description": "3chem",
        "counts": True,
        "keys": {
            "batch": "batch",
            "label": "cell_type",
            "ontology_id": "cell_type_ontology_term_id",
            "gene_id": "feature_id_gencode_v48",
        },
    }
    adata = prepare_dataset("pbmc_3chem", entry_3chem, data_dir, data_dir, {"min_genes": 25, "min_cells": 3})
    assert adata.obs["batch"].nunique() == 3 and adata.obs["cell_type"].nunique() == 9
    assert adata.obs["cell_type_ontology_term_id"].str.startswith("CL:").all()
    assert isinstance(adata.obs, pd.DataFrame) and adata.n_obs > 1000


def test_missing_label_key_names_the_field():
    with pytest.raises(ContractError, match=r"obs has no column 'celltypes' \(catalog field `keys.label`\)"):
        standardize(raw_input(), "toy", entry(keys={**KEYS, "label": "celltypes"}), "dataset 'toy'")


def test_input_without_cells_is_rejected():
    with pytest.raises(ContractError, match="dataset 'toy': the input has no cells"):
        standardize(raw_input()[:0].copy(), "toy", entry(), "dataset 'toy'")


def test_derive_obs_recodes_a_column_before_keys_are_read():
    raw = raw_input()
    raw.obs["tech"] = np.where(np.arange(raw.n_obs) % 2, "inDrop1", "inDrop3")
    raw.obs.loc[raw.obs_names[:4], "tech"] = "CelSeq2"
    rule = {"from": "tech", "lowercase": True, "replace": {"indrop1": "indrop", "indrop3": "indrop"}}
    out = standardize(raw, "toy", entry(derive_obs={"tech_batch": rule}, keys={**KEYS, "batch": "tech_batch"}), "x")
    assert sorted(out.obs["batch"].unique()) == ["celseq2", "indrop"]
    assert (out.obs["batch"] == "celseq2").sum() == 4


def test_label_ontology_ids_map_labels_and_name_unmapped_ones():
    keys = {**KEYS, "ontology_id": None}
    mapping = {"T cell": "CL:0000084", "B cell": "CL:0000236"}
    out = standardize(raw_input(), "toy", entry(keys=keys, label_ontology_ids=mapping), "x")
    pairs = set(zip(out.obs["cell_type"], out.obs["cell_type_ontology_term_id"], strict=True))
    assert pairs == {("T cell", "CL:0000084"), ("B cell", "CL:0000236")}
    with pytest.raises(ContractError, match=r"`label_ontology_ids` has no CL id for labels \['B cell'\]; add them"):
        standardize(raw_input(), "toy", entry(keys=keys, label_ontology_ids={"T cell": "CL:0000084"}), "x")


def test_obs_query_selects_cells_and_reports_a_bad_expression():
    out = standardize(raw_input(), "toy", entry(obs_query="donor == 'd1' or celltype == 'B cell'"), "x")
    expected = sum(1 for i in range(20) if i % 2 or i % 3 == 0)
    assert out.n_obs == expected
    with pytest.raises(ContractError, match=r"`obs_query` \('nope == 1'\) refused: obs has no column 'nope'; obs col"):
        standardize(raw_input(), "toy", entry(obs_query="nope == 1"), "x")
    with pytest.raises(ContractError, match="no cells are left after `filter_obs`/`obs_query`"):
        standardize(raw_input(), "toy", entry(obs_query="donor == 'zzz'"), "x")


def test_counts_in_raw_and_gene_ids_in_var_names_as_cellxgene_stores_them():
    counts = raw_input()
    cxg = ad.AnnData(np.log1p(counts.X.toarray()), obs=counts.obs.copy())
    cxg.var_names = list(counts.var["ensembl"])
    cxg.var["feature_name"] = list(counts.var_names)
    cxg.raw = ad.AnnData(counts.X.copy(), var=cxg.var.copy())
    keys = {**KEYS, "counts_layer": "raw", "gene_symbol": "feature_name", "gene_id": "_index"}
    out = standardize(cxg, "toy", entry(keys=keys), "x")
    assert np.array_equal(out.X.toarray(), counts.X.toarray())
    assert list(out.var_names) == list(counts.var_names) and list(out.var["gene_id"]) == list(counts.var["ensembl"])
    with pytest.raises(ContractError, match="`keys.counts_layer: raw` but the file has no .raw"):
        standardize(counts, "toy", entry(keys={**KEYS, "counts_layer": "raw"}), "x")
