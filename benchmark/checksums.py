"""sha256 of files and of expression matrices: the one place the suite computes checksums."""

import hashlib
from pathlib import Path

import numpy as np


def sha256_file(path: str | Path) -> str:
    """The file's sha256 (hex), read in blocks by :func:`hashlib.file_digest`."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_matrix(matrix) -> str:
    """Checksum of a (sparse) matrix's contents, for generated data that has no file."""
    csr = matrix.tocsr() if hasattr(matrix, "tocsr") else np.asarray(matrix)
    digest = hashlib.sha256()
    for part in (csr.data, csr.indices, csr.indptr) if hasattr(csr, "indptr") else (csr,):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def sha256_h5_matrix(path: Path, key: str = "X") -> str:
    """:func:`sha256_matrix` of a CSR matrix stored in an .h5ad, read a block at a time."""
    import h5py  # here: the workflow imports this module at start-up (benchmark.integrity)

    digest = hashlib.sha256()
    with h5py.File(path, "r") as handle:
        for part in ("data", "indices", "indptr"):
            dataset = handle[key][part]
            for start in range(0, len(dataset), 1 << 24):
                digest.update(np.ascontiguousarray(dataset[start : start + (1 << 24)]).tobytes())
    return digest.hexdigest()
