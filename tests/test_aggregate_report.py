import json

import pytest

import benchmark.aggregate as aggregate_module
from benchmark.errors import ConfigError
from benchmark.report.render import render_leaderboard
from tests.report_fixture import EVIL, build


def test_results_document(tmp_path):
    results, _, _ = build(tmp_path)
    assert results["run"] == "t" and results["schema_version"] == 1
    assert len(results["provenance"]["config_hash"]) == 64 and results["provenance"]["data_checksums"]["d1"] == "a" * 64
    assert "scib-metrics" in results["provenance"]["packages"]
    ranking = {row["model"]: row for row in results["ranking"]}
    assert ranking["label_oracle"]["rank"] == 1 and ranking["label_oracle"]["front"] == 1
    assert ranking["evil"]["n_datasets"] == 1 and ranking["evil"]["datasets_total"] == 2
    failure = next(f for f in results["failures"] if f["model"] == "evil")
    assert (failure["dataset"], failure["status"], failure["message"]) == ("d2", "failed", f"RuntimeError: {EVIL}")
    assert {r["stage"] for r in results["resources"]} == {"embed"} and results["resources"][0]["max_rss_mb"] == 300.1
    assert {r["device"] for r in results["runs"]} == {"cpu"}
    a = next(
        r for r in results["task_scores"] if r["model"] == "A" and r["dataset"] == "d1" and r["task"] == "integration"
    )
    assert a["bio"] == pytest.approx((0.9 - 0.1) / (1.0 - 0.1)) and a["batch"] == pytest.approx(0.8 / 0.9)
    json.dumps(results, allow_nan=False)  # strict JSON: no NaN or infinity anywhere


def test_fronts_in_every_scope(tmp_path):
    results, _, _ = build(tmp_path)
    scopes = {(f["scope"], f["dataset"], f["task"]) for f in results["fronts"]}
    assert ("overall", "", "") in scopes and ("dataset", "d1", "") in scopes and ("task", "d2", "annotation") in scopes
    d1_integration = {
        f["model"]: f["front"] for f in results["fronts"] if f["dataset"] == "d1" and f["task"] == "integration"
    }
    # bio/batch scaled: oracle (1, 1) dominates everything; A (0.889, 0.889) is alone on front 2.
    assert d1_integration["label_oracle"] == 1 and d1_integration["A"] == 2


def test_results_schema_is_enforced(tmp_path, monkeypatch):
    monkeypatch.setattr(aggregate_module, "RESULTS_SCHEMA_VERSION", 2)
    with pytest.raises(
        ConfigError, match=r"results.json is invalid \(results schema\):\n  key `schema_version`: 1 was expected"
    ):
        build(tmp_path)


def test_report_escapes_every_user_string(tmp_path):
    results, _, _ = build(tmp_path)
    html = render_leaderboard(results)
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # server-rendered parts
    assert "\\u003cscript\\u003e" in html  # the embedded JSON escapes < and >
    assert html.count("<script") == 2  # the data block and the app only
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch


def test_report_sections(tmp_path):
    results, _, _ = build(tmp_path)
    html = render_leaderboard(
        results, maps={"d1": {"legend": {"batch": {"b1": "#000000"}}, "maps": {"A": {"batch": "iVBOR"}}, "n_cells": 5}}
    )
    for text in ("Overall ranking", "Failed and not-applicable jobs", results["provenance"]["config_hash"],
                 "Runtime and memory", 'src="data:image/png;base64,iVBOR"', "Download CSV"):  # fmt: skip
        assert text in html


def test_pretraining_corpus_is_recorded_and_flagged(tmp_path):
    results, _, _ = build(tmp_path, corpus=("d2",), pretrained=("B",))
    assert results["provenance"]["pretraining_corpus"] == {"B": ["d2"]}
    assert results["datasets"]["d2"]["in_pretraining_corpus_of"] == ["B"]
    assert results["datasets"]["d1"]["in_pretraining_corpus_of"] == []
    assert "<b>In a pretraining corpus:</b> B pretrained on this dataset" in render_leaderboard(results)


def test_several_seeds_give_sd_and_rank_intervals(tmp_path):
    results, _, _ = build(tmp_path, seeds=(0, 1, 2))
    ranking = {row["model"]: row for row in results["ranking"]}
    assert ranking["A"]["score_sd"] > 0 and ranking["label_oracle"]["score_sd"] == 0
    assert ranking["label_oracle"]["rank_low"] == ranking["label_oracle"]["rank_high"] == 1
    assert ranking["A"]["rank_low"] <= ranking["A"]["rank"] <= ranking["A"]["rank_high"]
    task = next(r for r in results["task_scores"] if r["model"] == "A" and r["task"] == "annotation")
    assert task["score_sd"] > 0
    assert "over 3 seeds" in render_leaderboard(results)
