"""The layers import downwards only: workflow -> models -> benchmark -> metrics (a static check of every
import statement, those inside functions included)."""

import ast
from pathlib import Path

import pytest

from benchmark.paths import REPO_ROOT

# What a layer must not import, and the one deliberate exception: the registry loads plugins by their id.
FORBIDDEN = {"metrics": ("benchmark", "models", "workflow"), "benchmark": ("models", "workflow")}
ALLOWED = {
    ("benchmark/registry.py", "models"): "load_class imports models.<id>.model by the id named in the config",
}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every absolute import in ``path``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((REPO_ROOT / layer).rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        for package in sorted(imported_packages(path) & set(FORBIDDEN[layer])):
            if (relative, package) not in ALLOWED:
                found.append(f"{relative} imports {package}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_imports(layer):
    assert violations(layer) == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The check itself: an upward import inside a function is found."""
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "bad.py").write_text("def f():\n    from benchmark.errors import ConfigError\n")
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", tmp_path)
    assert violations("metrics") == ["metrics/bad.py imports benchmark"]
