"""The leaderboard in a real headless Chromium: renders without errors, recomputes the ranking when a
weight changes (checked against the Python scoring), downloads CSV, and never runs injected script."""

import csv
import io
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark.report.render import render_leaderboard
from benchmark.scoring import overall_scores, rank_models, task_scores
from tests.report_fixture import EVIL, build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright; a skip locally if missing, an error in CI."""
    required = os.environ.get("SCFM_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("SCFM_REQUIRE_BROWSER=1 but playwright is not installed (pip install -e '.[test]')")
        pytest.skip("playwright not installed")
    if CHROMIUM is None:
        if required:
            pytest.fail("SCFM_REQUIRE_BROWSER=1 but chromium is not installed (Debian package `chromium`)")
        pytest.skip("chromium not installed (Debian package `chromium`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page_of(browser, tmp_path):
    """Open a rendered results document; collect console errors, page errors and dialogs."""
    opened = []

    def open_page(results):
        path = tmp_path / "leaderboard.html"
        path.write_text(render_leaderboard(results))
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(path.as_uri())
        opened.append(context)
        return page

    yield open_page
    for context in opened:
        context.close()


def ranked_models(page) -> list[str]:
    return page.eval_on_selector_all("#ranking tbody tr", "rows => rows.map(r => r.dataset.model)")


def page_ranks(page) -> dict[str, int]:
    cells = page.eval_on_selector_all(
        "#ranking tbody tr", "rows => rows.map(r => [r.dataset.model, r.cells[0].textContent])"
    )
    return {model: int(rank) for model, rank in cells}


def python_ranks(tmp_path, task_weights: dict, bio_weight: float = 0.6) -> dict[str, int]:
    results, config, _ = build(tmp_path)
    tasks = task_scores(pd.DataFrame(results["scores"]), bio_weight)
    ranking = rank_models(overall_scores(tasks, task_weights), config["models"], 2)
    return {row.model: int(row.rank) for row in ranking.itertuples()}


def test_renders_without_errors_and_matches_python(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
    assert page_ranks(page) == {row["model"]: row["rank"] for row in results["ranking"]}
    assert page.problems == []


def test_changing_a_weight_recomputes_the_ranking(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    before = ranked_models(page)
    # Scaled by hand: A integration 0.889, annotation 0.222; B integration 0.400, annotation 0.944.
    assert before.index("B") < before.index("A")  # equal weights: B 0.672 > A 0.556
    page.fill("input[data-task-weight=annotation]", "0")
    after = ranked_models(page)
    assert after.index("A") < after.index("B")  # integration only: A 0.889 > B 0.400
    assert page_ranks(page) == python_ranks(tmp_path, {"integration": 1.0, "annotation": 0.0})
    page.fill("#bio-weight", "0")
    assert page_ranks(page) == python_ranks(tmp_path, {"integration": 1.0, "annotation": 0.0}, bio_weight=0.0)
    page.click("#reset")
    assert ranked_models(page) == before
    assert page.problems == []


def test_filters_and_raw_toggle(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    page.uncheck("input[data-filter=models][value=B]")
    assert "B" not in ranked_models(page)
    page.check("#mode-raw")
    first_heatmap_cell = page.eval_on_selector(".heatmap tbody tr td:nth-child(2)", "td => td.textContent")
    raw_value = next(r["value"] for r in results["scores"] if r["dataset"] == "d1" and r["model"] == "random"
                     and r["metric"] == "kmeans_nmi")  # fmt: skip
    assert first_heatmap_cell == f"{raw_value:.3f}"
    assert page.problems == []


def test_csv_download(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    with page.expect_download() as download_info:
        page.click("#download-csv")
    text = Path(download_info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(results["scores"]) and rows[0].keys() >= {"dataset", "model", "metric", "value", "scaled"}
    assert any(row["message"] == f"RuntimeError: {EVIL}" for row in rows)  # strings round-trip intact
    assert page.problems == []


def test_injected_script_is_shown_not_run(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    text = page.inner_text("body")
    assert EVIL in text  # shown as text, in the ranking, the failures panel and the description
    assert page.evaluate("document.querySelectorAll('script').length") == 2  # the data block and the app
    assert page.problems == []  # no alert dialog, no error


def test_seeds_show_spread_and_rank_intervals(page_of, tmp_path):
    results, _, _ = build(tmp_path, seeds=(0, 1, 2))
    page = page_of(results)
    row = page.inner_text("#ranking tbody tr[data-model=A]")
    assert "±" in row and page_ranks(page) == {r["model"]: r["rank"] for r in results["ranking"]}
    oracle = page.eval_on_selector("#ranking tbody tr[data-model=label_oracle]", "r => r.cells[5].textContent")
    assert oracle == "1–1"
    assert page.problems == []
