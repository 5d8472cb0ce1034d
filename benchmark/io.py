"""Atomic writes: a file either exists complete or not at all."""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import pandas as pd

from benchmark.integrity import forget, record


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, rename it into place, and record its
    checksum (see benchmark.integrity) so later damage is detected instead of read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        forget(path)  # no stale checksum may describe the new content, even for an instant
        os.replace(tmp, path)
        record(path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_h5ad(adata: ad.AnnData, path: str | Path) -> None:
    atomic_write(path, lambda tmp: adata.write_h5ad(tmp, compression="gzip"))


def write_tsv(frame: pd.DataFrame, path: str | Path) -> None:
    compression = "gzip" if str(path).endswith(".gz") else None
    atomic_write(path, lambda tmp: frame.to_csv(tmp, sep="\t", index=False, compression=compression))


def write_json(obj: object, path: str | Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"))


def write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))
