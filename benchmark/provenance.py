"""Provenance: what produced a report (suite version, commit, config hash, data, packages)."""

import hashlib
import json
import platform
import subprocess
from importlib import metadata

from benchmark import __version__
from benchmark.paths import REPO_ROOT

PACKAGES = (
    "torch",
    "snakemake",
    "scanpy",
    "anndata",
    "scib-metrics",
    "scvi-tools",
    "harmonypy",
    "obonet",
    "networkx",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "jax",
)


def git_commit() -> str:
    """The checkout's commit, with '+dirty' when it has uncommitted changes; 'unknown' outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def provenance(config: dict, datasets: dict[str, dict], ontology: dict | None = None) -> dict:
    return {
        "ontology": ontology or {},
        "suite_version": __version__,
        "git_commit": git_commit(),
        "config_hash": config_hash(config),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "data_checksums": {d: info["sha256"] for d, info in sorted(datasets.items())},
        "data_sources": {d: info["source"] for d, info in sorted(datasets.items())},
        "packages": package_versions(),
    }
