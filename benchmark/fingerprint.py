"""Content fingerprints that the workflow passes as rule params, so that Snakemake's params trigger
re-runs a job when what it reads changes, and only then.

- :func:`code_hash`: a folder's code. Python files are hashed by their syntax tree without docstrings,
  so comments, formatting and docstrings never re-run anything; model.yaml without its free text and
  resources; other files by their bytes.
- :func:`model_code`: a model's folder, the model folders it imports and, for scFMs, models/foundation/.
- :func:`source_fingerprint`: what a catalog entry's data is (every field but the free text), with the
  content hash of a local source file; a pinned ``sha256`` that the file no longer has stops the run.

Nothing here writes except the file-hash cache: a big file is hashed once per (path, size, mtime).
"""

import ast
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from benchmark.checksums import sha256_file
from benchmark.errors import ConfigError
from benchmark.paths import MODELS_DIR, REPO_ROOT

FREE_TEXT = ("description",)  # catalog fields that never change the data
MODEL_TEXT = ("name", "summary", "reference", "resources")  # model.yaml fields that never change a result
SKIPPED = ("__pycache__", ".pytest_cache")
CACHE_ENV = "SCFM_FINGERPRINT_CACHE"
DATA_DIR_ENV = "SCFM_DATA_DIR"  # as benchmark.data.sources (not imported here: it imports scanpy)


@dataclass(frozen=True)
class Untracked:
    """A rule param value that Snakemake's params trigger does not compare (it compares values of builtin
    types only): for what a job reads but whose changes alone must not re-run it. Pass the part that does
    matter as another param (e.g. :func:`source_fingerprint` beside the catalog entry)."""

    value: Any


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


class _NoDocstrings(ast.NodeTransformer):
    def generic_visit(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]
        return super().generic_visit(node)


def python_digest(source: bytes) -> bytes:
    """What a Python file does: its syntax tree without docstrings (the bytes if it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    return ast.dump(_NoDocstrings().visit(tree)).encode()


def _file_digest(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".py":
        return python_digest(data)
    if path.name == "model.yaml":
        import yaml

        declared = yaml.safe_load(data) or {}
        return json.dumps({k: v for k, v in declared.items() if k not in MODEL_TEXT}, sort_keys=True).encode()
    return data


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part in SKIPPED or part.startswith(".") for part in p.relative_to(folder).parts)
        and p.suffix not in (".pyc", ".md")
    )


@cache
def folder_hash(folder: Path) -> str:
    """sha256 over the code files of one folder (paths relative to it, then content)."""
    parts = []
    for path in _files(folder):
        parts += [str(path.relative_to(folder)).encode(), _file_digest(path)]
    return _digest(*parts)


def code_hash(*folders: Path) -> str:
    """sha256 over the code files of ``folders`` (each hashed once per process)."""
    return _digest(*(folder_hash(Path(folder)).encode() for folder in folders))


def repo_code(*relative: str) -> str:
    """:func:`code_hash` of folders of this checkout, e.g. ``repo_code("metrics", "benchmark/tasks")``."""
    return code_hash(*(REPO_ROOT / r for r in relative))


@cache
def imported_models(folder: Path) -> frozenset[str]:
    """The other ``models.<id>`` packages that the Python files of a model folder import."""
    names = set()
    for path in folder.rglob("*.py"):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            names |= {m.split(".")[1] for m in modules if m.startswith("models.")}
    return frozenset(names - {folder.name})


def model_code(directory: str | Path, kind: str, models_dir: Path = MODELS_DIR) -> str:
    """The code behind a model's embeddings: its folder, the model folders it imports (transitively)
    and, for scFMs (kind `foundation`), the shared scFM code in models/foundation/."""
    folder = Path(directory)
    folders, todo = {folder}, [folder]
    while todo:
        for name in imported_models(todo.pop()):
            for candidate in (folder.parent / name, models_dir / name):
                if candidate.is_dir() and candidate not in folders:
                    folders.add(candidate)
                    todo.append(candidate)
                    break
    if kind == "foundation":
        folders.add(models_dir / "foundation")
    return code_hash(*sorted(folders, key=lambda f: (f != folder, f.name)))


# --- data sources -----------------------------------------------------------------------------------


def data_fields(entry: dict) -> dict:
    """A catalog entry without its free text (editing a description never re-runs anything)."""
    return {k: v for k, v in entry.items() if k not in FREE_TEXT and k != "sha256"}


def resolve_local(path: str, data_dir: str | None) -> Path | None:
    """A local path as the steps resolve it: absolute, or relative to `data_dir` (else $SCFM_DATA_DIR);
    None for a relative path without a data directory."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        base = data_dir or os.environ.get(DATA_DIR_ENV)
        if not base:
            return None
        candidate = Path(base).expanduser() / candidate
    return candidate.resolve()


def file_fingerprint(path: str | None, data_dir: str | None) -> str | None:
    """The content hash of a local input file (None when it is not a local file that exists)."""
    resolved = resolve_local(path, data_dir) if path and "://" not in path else None
    return file_sha256(resolved) if resolved is not None and resolved.is_file() else None


def source_fingerprint(dataset_id: str, entry: dict, data_dir: str | None) -> dict:
    """What identifies a dataset's input: the catalog's data fields, plus the content hash of a local
    file (a replaced file re-runs `prepare_dataset` even with an older modification time).

    Raise :class:`ConfigError` with both checksums when the catalog pins a ``sha256`` the file does not have.
    A missing file gives no hash (``prepare_dataset`` then stops with its own message)."""
    fingerprint = {"entry": data_fields(entry)}
    path = resolve_local(entry["path"], data_dir) if entry.get("source") == "path" else None
    if path is not None and path.is_file():
        actual = file_sha256(path)
        pinned = entry.get("sha256")
        if pinned and pinned != actual:
            raise ConfigError(
                f"dataset '{dataset_id}': {path} has sha256 {actual} but the catalog pins {pinned}; "
                "point `path` at the right file, or update `sha256` if you trust the new file"
            )
        fingerprint["sha256"] = actual
    elif entry.get("sha256"):  # a pinned download: the pin is its content
        fingerprint["sha256"] = entry["sha256"]
    return fingerprint


# --- file hashes, cached by (path, size, mtime) ---------------------------------------------------------


def cache_path() -> Path:
    """The file-hash cache: $SCFM_FINGERPRINT_CACHE, else .snakemake/scfm-file-hashes.json in the working directory."""
    return Path(os.environ.get(CACHE_ENV) or Path(".snakemake") / "scfm-file-hashes.json")


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """sha256 of a file, re-hashed only when its size or modification time changed since the last call."""
    cache_file = cache_file or cache_path()
    stat = path.stat()
    key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
    cached = _read_cache(cache_file)
    if cached.get(key, {}).get("stamp") == stamp:
        return cached[key]["sha256"]
    cached[key] = {"stamp": stamp, "sha256": sha256_file(path)}
    _write_cache(cache_file, cached)
    return cached[key]["sha256"]


def _read_cache(cache_file: Path) -> dict:
    try:
        return json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(cache_file: Path, cached: dict) -> None:
    """Atomic (concurrent cluster jobs may write too; the last one wins); a read-only place just skips it."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=f".{cache_file.name}.")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(cached, handle)
        os.replace(tmp, cache_file)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
