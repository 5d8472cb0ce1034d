"""Load and validate the run config and the dataset catalog against the JSON schemas.

Defaults live in the schemas only (``default:`` in workflow/schemas/config.schema.yaml). The workflow fills
them in with Snakemake's ``validate(config, schema, set_default=True)``; Python entry points with
:func:`fill_defaults`, the same schema through a jsonschema validator that sets defaults.
"""

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path

import jsonschema
import yaml

from benchmark.errors import ConfigError
from benchmark.paths import REPO_ROOT, SCHEMA_DIR


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


def _setting_defaults(validator, properties, instance, schema):
    """jsonschema's `properties` keyword, first setting each missing property that has a `default`."""
    if validator.is_type(instance, "object"):
        for name, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


DefaultsValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"properties": _setting_defaults})


def fill_defaults(instance: dict, schema: dict | None = None) -> dict:
    """Set the schema's defaults (the config schema's unless ``schema`` is given) in ``instance``, in place,
    as Snakemake's ``validate(..., set_default=True)`` does; return it. Validation errors are not reported here."""
    for _ in DefaultsValidator(schema or load_schema("config")).iter_errors(instance):
        pass
    return instance


def section_settings(key: str, settings: dict | None = None) -> dict:
    """The settings of config key ``key`` (e.g. ``ontology``, ``tasks.annotation``, ``precomputed.*`` for any
    entry) with the schema's defaults (a copy): for Python callers that pass a part of a config, or nothing."""
    root = schema = load_schema("config")
    for part in key.split("."):
        schema = schema["additionalProperties"] if part == "*" else schema["properties"][part]
    return fill_defaults(copy.deepcopy(settings or {}), {"$defs": root["$defs"], **schema})


def task_settings(task: str, settings: dict | None = None) -> dict:
    """A task's settings with the schema's defaults (a copy), e.g. for a task the config does not list."""
    return section_settings(f"tasks.{task}", settings)


def _filled(config: dict, fill: Callable[[dict], object]) -> dict:
    """``config`` in place: a task given as null (``annotation:``) gets its defaults, then every default is set."""
    config["tasks"] = {task: {} if settings is None else settings for task, settings in config["tasks"].items()}
    fill(config)
    return config


def switched_on(config: dict) -> dict:
    """A copy of a config (with its defaults) without the tasks and models switched off with `enabled: false`."""
    merged = copy.deepcopy(config)
    merged["tasks"] = {
        task: {k: v for k, v in settings.items() if k != "enabled"}
        for task, settings in config["tasks"].items()
        if enabled(settings)
    }
    params = config["model_params"]
    merged["models"] = [m for m in config["models"] if enabled(params.get(m))]
    merged["model_params"] = {m: {k: v for k, v in p.items() if k != "enabled"} for m, p in params.items()}
    weights = merged["scoring"]["task_weights"]
    merged["scoring"]["task_weights"] = {t: w for t, w in weights.items() if t in merged["tasks"]}
    return merged


def with_defaults(config: dict) -> dict:
    """A copy of a (valid) config with the schema's defaults, the tasks and models switched off dropped."""
    return switched_on(_filled(copy.deepcopy(config), fill_defaults))


def load_catalog(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    catalog = read_yaml(path)
    validate(catalog, "catalog", str(path))
    return catalog


def check_config(
    config: dict, source: str = "config", fill: Callable[[dict], object] = fill_defaults
) -> tuple[dict, dict]:
    """Validate a config dict and its catalog; return (the config with defaults, switched-off parts dropped;
    the catalog). ``config`` itself receives the schema's defaults from ``fill`` (the workflow passes
    Snakemake's ``validate``), so that what every job sees as ``snakemake.config`` has them too."""
    validate(config, "config", source)
    config = switched_on(_filled(config, fill))
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
