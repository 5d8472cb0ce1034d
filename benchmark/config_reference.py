"""config/README.md, generated from the config schema: every key, what it does, and its default.

    python -m benchmark.config_reference > config/README.md

(a test checks that the file equals this output, so the reference never drifts from the schema).
"""

import json

from benchmark.config import load_schema

HEADER = """# Configuration keys

Generated from `workflow/schemas/config.schema.yaml` by `python -m benchmark.config_reference > config/README.md`
(a test checks it); edit the schema, not this file. Every default below is the schema's: the workflow fills it
in with Snakemake's `validate(config, schema, set_default=True)`, the Python entry points with the same schema.

Snakemake merges every `--configfile` and `--config` over `config/config.yaml` key by key. A task runs when
its key is under `tasks` (`tasks: {annotation: null}` runs it with its defaults); `enabled: false` switches a
task or a model off from any config file. `<model>` and `<dataset>` stand for ids; ids are letters, digits,
`_` and `-`, with single dots between parts.

| key | type | default | what it does |
|---|---|---|---|
"""


PLACEHOLDERS = {
    "model_params": "<model>",
    "checkpoints": "<model>",
    "precomputed": "<dataset>",
    "files": "<role>",
    "task_weights": "<task>",
}  # what the keys of an open object stand for


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = {**root["$defs"][schema["$ref"].removeprefix("#/$defs/")], **{k: v for k, v in schema.items()
                                                                                  if k != "$ref"}}  # fmt: skip
    return schema


def _type(schema: dict) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kinds = schema.get("type", "oneOf" in schema and "string or object" or "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "array" in kinds and "items" in schema and "type" in schema["items"]:
        kinds = [f"array of {schema['items']['type']}" if k == "array" else k for k in kinds]
    return " or ".join(kinds)


def _default(schema: dict, required: bool) -> str:
    return f"`{json.dumps(schema['default'])}`" if "default" in schema else "required" if required else ""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(schema: dict, root: dict, prefix: str = "", required: tuple = ()) -> list[str]:
    """One table row per key below ``schema`` (properties, then what any other key of an object holds)."""
    lines = []
    for name, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        key = f"{prefix}{name}"
        default = _default(sub, name in required)
        lines.append(f"| `{key}` | {_cell(_type(sub))} | {default} | {_cell(sub.get('description', ''))} |")
        lines += rows(sub, root, f"{key}.", tuple(sub.get("required", ())))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        placeholder = PLACEHOLDERS.get(prefix.rstrip(".").split(".")[-1], "<key>")
        extra = _resolve(extra, root)
        if extra.get("properties") or extra.get("additionalProperties"):
            lines += rows(extra, root, f"{prefix}{placeholder}.", tuple(extra.get("required", ())))
        else:
            lines.append(
                f"| `{prefix}{placeholder}` | {_cell(_type(extra))} |  | {_cell(extra.get('description', ''))} |"
            )
    return lines


def render() -> str:
    root = load_schema("config")
    return HEADER + "\n".join(rows(root, root, required=tuple(root["required"]))) + "\n"


if __name__ == "__main__":
    print(render(), end="")
