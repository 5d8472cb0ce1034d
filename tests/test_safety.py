"""Static safety checks over the code: safe deserialisation and no shell commands built from config."""

import re

from benchmark.paths import REPO_ROOT

CODE = [p for folder in ("benchmark", "models", "metrics", "workflow") for p in (REPO_ROOT / folder).rglob("*.py")]
TRUSTED_LOADER = "models/foundation/published/files.py"
RULES = list((REPO_ROOT / "workflow").rglob("*.smk")) + [REPO_ROOT / "workflow" / "Snakefile"]


def test_every_torch_load_is_weights_only():
    calls = [(p, m.group(0)) for p in CODE for m in re.finditer(r"torch\.load\([^)]*\)", p.read_text())]
    assert calls, "expected torch.load calls to check"
    unsafe = [(str(p.relative_to(REPO_ROOT)), call) for p, call in calls if "weights_only=True" not in call]
    # The one exception: published files that need a full pickle, loaded only with `trusted: true`.
    assert unsafe == [(TRUSTED_LOADER, 'torch.load(path, map_location="cpu", weights_only=not trusted)')]


def test_no_pickle_loading():
    """Only the plain-data unpickler (Geneformer's dictionaries) touches pickle, and it resolves no
    globals but numpy scalars."""
    offenders = [
        str(p.relative_to(REPO_ROOT)) for p in CODE if re.search(r"\bpickle\.loads?\(|import pickle", p.read_text())
    ]
    assert offenders == [TRUSTED_LOADER]
    text = (REPO_ROOT / TRUSTED_LOADER).read_text()
    assert "class _PlainDataUnpickler(pickle.Unpickler)" in text and "def find_class" in text
    assert not re.search(r"\bpickle\.loads?\(", text)


def test_metrics_import_nothing_from_benchmark():
    """metrics/ is the bottom layer: pure functions of arrays and graphs."""
    offenders = [
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "metrics").rglob("*.py")
        if re.search(r"^\s*(from|import) benchmark\b", p.read_text(), re.M)
    ]
    assert offenders == []


def test_obs_queries_never_reach_pandas_query():
    """`obs_query` is evaluated by benchmark/data/obs_query.py's allow-list, never by DataFrame.query/eval."""
    pandas_eval = re.compile(r"\.query\(|\.eval\(\s*[^)\s]")  # DataFrame.query(...), pd.eval(...); not module.eval()
    offenders = [str(p.relative_to(REPO_ROOT)) for p in CODE if pandas_eval.search(p.read_text())]
    assert offenders == []


def test_rules_run_python_scripts_not_shell_commands():
    """Config values reach jobs only as `params` of `script:` rules, never through a shell."""
    offenders = [str(p.relative_to(REPO_ROOT)) for p in RULES if re.search(r"^\s*(shell|run):", p.read_text(), re.M)]
    assert offenders == []
