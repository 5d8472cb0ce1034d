"""Load and validate the run config and the dataset catalog against the JSON schemas."""

from functools import cache
from pathlib import Path

import jsonschema
import yaml

from benchmark.errors import ConfigError
from benchmark.paths import REPO_ROOT, SCHEMA_DIR

DEFAULTS = {
    "catalog": "config/datasets.yaml",
    "data_dir": None,
    "cache_dir": None,
    "model_params": {},
    "qc": {"min_genes": 25, "min_cells": 3},
    "ontology": {"source": None, "include_part_of": False, "dca_dims": 256},
    "pretrain": {"corpus": []},
    "precomputed": {},
    "checkpoints": {},
    "scoring": {"bio_weight": 0.6, "task_weights": {}, "keep_degenerate": False},
}


@cache
def load_schema(name: str) -> dict:
    return yaml.safe_load((SCHEMA_DIR / f"{name}.schema.yaml").read_text())


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    return "".join(parts).lstrip(".") or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """``key `path`: message``; a pattern error names the pattern and what it means (ids, checksums)."""
    key = _key_path(error)
    if "propertyNames" in error.relative_schema_path:  # the key itself is wrong: name it
        key = f"{key}.{error.instance}" if error.absolute_path else str(error.instance)
    if error.validator == "pattern":
        meaning = error.schema.get("description")
        return f"key `{key}`: {error.instance!r} does not match the pattern {error.validator_value}" + (
            f" ({meaning})" if meaning else ""
        )
    return f"key `{key}`: {error.message}"


def validate(instance: object, schema_name: str, source: str) -> None:
    """Raise :class:`ConfigError` naming ``source`` and the offending key for every schema violation."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"  {_describe(e)}" for e in errors[:10]]
        raise ConfigError(f"{source} is invalid ({schema_name} schema):\n" + "\n".join(lines))


def id_pattern() -> str:
    """The pattern of dataset, model and run ids (config schema `$defs.id`), without its anchors."""
    return load_schema("config")["$defs"]["id"]["pattern"].removeprefix("^").removesuffix("$")


def read_yaml(path: str | Path) -> object:
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: file not found") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error


def enabled(settings: dict | None) -> bool:
    """A task's or model's settings switch it off with `enabled: false` (from any config file: Snakemake
    merges --configfile over config/config.yaml key by key, so a key can be overridden but never deleted)."""
    return str((settings or {}).get("enabled", True)).lower() != "false"  # --config passes "false" as text


def with_defaults(config: dict) -> dict:
    """Fill in defaults and drop the tasks and models switched off with `enabled: false`."""
    merged = {**DEFAULTS, **config}
    merged["qc"] = {**DEFAULTS["qc"], **(config.get("qc") or {})}
    merged["scoring"] = {**DEFAULTS["scoring"], **(config.get("scoring") or {})}
    merged["ontology"] = {**DEFAULTS["ontology"], **(config.get("ontology") or {})}
    merged["pretrain"] = {**DEFAULTS["pretrain"], **(config.get("pretrain") or {})}
    merged["tasks"] = {
        task: {k: v for k, v in (settings or {}).items() if k != "enabled"}
        for task, settings in config["tasks"].items()
        if enabled(settings)
    }
    model_params = merged["model_params"] or {}
    merged["models"] = [m for m in config["models"] if enabled(model_params.get(m))]
    merged["model_params"] = {m: {k: v for k, v in p.items() if k != "enabled"} for m, p in model_params.items()}
    weights = merged["scoring"].get("task_weights") or {}
    merged["scoring"]["task_weights"] = {t: w for t, w in weights.items() if t in merged["tasks"]}
    return merged


def load_catalog(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    catalog = read_yaml(path)
    validate(catalog, "catalog", str(path))
    return catalog


def check_config(config: dict, source: str = "config") -> tuple[dict, dict]:
    """Validate a config dict and its catalog; return (config with defaults, catalog)."""
    validate(config, "config", source)
    config = with_defaults(config)
    for key in ("tasks", "models"):
        if not config[key]:
            raise ConfigError(
                f"{source}: every entry of `{key}` is switched off (`enabled: false`); enable at least one"
            )
    catalog = load_catalog(config["catalog"])
    for key, names in (("datasets", config["datasets"]), ("pretrain.corpus", config["pretrain"]["corpus"])):
        unknown = [d for d in names if d not in catalog]
        if unknown:
            raise ConfigError(
                f"{source}: key `{key}` names {unknown} which are not in the catalog {config['catalog']}; "
                f"known datasets: {', '.join(sorted(catalog))}"
            )
    return config, catalog


def load_config(path: str | Path) -> tuple[dict, dict]:
    return check_config(read_yaml(path), str(path))
