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
    # evil failed on d2: A and B share all four cells (8 scores) > three models on d1's two cells (6 scores).
    assert results["comparison"]["shared_cells"] == ["d1/annotation", "d1/integration", "d2/annotation",
                                                     "d2/integration"]  # fmt: skip
    assert results["comparison"]["ranked"] == ["A", "B"]
    assert ranking["B"]["rank"] == 1 and ranking["A"]["rank"] == 2 and ranking["A"]["front"] == 1
    assert ranking["evil"]["group"] == "apart" and ranking["evil"]["cells"] == ["d1/annotation", "d1/integration"]
    assert ranking["evil"]["front"] is None and ranking["evil"]["rank_of"] == 3
    assert ranking["label_oracle"]["group"] == "control" and ranking["label_oracle"]["rank"] is None
    assert ranking["label_oracle"]["score"] == pytest.approx(1.0) and ranking["B"]["controls_above"] == ["label_oracle"]
    assert [row["group"] for row in results["ranking"]] == ["ranked"] * 2 + ["apart"] + ["control"] * 3
    failure = next(f for f in results["failures"] if f["model"] == "evil")
    assert (failure["dataset"], failure["status"], failure["message"]) == ("d2", "failed", f"RuntimeError: {EVIL}")
    assert {r["stage"] for r in results["resources"]} == {"embed"} and results["resources"][0]["max_rss_mb"] == 300.1
    assert {r["device"] for r in results["runs"]} == {"cpu"}
    a = next(
        r for r in results["task_scores"] if r["model"] == "A" and r["dataset"] == "d1" and r["task"] == "integration"
    )
    assert a["bio"] == pytest.approx((0.9 - 0.1) / (1.0 - 0.1)) and a["batch"] == pytest.approx(0.8 / 0.9)
    assert a["complete"] and "raw_score" not in a
    json.dumps(results, allow_nan=False)  # strict JSON: no NaN or infinity anywhere


def test_fronts_in_every_scope_leave_the_controls_out(tmp_path):
    results, _, _ = build(tmp_path)
    scopes = {(f["scope"], f["dataset"], f["task"]) for f in results["fronts"]}
    assert ("overall", "", "") in scopes and ("dataset", "d1", "") in scopes and ("task", "d2", "annotation") in scopes
    assert not {f["model"] for f in results["fronts"]} & {"random", "batch_only", "label_oracle"}
    d1_integration = {
        f["model"]: f["front"] for f in results["fronts"] if f["dataset"] == "d1" and f["task"] == "integration"
    }
    # bio/batch scaled: A (0.889, 0.889) dominates B (0.444, 0.333) and evil (0.556, 0.556); evil dominates B.
    assert d1_integration == {"A": 1, "evil": 2, "B": 3}


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
                 "Runtime and memory", 'src="data:image/png;base64,iVBOR"', "Download CSV", "Integration at a glance",
                 "Degenerate embeddings", "<details open><summary>Maps"):  # fmt: skip
        assert text in html
    assert 'id="origin-banner"' not in html  # no scFM in this run


def test_pretraining_corpus_is_recorded_and_flagged(tmp_path):
    results, _, _ = build(tmp_path, corpus=("d2",), pretrained=("B",))
    assert results["provenance"]["pretraining_corpus"] == {"B": ["d2"]}
    assert results["datasets"]["d2"]["in_pretraining_corpus_of"] == ["B"]
    assert results["datasets"]["d1"]["in_pretraining_corpus_of"] == []
    assert "<b>In a pretraining corpus:</b> B pretrained on this dataset" in render_leaderboard(results)


def test_every_scfm_says_how_it_was_obtained(tmp_path):
    results, _, _ = build(tmp_path, corpus=("sim_corpus",), pretrained=("B",), published=("A",))
    origin = results["models"]["B"]["origin"]
    assert origin["label"] == "in-repo, pretrained here on sim_corpus (3,000 cells, 400 steps)"
    assert "minutes" not in origin  # wall time differs run to run: `models` must not (it is in `resources`)
    assert results["models"]["A"]["origin"]["label"] == "published checkpoint whole_human, sha256 ab12ab12ab12"
    assert results["models"]["random"]["origin"] is None
    html = render_leaderboard(results)
    assert ('<p class="banner" id="origin-banner">B is a small in-repo model pretrained in this run on sim_corpus '
            "(3,000 cells, at most 400 steps each), not the published checkpoints: their scores say nothing about the "
            "published models.</p>") in html  # fmt: skip
    data = json.loads(html.split('id="benchmark-data">')[1].split("</script>")[0])
    assert data["models"]["B"]["origin"] == origin["label"]  # the page writes it under the name in every table
    only_published = render_leaderboard(build(tmp_path, published=("A", "B"))[0])
    assert 'id="origin-banner"' not in only_published


def test_degenerate_embeddings_are_reported_and_not_ranked(tmp_path):
    results, _, _ = build(tmp_path, degenerate=("d1", "A"))
    assert results["degenerate"] == [{"dataset": "d1", "model": "A", "seed": 0,
                                      "reason": "constant: every cell has the same vector"}]  # fmt: skip
    ranking = {row["model"]: row for row in results["ranking"]}
    assert ranking["A"]["group"] == "apart" and ranking["A"]["cells"] == ["d2/annotation", "d2/integration"]
    assert "constant: every cell has the same vector" in render_leaderboard(results)
    kept, _, _ = build(tmp_path, degenerate=("d1", "A"), scoring={"keep_degenerate": True})
    assert {row["model"]: row["group"] for row in kept["ranking"]}["A"] == "ranked"


def test_unscheduled_jobs_appear_as_not_applicable(tmp_path):
    reason = "B needs raw counts; dataset 'd2' has log-normalised values (catalog `counts: false`)"
    results, _, _ = build(tmp_path, unscheduled=[{"dataset": "d2", "model": "B", "reason": reason,
                                                  "tasks": ["integration", "annotation"]}])  # fmt: skip
    rows = [r for r in results["task_scores"] if r["dataset"] == "d2" and r["model"] == "B"]
    assert {r["task"] for r in rows} == {"integration", "annotation"}
    assert all(r["status"] == "not_applicable" and r["message"] == reason for r in rows)
    # A alone has all four cells; A, B and evil share d1's two (6 scores > 4): the comparison is on d1.
    assert results["comparison"] == {"shared_cells": ["d1/annotation", "d1/integration"], "ranked": ["A", "B", "evil"],
                                     "keep_degenerate": False}  # fmt: skip
    html = render_leaderboard(results)
    assert reason.replace("'", "&#39;") in html.split('id="failures"')[1]


def test_failures_panel_groups_identical_reasons(tmp_path):
    reason = "needs raw counts"
    unscheduled = [{"dataset": "d2", "model": m, "reason": reason, "tasks": ["integration"]} for m in ("A", "B")]
    html = render_leaderboard(build(tmp_path, unscheduled=unscheduled)[0])
    panel = html.split('id="failures"')[1]
    assert panel.count(f'<td class="msg">{reason}</td>') == 1
    assert "<li>d2 · A (integration)</li><li>d2 · B (integration)</li>" in panel


def test_several_seeds_give_sd_and_rank_intervals(tmp_path):
    results, _, _ = build(tmp_path, seeds=(0, 1, 2))
    ranking = {row["model"]: row for row in results["ranking"]}
    assert ranking["A"]["score_sd"] > 0 and ranking["label_oracle"]["score_sd"] == 0
    assert ranking["B"]["rank_low"] <= ranking["B"]["rank"] <= ranking["B"]["rank_high"]
    assert ranking["label_oracle"]["rank_low"] is None  # controls are not ranked
    task = next(r for r in results["task_scores"] if r["model"] == "A" and r["task"] == "annotation")
    assert task["score_sd"] > 0
    assert "over 3 seeds" in render_leaderboard(results)


def test_the_scfm_plugin_records_its_origin(tmp_path):
    """What the embed step writes into the run record's notes (models/foundation/plugin.py)."""
    import hashlib

    from models.foundation.plugin import checkpoint_origin

    ours = tmp_path / "checkpoint"
    ours.mkdir()
    (ours / "config.json").write_text(json.dumps({"steps": 400, "seconds": 150.0, "corpus_cells": 3000}))
    assert checkpoint_origin(str(ours), "scgpt") == {"source": "in-repo", "corpus_cells": 3000, "steps": 400,
                                                     "minutes": 2.5}  # fmt: skip
    published = tmp_path / "whole_human"
    published.mkdir()
    (published / "best_model.pt").write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    origin = checkpoint_origin({"format": "scgpt", "path": str(published)}, "scgpt")
    assert origin == {"source": "published", "name": "whole_human", "format": "scgpt", "sha256": digest}
    pinned = {"format": "scgpt", "path": str(published), "files": {"weights": {"path": "best_model.pt",
                                                                               "sha256": "f" * 64}}}  # fmt: skip
    assert checkpoint_origin(pinned, "scgpt")["sha256"] == "f" * 64  # the configured (and verified) sum
