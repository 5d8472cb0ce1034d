"""Detect intermediate files changed after they were written, so the workflow rebuilds them.

Every atomic write records the file's size, modification time and sha256 in a hidden sidecar
(``.<name>.sha256``). When a run starts (the workflow's ``onstart``, never for ``-n`` or ``--lint``),
``remove_corrupted`` re-checks each recorded file (hashing only when size or time moved) and deletes the
ones whose content no longer matches; the run then stops before any job reads them (Snakemake planned
its jobs already), and the next run rebuilds them and everything downstream.
"""

import json
import logging
from pathlib import Path

from benchmark.checksums import sha256_file

log = logging.getLogger(__name__)


def sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


def record(path: Path) -> None:
    stat = path.stat()
    entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}
    sidecar(path).write_text(json.dumps(entry))


def forget(path: Path) -> None:
    sidecar(path).unlink(missing_ok=True)


def is_intact(path: Path) -> bool:
    """True unless the file's recorded checksum no longer matches its content."""
    try:
        recorded = json.loads(sidecar(path).read_text())
    except (OSError, ValueError):
        return True  # nothing recorded: nothing to compare against
    stat = path.stat()
    if stat.st_size == recorded["size"] and stat.st_mtime_ns == recorded["mtime_ns"]:
        return True
    return stat.st_size == recorded["size"] and sha256_file(path) == recorded["sha256"]


def remove_corrupted(root: str | Path) -> list[Path]:
    """Delete every recorded file under ``root`` whose content changed; return them."""
    removed = []
    for marker in Path(root).rglob(".*.sha256"):
        path = marker.with_name(marker.name[1 : -len(".sha256")])
        if path.exists() and not is_intact(path):
            log.warning("%s changed after it was written (checksum mismatch): removed, it will be rebuilt", path)
            path.unlink()
            marker.unlink()
            removed.append(path)
    return removed


def damaged_message(removed: list[Path]) -> str:
    files = "\n".join(f"  {path}" for path in removed)
    return (
        f"{len(removed)} intermediate files changed after they were written (checksum mismatch) and were removed:\n"
        f"{files}\nNo job ran, so none read them. Run the same command again: it rebuilds them and what uses them."
    )
