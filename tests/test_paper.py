"""config/paper.yaml: the published benchmark's matrix plans completely (a dry run, no data needed)."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from benchmark.errors import ConfigError
from benchmark.io import write_json
from benchmark.paths import REPO_ROOT
from benchmark.registry import check_checkpoints, discover

PAPER = REPO_ROOT / "config" / "paper.yaml"


def _job_stats(stdout: str) -> Counter:
    table = stdout[stdout.index("Job stats:") :].splitlines()[3:]
    counts = Counter()
    for line in table:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def test_paper_config_dry_run_builds_the_full_matrix(tmp_path):
    config = yaml.safe_load(PAPER.read_text())
    damaged = tmp_path / "results" / "maps" / "x.json"  # changed after it was written: a real run removes it
    write_json({"maps": {}}, damaged)
    damaged.write_text("{}")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    command = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO_ROOT / "workflow" / "Snakefile"),
               "--directory", str(tmp_path), "-n", "--configfile", str(PAPER)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".snakemake" not in p.parts}
    assert after == before  # a dry run writes and deletes nothing (but Snakemake's own .snakemake/)
    datasets, models, seeds, tasks = (len(config[k]) for k in ("datasets", "models", "seeds", "tasks"))
    assert (datasets, len(config["checkpoints"]), seeds, tasks) == (5, 6, 5, 2)
    specs = discover()
    stochastic = [m for m in config["models"] if specs[m].stochastic]
    deterministic = [m for m in config["models"] if not specs[m].stochastic]
    assert len(deterministic) == 6  # hvg, hvg_pca and the four published scFMs that draw nothing at random
    # Deterministic models are embedded once, for every seed; one evaluate job scores every task of an embedding.
    expected = {"ontology": 1, "prepare_dataset": datasets, "embed": datasets * (len(stochastic) * seeds +
                len(deterministic)), "evaluate": datasets * models * seeds, "embedding_maps": datasets,
                "aggregate": 1, "report": 1, "all": 1}  # fmt: skip
    expected["total"] = sum(expected.values())
    assert _job_stats(result.stdout) == expected  # no pretrain job: every scFM loads its published weights
    for dataset in config["datasets"]:
        assert f"results/data/{dataset}/dataset.h5ad" in result.stdout
    for model in config["checkpoints"]:
        last = f"results/embed/hlca_core/{model}/seed4.h5ad"
        assert (last in result.stdout) == (model in stochastic), model
        assert f"results/embed/hlca_core/{model}/seed0.h5ad" in result.stdout
    assert "results/scores/hlca_core/geneformer/seed4.tsv" in result.stdout  # scored for every seed


def test_models_that_only_load_published_weights_need_a_checkpoint_entry():
    specs = discover()
    with pytest.raises(ConfigError, match=r"model `langcell` runs only from its published checkpoint; add "
                       r"`checkpoints.langcell`"):  # fmt: skip
        check_checkpoints(specs, ["hvg", "langcell"], {}, "config")
    with pytest.raises(ConfigError, match="key `checkpoints.hvg` names a model that loads no checkpoint"):
        check_checkpoints(specs, ["hvg"], {"hvg": {"format": "geneformer"}}, "config")
    check_checkpoints(specs, ["geneformer", "langcell"], {"langcell": {"format": "langcell"}}, "config")
