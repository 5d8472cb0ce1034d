import shutil

import pytest

from benchmark.errors import ConfigError
from benchmark.model import Model
from benchmark.paths import MODELS_DIR
from benchmark.registry import discover, load_class, read_spec

EXPECTED = {"random", "batch_only", "label_oracle", "ontology_oracle", "hvg", "hvg_pca", "harmony", "scvi"}


def test_discovers_every_plugin():
    specs = discover()
    assert set(specs) >= EXPECTED
    assert specs["scvi"].needs == {"counts": True} and specs["scvi"].resources["gpu"] == 1
    assert specs["label_oracle"].control_roles["bio"] == "positive" == specs["label_oracle"].control_roles["batch"]
    assert specs["ontology_oracle"].needs["ontology"] and specs["ontology_oracle"].control_roles == {
        "ontology": "positive"
    }


def test_discovery_reads_yaml_only(tmp_path):
    plugin = tmp_path / "broken_import"
    plugin.mkdir()
    shutil.copy(MODELS_DIR / "random" / "model.yaml", plugin / "model.yaml")
    (plugin / "model.py").write_text("raise RuntimeError('must not be imported at DAG time')\n")
    assert discover(tmp_path)["broken_import"].class_name == "RandomEmbedding"


def test_invalid_model_yaml_names_file_and_key(tmp_path):
    plugin = tmp_path / "bad"
    plugin.mkdir()
    (plugin / "model.yaml").write_text("name: Bad\nsummary: s\nkind: oracle\nclass: Bad\ncapabilities: [embed]\n")
    with pytest.raises(
        ConfigError, match=r"bad/model.yaml is invalid \(model schema\):\n  key `kind`: 'oracle' is not one of"
    ):
        read_spec(plugin)


def test_class_name_must_exist(tmp_path):
    plugin = tmp_path / "wrongclass"
    plugin.mkdir()
    (plugin / "__init__.py").write_text("")
    (plugin / "model.yaml").write_text("name: W\nsummary: s\nkind: control\nclass: Missing\ncapabilities: [embed]\n")
    (plugin / "model.py").write_text("X = 1\n")
    with pytest.raises(
        ConfigError, match="key `class` names 'Missing', but models/wrongclass/model.py defines no such subclass"
    ):
        load_class(read_spec(plugin))


def test_plugin_outside_the_package_loads(tmp_path):
    plugin = tmp_path / "elsewhere_model"
    plugin.mkdir()
    (plugin / "__init__.py").write_text("")
    (plugin / "model.yaml").write_text("name: E\nsummary: s\nkind: control\nclass: E\ncapabilities: [embed]\n")
    (plugin / "helper.py").write_text("DIMS = 3\n")
    (plugin / "model.py").write_text(
        "import numpy as np\nfrom benchmark.model import Model\nfrom .helper import DIMS\n\n"
        "class E(Model):\n    def embed(self, adata):\n        return np.zeros((adata.n_obs, DIMS))\n"
    )
    cls = load_class(read_spec(plugin))
    assert issubclass(cls, Model) and cls({}, 0).embed(type("A", (), {"n_obs": 4})()).shape == (4, 3)


def test_unknown_parameter_override_is_rejected():
    with pytest.raises(ConfigError, match=r"config key `model_params.scvi` sets unknown parameters \['epochs'\]"):
        discover()["scvi"].params_with({"epochs": 3})
