"""Where a dataset comes from: a builtin generator, a local file, or a verified download."""

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import requests

from benchmark.checksums import sha256_file, sha256_h5_matrix, sha256_matrix
from benchmark.data import simulate
from benchmark.data.simulate import simulate_immune, write_simulated_immune
from benchmark.download import LIMITS, download
from benchmark.errors import ConfigError
from benchmark.io import atomic_write

DATA_DIR_ENV = "SCFM_DATA_DIR"
CACHE_DIR_ENV = "SCFM_CACHE_DIR"
BACKED_MIN_CELLS = 100_000  # inputs with this many cells stay on disk (backed) and are prepared in chunks


def _pbmc68k_reduced() -> ad.AnnData:
    """scanpy's bundled PBMC subset: log-normalised values only (no counts) and one batch."""
    import scanpy as sc  # here: importing scanpy takes seconds, and most importers only want the path helpers

    full = sc.datasets.pbmc68k_reduced()
    return ad.AnnData(full.raw.X.copy(), obs=full.obs[["bulk_labels"]].copy(), var=full.raw.var[[]].copy())


BUILTINS: dict[str, Callable[..., ad.AnnData]] = {
    "simulated_immune": simulate_immune,
    "pbmc68k_reduced": _pbmc68k_reduced,
}


def resolve_data_dir(config_value: str | None) -> Path | None:
    """The data directory: the config's ``data_dir`` if set, else ``$SCFM_DATA_DIR``, else None."""
    value = config_value or os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser().resolve() if value else None


def resolve_cache_dir(config_value: str | None) -> Path:
    value = config_value or os.environ.get(CACHE_DIR_ENV) or "~/.cache/scfm-bench"
    return Path(value).expanduser().resolve()


def resolve_path(dataset_id: str, path: str, data_dir: Path | None) -> Path:
    """An absolute path as is; a relative one against the data directory (clear error if unset)."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        if data_dir is None:
            raise ConfigError(
                f"dataset '{dataset_id}': path '{path}' is relative but no data directory is set; "
                f"set `data_dir` in the config or the environment variable {DATA_DIR_ENV}"
            )
        candidate = data_dir / candidate
    if not candidate.exists():
        raise ConfigError(
            f"dataset '{dataset_id}': file {candidate} does not exist; check `path` in the catalog "
            f"and the data directory ({data_dir})"
        )
    if candidate.is_dir():
        inside = sorted(p.name for p in candidate.glob("*.h5ad"))
        raise ConfigError(
            f"dataset '{dataset_id}': `path` {candidate} is a folder, not a file; point `path` at the .h5ad "
            f"file ({'in it: ' + ', '.join(inside[:5]) if inside else 'it holds no .h5ad'})"
        )
    return candidate


CELLXGENE_API = "https://api.cellxgene.cziscience.com"


def cellxgene_asset_url(collection_id: str, dataset_id: str, api: str = CELLXGENE_API) -> str:
    """The current .h5ad asset of a CELLxGENE Discover dataset (curation API, no account needed)."""
    url = f"{api.rstrip('/')}/curation/v1/collections/{collection_id}/datasets/{dataset_id}"
    try:
        response = requests.get(url, timeout=(LIMITS.connect_s, LIMITS.read_s))
        response.raise_for_status()
        record = response.json()
    except (requests.exceptions.RequestException, ValueError) as error:
        raise ConfigError(
            f"CELLxGENE dataset {dataset_id} (collection {collection_id}): cannot read {url} ({error}); "
            "check `cellxgene.collection_id` / `cellxgene.dataset_id` in the catalog, or download the .h5ad "
            "yourself and use `source: path`"
        ) from error
    assets = [a["url"] for a in record.get("assets", []) if str(a.get("filetype", "")).upper() == "H5AD"]
    if not assets:
        raise ConfigError(f"CELLxGENE dataset {dataset_id}: {url} lists no H5AD asset")
    return assets[0]


def _opens_as_h5ad(path: Path) -> None:
    """Raise unless ``path`` opens as an AnnData file (a truncated HDF5 file fails here)."""
    ad.read_h5ad(path, backed="r").file.close()


def load_source(dataset_id: str, entry: dict, data_dir: Path | None, cache_dir: Path) -> tuple[ad.AnnData, str, str]:
    """Load a catalog entry's raw AnnData; return it with the input's sha256 and a description."""
    source = entry["source"]
    if source == "builtin":
        params = entry.get("params", {})
        if entry["builtin"] == "simulated_immune" and params.get("n_cells", 0) >= BACKED_MIN_CELLS:
            path = _simulated_file(params, cache_dir)
            return ad.read_h5ad(path, backed="r"), sha256_h5_matrix(path), f"builtin:{entry['builtin']}"
        adata = BUILTINS[entry["builtin"]](**params)
        return adata, sha256_matrix(adata.X), f"builtin:{entry['builtin']}"
    if source == "path":
        path = resolve_path(dataset_id, entry["path"], data_dir)
        checksum = sha256_file(path)
        if entry.get("sha256") and entry["sha256"] != checksum:
            raise ConfigError(
                f"dataset '{dataset_id}': {path} has sha256 {checksum} but the catalog expects "
                f"{entry['sha256']}; point `path` at the right file or update `sha256`"
            )
        return read_h5ad_checked(dataset_id, path), checksum, str(path)
    if source == "cellxgene":
        spec = entry["cellxgene"]
        try:
            url = cellxgene_asset_url(spec["collection_id"], spec["dataset_id"], spec.get("api", CELLXGENE_API))
        except ConfigError as error:
            raise ConfigError(f"dataset '{dataset_id}': {error}") from error
    else:
        url = entry["url"]
    path, checksum = download(url, entry.get("sha256"), cache_dir, f"dataset '{dataset_id}'", check=_opens_as_h5ad)
    return read_h5ad_checked(dataset_id, path), checksum, url


def _simulated_file(params: dict, cache_dir: Path) -> Path:
    """A large simulation, written once chunk by chunk into the cache (keyed by the params and the simulator's code)."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode() + Path(simulate.__file__).read_bytes())
    path = cache_dir / "simulated_immune" / f"{key.hexdigest()[:16]}.h5ad"
    if not path.exists():
        atomic_write(path, lambda tmp: write_simulated_immune(tmp, **params))
    return path


def read_h5ad_checked(dataset_id: str, path: Path) -> ad.AnnData:
    """The file in memory, or backed (X stays on disk) when it has at least :data:`BACKED_MIN_CELLS` cells."""
    try:
        adata = ad.read_h5ad(path, backed="r")
        if adata.n_obs >= BACKED_MIN_CELLS:
            return adata
        adata.file.close()
        return ad.read_h5ad(path)
    except Exception as error:  # h5py/anndata raise many types for broken files
        raise ConfigError(
            f"dataset '{dataset_id}': cannot read {path} as .h5ad ({type(error).__name__}: {error}); "
            "the file is truncated or not an AnnData file: download or export it again"
        ) from error
