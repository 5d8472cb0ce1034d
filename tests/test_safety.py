"""Static safety checks over the code: safe deserialisation and no shell commands built from config."""

import re

from benchmark.paths import REPO_ROOT

CODE = [p for folder in ("benchmark", "models", "metrics", "workflow") for p in (REPO_ROOT / folder).rglob("*.py")]
RULES = list((REPO_ROOT / "workflow").rglob("*.smk")) + [REPO_ROOT / "workflow" / "Snakefile"]


def test_every_torch_load_is_weights_only():
    calls = [(p, m.group(0)) for p in CODE for m in re.finditer(r"torch\.load\([^)]*\)", p.read_text())]
    assert calls, "expected torch.load calls to check"
    unsafe = [(str(p.relative_to(REPO_ROOT)), call) for p, call in calls if "weights_only=True" not in call]
    assert unsafe == []


def test_no_pickle_loading():
    offenders = [
        str(p.relative_to(REPO_ROOT)) for p in CODE if re.search(r"\bpickle\.loads?\(|import pickle", p.read_text())
    ]
    assert offenders == []


def test_rules_run_python_scripts_not_shell_commands():
    """Config values reach jobs only as `params` of `script:` rules, never through a shell."""
    offenders = [str(p.relative_to(REPO_ROOT)) for p in RULES if re.search(r"^\s*(shell|run):", p.read_text(), re.M)]
    assert offenders == []
