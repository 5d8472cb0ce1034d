import copy
import re

import pytest
import yaml

from benchmark.config import (
    check_config,
    id_pattern,
    load_catalog,
    load_config,
    load_schema,
    read_yaml,
    section_settings,
    task_settings,
    validate,
)
from benchmark.errors import ConfigError
from benchmark.paths import REPO_ROOT, SCHEMA_DIR
from benchmark.registry import discover, require

CONFIGS = sorted((REPO_ROOT / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name != "datasets.yaml"], ids=lambda p: p.name)
def test_shipped_configs_are_valid_and_name_known_models(path):
    config, catalog = load_config(path)
    require(discover(), config["models"], str(path))
    assert set(config["datasets"]) <= set(catalog)


def base_config() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO_ROOT / "config" / "test.yaml").read_text()))


def test_error_names_the_bad_key():
    config = base_config()
    config["seeds"] = ["zero"]
    with pytest.raises(
        ConfigError, match=r"my.yaml is invalid \(config schema\):\n  key `seeds\[0\]`: 'zero' is not of type 'integer'"
    ):
        check_config(config, "my.yaml")


def test_unknown_key_is_rejected():
    config = base_config()
    config["modles"] = ["random"]
    with pytest.raises(
        ConfigError, match=r"key `\(top level\)`: Additional properties are not allowed \('modles' was unexpected\)"
    ):
        check_config(config, "my.yaml")


def test_unknown_dataset_lists_known_ones():
    config = base_config()
    config["datasets"] = ["nope"]
    with pytest.raises(
        ConfigError,
        match=r"key `datasets` names \['nope'\] which are not in the catalog .*known datasets: .*sim_immune",
    ):
        check_config(config, "my.yaml")


def test_unknown_model_is_rejected():
    with pytest.raises(ConfigError, match=r"key `models` names \['nope'\] which have no models/<id>/model.yaml"):
        require(discover(), ["random", "nope"], "my.yaml")


def test_catalog_entry_without_required_field(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("mine:\n  source: path\n  description: x\n")
    with pytest.raises(
        ConfigError, match=r"catalog.yaml is invalid \(catalog schema\):\n  key `mine`: 'path' is a required property"
    ):
        load_catalog(path)


def test_url_entry_may_omit_sha256_but_cellxgene_entry_needs_its_ids():
    validate({"x": {"source": "url", "url": "https://example.org/a.h5ad", "description": "d"}}, "catalog", "c")
    with pytest.raises(ConfigError, match="key `x`: 'cellxgene' is a required property"):
        validate({"x": {"source": "cellxgene", "description": "d"}}, "catalog", "c")
    with pytest.raises(ConfigError, match="'dataset_id' is a required property"):
        validate(
            {"x": {"source": "cellxgene", "description": "d", "cellxgene": {"collection_id": "c"}}}, "catalog", "c"
        )


def test_defaults_are_filled():
    config = base_config()
    del config["qc"], config["scoring"]
    filled, _ = check_config(config)
    assert filled["qc"] == {"min_genes": 25, "min_cells": 3} and filled["scoring"]["bio_weight"] == 0.6


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [("datasets", [".."], "datasets[0]"), ("run", "my run", "run"), ("models", ["a/b"], "models[0]"),
     ("precomputed", {"../x": {"path": "e.h5ad"}}, "precomputed.../x")],
)  # fmt: skip
def test_ids_with_path_parts_or_spaces_are_refused_with_the_pattern(key, value, where):
    config = base_config()
    config[key] = value
    pattern = load_schema("config")["$defs"]["id"]["pattern"]
    with pytest.raises(ConfigError, match=re.escape(f"key `{where}`: ") + r".* does not match the pattern " +
                       re.escape(pattern) + r" \(an id: letters, digits.*no spaces, slashes or '\.\.'\)"):  # fmt: skip
        check_config(config, "my.yaml")


def test_catalog_ids_follow_the_same_pattern(tmp_path):
    assert load_schema("catalog")["propertyNames"]["pattern"] == load_schema("config")["$defs"]["id"]["pattern"]
    path = tmp_path / "catalog.yaml"
    path.write_text("my data:\n  source: builtin\n  builtin: pbmc68k_reduced\n  description: x\n")
    with pytest.raises(ConfigError, match=r"key `my data`: 'my data' does not match the pattern \^"):
        load_catalog(path)
    for good in ("sim_small", "pbmc68k_reduced", "v1.2-b", "A"):
        assert re.fullmatch(id_pattern(), good)
    for bad in ("..", ".hidden", "a..b", "a/b", "a b", "-x", "a.", ""):
        assert not re.fullmatch(id_pattern(), bad)


def test_tasks_and_models_are_switched_off_from_any_config_file():
    config = base_config()
    config["tasks"]["annotation"] = {"enabled": False, "n_splits": 2}
    config["model_params"]["scvi"] = {"enabled": False, "max_epochs": 3}
    config["model_params"]["hvg"] = {"enabled": True}
    config["tasks"]["finetune"] = {"enabled": "false"}  # as `--config 'tasks={finetune: {enabled: false}}'` gives it
    filled, _ = check_config(config)
    assert set(filled["tasks"]) == {"integration"} and "annotation" not in filled["scoring"]["task_weights"]
    assert "scvi" not in filled["models"] and "hvg" in filled["models"]
    assert filled["model_params"]["hvg"] == {} and "enabled" not in filled["tasks"]["integration"]
    config["tasks"] = {"integration": {"enabled": False}}
    with pytest.raises(ConfigError, match=r"every entry of `tasks` is switched off"):
        check_config(config)


def test_config_readme_is_generated_from_the_schema():
    """config/README.md lists every key with its default; regenerate it when the schema changes."""
    from benchmark.config_reference import render

    assert (REPO_ROOT / "config" / "README.md").read_text() == render(), (
        "config/README.md is out of date: python -m benchmark.config_reference > config/README.md"
    )
    assert "| `tasks.annotation.n_splits` | integer | `5` |" in render()


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name != "datasets.yaml"], ids=lambda p: p.name)
def test_snakemake_fills_the_same_defaults_as_the_python_entry_points(path):
    """The workflow fills defaults with Snakemake's validate, Python with the same schema: equal results."""
    from snakemake.utils import validate as snakemake_validate

    ours, _ = check_config(read_yaml(path))
    snakemakes, _ = check_config(
        read_yaml(path), fill=lambda c: snakemake_validate(c, str(SCHEMA_DIR / "config.schema.yaml"), set_default=True)
    )
    assert ours == snakemakes and ours["qc"] == {"min_genes": 25, "min_cells": 3}


def test_defaults_fill_null_tasks_and_parts_of_a_config():
    config = base_config()
    config["tasks"] = {"annotation": None, "drug": {"n_splits": 3}}
    filled, _ = check_config(config)
    assert filled["tasks"]["annotation"]["train_fraction"] == 0.2 and filled["tasks"]["annotation"]["metrics"] is None
    assert filled["tasks"]["drug"] == {"metrics": None, "n_splits": 3, "batch_margin": 0.05}
    assert config["tasks"]["annotation"]["n_splits"] == 5  # the given dict is filled in place (snakemake.config)
    assert task_settings("integration")["exact_knn_cells"] == 100_000
    assert section_settings("precomputed.*", {"path": "e.h5ad"}) == {"path": "e.h5ad", "obsm_key": "X_emb"}
