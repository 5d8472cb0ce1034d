"""Where a dataset comes from: a builtin generator, a local file, or a verified download."""

import hashlib
import json
import os
import shutil
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import scanpy as sc
from tqdm import tqdm

from benchmark.data import simulate
from benchmark.data.simulate import simulate_immune, write_simulated_immune
from benchmark.errors import ConfigError
from benchmark.io import atomic_write

DATA_DIR_ENV = "SCFM_DATA_DIR"
CACHE_DIR_ENV = "SCFM_CACHE_DIR"
BACKED_MIN_CELLS = 100_000  # inputs with this many cells stay on disk (backed) and are prepared in chunks


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_matrix(matrix) -> str:
    """Checksum of a (sparse) matrix's contents, for generated data that has no file."""
    csr = matrix.tocsr() if hasattr(matrix, "tocsr") else np.asarray(matrix)
    digest = hashlib.sha256()
    for part in (csr.data, csr.indices, csr.indptr) if hasattr(csr, "indptr") else (csr,):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def sha256_h5_matrix(path: Path, key: str = "X") -> str:
    """:func:`sha256_matrix` of a CSR matrix stored in an .h5ad, read a block at a time."""
    digest = hashlib.sha256()
    with h5py.File(path, "r") as handle:
        for part in ("data", "indices", "indptr"):
            dataset = handle[key][part]
            for start in range(0, len(dataset), 1 << 24):
                digest.update(np.ascontiguousarray(dataset[start : start + (1 << 24)]).tobytes())
    return digest.hexdigest()


def _pbmc68k_reduced() -> ad.AnnData:
    """scanpy's bundled PBMC subset: log-normalised values only (no counts) and one batch."""
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
    return candidate


CELLXGENE_API = "https://api.cellxgene.cziscience.com"


def _fetch(url: str, target: Path) -> None:
    """Stream ``url`` into ``target`` (through a ``.part`` file, so a broken download leaves nothing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {target.name}") as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    shutil.move(partial, target)


def download(url: str, sha256: str | None, cache_dir: Path) -> tuple[Path, str]:
    """Download ``url`` once into ``cache_dir`` and return the file with its sha256.

    With ``sha256`` the file is verified before it is ever used. Without it (publishers that give
    none), the first download's sha256 is recorded next to the file and a warning says how to pin
    it; every later use is verified against that record, so a changed file never slips in silently.
    """
    name = Path(urllib.parse.urlsplit(url).path).name or "download"
    if sha256:
        target = cache_dir / sha256 / name
        if target.exists() and sha256_file(target) == sha256:
            return target, sha256
    else:
        target = cache_dir / "unpinned" / hashlib.sha256(url.encode()).hexdigest()[:16] / name
        record = target.with_name(target.name + ".sha256")
        if target.exists() and record.exists():
            recorded = record.read_text().strip()
            actual = sha256_file(target)
            if actual != recorded:
                raise ConfigError(
                    f"download {url}: the cached file {target} has sha256 {actual} but {recorded} was recorded "
                    "when it was downloaded; delete the file to download it again"
                )
            return target, recorded
    _fetch(url, target)
    actual = sha256_file(target)
    if sha256 and actual != sha256:
        target.unlink()
        raise ConfigError(
            f"download {url}: sha256 is {actual} but the catalog expects {sha256}; "
            "the file changed or is corrupt: check the URL and update `sha256` only if you trust the new file"
        )
    if not sha256:
        target.with_name(target.name + ".sha256").write_text(actual + "\n")
        warnings.warn(
            f"download {url}: the catalog gives no sha256; recorded {actual} on this first download. "
            f"Add `sha256: {actual}` to the catalog entry to pin the file",
            stacklevel=2,
        )
    return target, actual


def cellxgene_asset_url(collection_id: str, dataset_id: str, api: str = CELLXGENE_API) -> str:
    """The current .h5ad asset of a CELLxGENE Discover dataset (curation API, no account needed)."""
    url = f"{api.rstrip('/')}/curation/v1/collections/{collection_id}/datasets/{dataset_id}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            record = json.load(response)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"CELLxGENE dataset {dataset_id} (collection {collection_id}): cannot read {url} ({error}); "
            "check `cellxgene.collection_id` / `cellxgene.dataset_id` in the catalog, or download the .h5ad "
            "yourself and use `source: path`"
        ) from error
    assets = [a["url"] for a in record.get("assets", []) if str(a.get("filetype", "")).upper() == "H5AD"]
    if not assets:
        raise ConfigError(f"CELLxGENE dataset {dataset_id}: {url} lists no H5AD asset")
    return assets[0]


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
        url = cellxgene_asset_url(spec["collection_id"], spec["dataset_id"], spec.get("api", CELLXGENE_API))
    else:
        url = entry["url"]
    path, checksum = download(url, entry.get("sha256"), cache_dir)
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
