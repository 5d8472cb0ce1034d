"""Discover model plugins (models/<id>/model.yaml) without importing them; load a class on demand.

Every foundation model also gets a generated control, its random-init twin ``<id>_random_init``: the same
plugin (architecture, tokenizer, pooling and extraction) with freshly initialised, seeded weights, so that
the score gap between the two is what pretraining adds. Twins are derived here rather than written as
folders: they stay in step with their scFM's model.yaml, and a new scFM gets its twin for free.
"""

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.config import fill_defaults, load_schema, read_yaml, validate
from benchmark.errors import ConfigError
from benchmark.paths import MODELS_DIR

if TYPE_CHECKING:
    from benchmark.model import Model


@dataclass(frozen=True)
class ModelSpec:
    """What ``model.yaml`` declares about a plugin."""

    id: str
    directory: str
    name: str
    summary: str
    kind: str
    class_name: str
    capabilities: tuple[str, ...]
    needs: dict[str, Any] = field(default_factory=dict)
    control_roles: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)
    reference: str | None = None
    checkpoint: str | None = None
    plugin_rule: bool = False  # the plugin ships rules.smk that writes its embeddings itself
    stochastic: bool = True  # False: the embedding does not depend on the seed; embedded once for every seed
    twin_of: str | None = None  # a random-init twin: the scFM whose architecture it copies

    @property
    def package(self) -> str:
        """The plugin folder's name (a twin runs its scFM's code)."""
        return Path(self.directory).name

    def params_with(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """model.yaml's params, then the chosen ``variant``'s preset, then the config's overrides."""
        overrides = overrides or {}
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ConfigError(
                f"config key `model_params.{self.id}` sets unknown parameters {sorted(unknown)}; "
                f"models/{self.package}/model.yaml declares {sorted(self.params)}"
            )
        variant = overrides.get("variant", self.params.get("variant"))
        if variant is not None and variant not in self.variants:
            raise ConfigError(
                f"config key `model_params.{self.id}.variant` is '{variant}'; models/{self.package}/model.yaml "
                f"offers {sorted(self.variants)}"
            )
        preset = self.variants.get(variant, {}) if variant is not None else {}
        return {**self.params, **preset, **overrides}


def read_spec(model_dir: Path) -> ModelSpec:
    path = model_dir / "model.yaml"
    raw = read_yaml(path)
    validate(raw, "model", str(path))
    fill_defaults(raw, load_schema("model"))
    plugin_rule = (model_dir / "rules.smk").is_file()
    if "class" not in raw and not plugin_rule:
        raise ConfigError(f"{path}: key `class` is missing; name the class in model.py, or ship a rules.smk")
    return ModelSpec(
        id=model_dir.name,
        directory=str(model_dir.resolve()),
        name=raw["name"],
        summary=raw["summary"],
        kind=raw["kind"],
        class_name=raw.get("class", ""),
        capabilities=tuple(raw["capabilities"]),
        needs=raw.get("needs", {}),
        control_roles=raw.get("control_roles", {}),
        params=raw.get("params") or {},
        variants=raw.get("variants") or {},
        resources=raw.get("resources", {}),
        reference=raw.get("reference"),
        checkpoint=raw.get("checkpoint"),
        plugin_rule=plugin_rule,
        stochastic=raw["stochastic"],
    )


TWIN_SUFFIX = "_random_init"


def random_init_twin(spec: ModelSpec) -> ModelSpec:
    """The control ``<id>_random_init`` of a foundation model: its plugin and params with ``random_init``.

    It keeps the scFM's ``stochastic``: one draw of initial weights serves every replicate (an in-repo
    twin's from the pretraining seed, a published one's from the first seed, where it is embedded)."""
    return replace(
        spec,
        id=spec.id + TWIN_SUFFIX,
        name=f"{spec.name} (random init)",
        summary=f"Control: {spec.name} with freshly initialised, seeded weights and no pretraining; the same "
        "architecture, tokenizer, pooling and extraction. The scFM's score minus this one's is the pretraining gain.",
        kind="control",
        control_roles={},
        params={**spec.params, "random_init": True},
        reference=None,
        twin_of=spec.id,
    )


def discover(models_dir: Path = MODELS_DIR) -> dict[str, ModelSpec]:
    """Every folder under ``models_dir`` with a model.yaml, keyed by folder name (``_template`` and
    other names starting with ``_`` are skipped), plus the random-init twin of every foundation model
    (unless a folder of that name exists)."""
    specs = {
        d.name: read_spec(d)
        for d in sorted(models_dir.iterdir())
        if (d / "model.yaml").is_file() and not d.name.startswith("_")
    }
    twins = [random_init_twin(s) for s in specs.values() if s.kind == "foundation" and not s.plugin_rule]
    return {**specs, **{t.id: t for t in twins if t.id not in specs}}


def with_twin_settings(config: dict, specs: dict[str, ModelSpec]) -> dict:
    """The config with each listed twin given its scFM's settings: the same ``model_params`` overrides
    (so the same architecture; the twin's own entry wins) and, when the scFM loads a published
    checkpoint, the same ``checkpoints`` entry (its architecture config and vocabulary; the twin's
    plugin then replaces the weights by a seeded initialisation)."""
    model_params, checkpoints = dict(config.get("model_params") or {}), dict(config.get("checkpoints") or {})
    for model in config["models"]:
        parent = specs[model].twin_of if model in specs else None
        if parent is None:
            continue
        model_params[model] = {**(model_params.get(parent) or {}), **(model_params.get(model) or {})}
        if parent in checkpoints and model not in checkpoints:
            checkpoints[model] = checkpoints[parent]
    return {**config, "model_params": model_params, "checkpoints": checkpoints}


def require(specs: dict[str, ModelSpec], model_ids: list[str], source: str) -> None:
    unknown = [m for m in model_ids if m not in specs]
    if unknown:
        raise ConfigError(
            f"{source}: key `models` names {unknown} which have no models/<id>/model.yaml; "
            f"known models: {', '.join(sorted(specs))}"
        )


def load_class(spec: ModelSpec) -> "type[Model]":
    """Import ``models.<id>.model`` from the plugin's folder and return the class named in model.yaml.

    The folder's parent joins the ``models`` package path, so a plugin in another checkout (or a
    new folder in this one) imports without reinstalling, relative imports included.
    """
    import models
    from benchmark.model import Model  # here: it imports anndata, and every job's process unpickles a ModelSpec

    parent = str(Path(spec.directory).parent)
    if parent not in models.__path__:
        models.__path__.insert(0, parent)
    module = importlib.import_module(f"models.{spec.package}.model")
    cls = getattr(module, spec.class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ConfigError(
            f"models/{spec.package}/model.yaml: key `class` names '{spec.class_name}', but "
            f"models/{spec.package}/model.py defines no such subclass of benchmark.model.Model"
        )
    return cls


def check_checkpoints(specs: dict[str, ModelSpec], model_ids: list[str], checkpoints: dict, source: str) -> None:
    """Published checkpoints must belong to scFMs; models that only load published ones need one."""
    for model in checkpoints:
        if model not in specs or specs[model].checkpoint is None:
            raise ConfigError(
                f"{source}: key `checkpoints.{model}` names a model that loads no checkpoint; "
                f"models that do: {', '.join(sorted(m for m, s in specs.items() if s.checkpoint))}"
            )
    for model in model_ids:
        if specs[model].checkpoint == "published" and model not in checkpoints:
            parent = specs[model].twin_of
            if parent:
                raise ConfigError(
                    f"{source}: model `{model}` is the random-init twin of `{parent}`, which runs only from its "
                    f"published checkpoint (it supplies the architecture); add `checkpoints.{parent}`"
                )
            raise ConfigError(
                f"{source}: model `{model}` runs only from its published checkpoint; add `checkpoints.{model}` "
                "(format, path and files; see README, 'Benchmark the published models') or remove it from `models`"
            )
