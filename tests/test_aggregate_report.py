import json

import pandas as pd
import pytest

from benchmark.aggregate import aggregate
from benchmark.config import with_defaults
from benchmark.errors import ConfigError
from benchmark.registry import ModelSpec
from benchmark.report.render import render_leaderboard

EVIL = "<script>alert(1)</script>"


def spec(model_id: str, name: str, roles=None) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        directory="/x",
        name=name,
        summary=f"summary of {name}",
        kind="control",
        class_name="M",
        capabilities=("embed",),
        control_roles=roles or {},
    )


@pytest.fixture
def run_files(tmp_path):
    models = {
        "random": spec("random", "Random", {"bio": "negative"}),
        "label_oracle": spec("label_oracle", "Oracle", {"bio": "positive", "batch": "positive"}),
        "batch_only": spec("batch_only", "Batch", {"batch": "negative"}),
        "evil": spec("evil", EVIL),
    }
    values = {"random": 0.3, "label_oracle": 0.9, "batch_only": 0.25, "evil": 0.6}
    score_paths, jobs = [], []
    for model, value in values.items():
        rows = [
            {
                "dataset": "d",
                "task": "integration",
                "model": model,
                "seed": 0,
                "metric": metric,
                "value": value if model != "evil" or metric != "kbet" else None,
                "status": "ok" if model != "evil" or metric != "kbet" else "failed",
                "message": "" if model != "evil" or metric != "kbet" else f"ValueError: {EVIL}",
                "seconds": 0.1,
            }
            for metric in ("kmeans_nmi", "silhouette_label", "kbet", "ilisi")
        ]
        path = tmp_path / f"{model}.tsv"
        pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
        score_paths.append(str(path))
        bench = tmp_path / f"{model}.bench.tsv"
        bench.write_text(
            "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
            "1.5\t0:00:01\t300.1\t400\t200\t210\t0\t0\t50\t0.7\n"
        )
        jobs.append({"stage": "embed", "dataset": "d", "model": model, "seed": 0, "path": str(bench)})
    summary = tmp_path / "d.json"
    summary.write_text(
        json.dumps(
            {
                "id": "d",
                "source": "builtin:x",
                "sha256": "a" * 64,
                "n_cells": 10,
                "n_genes": 5,
                "n_batches": 2,
                "n_cell_types": 3,
                "x_kind": "counts",
                "description": EVIL,
            }
        )
    )
    config = with_defaults(
        {
            "run": "t",
            "seeds": [0],
            "datasets": ["d"],
            "models": list(models),
            "tasks": {"integration": {"metrics": ["kmeans_nmi", "silhouette_label", "kbet", "ilisi"]}},
        }
    )
    return score_paths, jobs, {"d": str(summary)}, config, models


def test_results_document(run_files):
    results, scores = aggregate(*run_files)
    assert results["run"] == "t" and results["schema_version"] == 1
    assert len(results["provenance"]["config_hash"]) == 64 and results["provenance"]["data_checksums"] == {
        "d": "a" * 64
    }
    assert "scib-metrics" in results["provenance"]["packages"]
    ranking = {row["model"]: row for row in results["ranking"]}
    assert ranking["label_oracle"]["rank"] == 1
    failure = results["failures"][0]
    assert (failure["model"], failure["status"], failure["metrics"]) == ("evil", "failed", "kbet")
    assert {r["stage"] for r in results["resources"]} == {"embed"} and results["resources"][0]["max_rss_mb"] == 300.1
    evil_bio = next(r for r in results["task_scores"] if r["model"] == "evil")
    assert evil_bio["bio"] == pytest.approx(0.5) and not evil_bio["complete"]  # (0.6-0.3)/(0.9-0.3)
    json.dumps(results, allow_nan=False)  # strict JSON: no NaN


def test_results_schema_is_enforced(run_files, monkeypatch):
    import benchmark.aggregate as aggregate_module

    monkeypatch.setattr(aggregate_module, "RESULTS_SCHEMA_VERSION", 2)
    with pytest.raises(
        ConfigError, match=r"results.json is invalid \(results schema\):\n  key `schema_version`: 1 was expected"
    ):
        aggregate(*run_files)


def test_report_escapes_every_user_string(run_files):
    results, _ = aggregate(*run_files)
    html = render_leaderboard(results)
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the report's own sorting script
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch


def test_report_shows_ranking_failures_and_provenance(run_files):
    results, _ = aggregate(*run_files)
    html = render_leaderboard(results)
    ranking = html[html.index('id="ranking"') : html.index("<h2", html.index('id="ranking"'))]
    assert ranking.index("Oracle") < ranking.index("Random") < ranking.index("Batch")  # ranked order
    for text in (
        "Failed and not-applicable jobs",
        "ValueError: &lt;script&gt;",
        results["provenance"]["config_hash"],
        "Runtime and memory",
        "1.5",
    ):
        assert text in html
