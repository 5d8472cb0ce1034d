"""Where the repository's non-Python parts live (schemas, config, models)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
MODELS_DIR = REPO_ROOT / "models"
