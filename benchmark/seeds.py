"""Per-job seeds derived from the global seed and the job's wildcards."""

import hashlib


def derive_seed(global_seed: int, *parts: object) -> int:
    """Return a stable 31-bit seed for one job, e.g. ``derive_seed(0, "pbmc", "scvi")``."""
    key = "|".join([str(global_seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF
