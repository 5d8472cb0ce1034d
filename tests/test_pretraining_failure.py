"""A pretraining that died (its manifest is a failure record) never stops the report: its check row says why."""

from benchmark.config import validate
from benchmark.failures import write_failure_outputs
from benchmark.pretraining import pretraining_checks
from benchmark.report.render import render_leaderboard
from tests import report_fixture


def test_a_failed_pretraining_is_a_check_row_with_its_reason(tmp_path):
    folder = tmp_path / "results" / "checkpoints" / "geneformer"
    folder.mkdir(parents=True)
    write_failure_outputs([str(folder / "manifest.json")], "killed by SIGKILL (9: out of memory?)", {})
    (tmp_path / "results" / "checkpoints" / "scbert").mkdir(parents=True)
    (tmp_path / "results" / "checkpoints" / "scbert" / "manifest.json").write_text('{"status": "ok"}')

    rows = {row["model"]: row for row in pretraining_checks({
        "geneformer": str(folder), "scbert": str(tmp_path / "results" / "checkpoints" / "scbert")})}  # fmt: skip
    assert rows["geneformer"]["status"] == "failed"
    assert rows["geneformer"]["message"] == "killed by SIGKILL (9: out of memory?)"
    assert rows["scbert"]["status"] == "failed" and "holds no config.json" in rows["scbert"]["message"]

    (tmp_path / "report").mkdir()
    results, _, _ = report_fixture.build(tmp_path / "report", failed=None)
    results["pretraining"] = {"pairs": [], "gains": [], "checks": list(rows.values())}
    validate(results, "results", "results.json")
    table = render_leaderboard(results).split('id="pretraining-checks"')[1]
    assert "pretraining failed</span>: killed by SIGKILL (9: out of memory?)" in table
