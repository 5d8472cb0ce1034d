"""The leaderboard in a real headless Chromium: renders without errors; its shared cells, ranks and fronts
equal the Python definitions (benchmark/scoring.py, ranking.py) for many random weights and filters and
thousands of near-tie front tables; controls stay apart; invalid weights are marked; downloads CSV; never
runs injected script; no page-wide horizontal overflow at 1,400 and 420 px."""

import csv
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.ranking import fronts
from benchmark.report.render import render_leaderboard
from benchmark.scoring import compare_models, task_scores
from tests.report_fixture import EVIL, build

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
CONTROLS = {"random", "batch_only", "label_oracle"}
TASKS = ("integration", "annotation")


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

    def open_page(results, width: int = 1400):
        path = tmp_path / "leaderboard.html"
        path.write_text(render_leaderboard(results))
        context = browser.new_context(accept_downloads=True, viewport={"width": width, "height": 900})
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


def page_rows(page) -> dict[str, tuple]:
    """model -> (group, rank, front, score) as the page's ranking table shows them."""
    cells = page.eval_on_selector_all(
        "#ranking tbody tr[data-model]",
        "rows => rows.map(r => [r.dataset.model, r.dataset.group, r.dataset.rank, r.dataset.front, r.dataset.score])",
    )
    number = lambda text: float(text) if text else None  # noqa: E731
    return {m: (g, number(rank), number(front), number(score)) for m, g, rank, front, score in cells}


def python_rows(results: dict, weights: dict, bio: float, models=None, datasets=None) -> dict[str, tuple]:
    """The same table from benchmark/scoring.py and ranking.py, on the page's own (JSON) values."""
    models = models or list(results["models"])
    tasks = task_scores(pd.DataFrame(results["scores"]), bio)
    tasks = tasks[tasks["model"].isin(models) & tasks["dataset"].isin(datasets or list(results["datasets"]))]
    comparison = compare_models(tasks, weights, models, CONTROLS & set(models), results["config"]["seeds"])
    front = fronts(comparison.objectives)
    return {r["model"]: (r["group"], r["rank"], front.get(r["model"]), r["score"]) for r in comparison.rows}


def assert_same(page: dict, python: dict) -> None:
    assert page.keys() == python.keys()
    for model, (group, rank, front, score) in python.items():
        assert page[model][:3] == (group, rank, front), model
        assert (page[model][3] is None) == (score is None) and (score is None or abs(page[model][3] - score) < 1e-12)


def ranked_models(page) -> list[str]:
    return page.eval_on_selector_all("#ranking tbody.ranked tr[data-model]", "rows => rows.map(r => r.dataset.model)")


def results_rows(results: dict) -> dict[str, tuple]:
    return {r["model"]: (r["group"], r["rank"], r["front"], r["score"]) for r in results["ranking"]}


def test_renders_without_errors_and_matches_python(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
    assert_same(page_rows(page), results_rows(results))
    assert page.problems == []


def test_random_weights_and_filters_match_python(page_of, tmp_path):
    """Many random settings: task weights (some 0), bio weight, datasets and models ticked out."""
    results, _, _ = build(tmp_path, seeds=(0, 1))
    page = page_of(results)
    rng = np.random.default_rng(7)
    models, datasets = list(results["models"]), list(results["datasets"])
    for _ in range(40):
        weights = {
            t: float(rng.choice([0.0, round(float(rng.uniform(0, 3)), 2)])) for t in ("integration", "annotation")
        }
        bio = round(float(rng.uniform(0, 1)), 2)
        dropped_model = str(rng.choice(models)) if rng.random() < 0.4 else None
        dropped_dataset = str(rng.choice(datasets)) if rng.random() < 0.3 else None
        page.click("#reset")
        for task, weight in weights.items():
            page.fill(f"input[data-task-weight={task}]", str(weight))
        page.fill("#bio-weight", str(bio))
        if dropped_model:
            page.uncheck(f"input[data-filter=models][value={dropped_model}]")
        if dropped_dataset:
            page.uncheck(f"input[data-filter=datasets][value={dropped_dataset}]")
        kept_models = [m for m in models if m != dropped_model]
        kept_datasets = [d for d in datasets if d != dropped_dataset]
        assert_same(page_rows(page), python_rows(results, weights, bio, kept_models, kept_datasets))
    assert page.problems == []


def test_browser_fronts_equal_python_on_random_near_ties(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    rng = np.random.default_rng(3)
    tables = []
    for _ in range(3000):
        n, k = int(rng.integers(2, 8)), int(rng.choice([2, 3, 8]))
        tables.append({f"m{i}": row for i, row in enumerate(np.round(rng.normal(0, 0.001, (n, k)), 4).tolist())})
    in_browser = page.evaluate("tables => tables.map(t => window.scfmLeaderboard.fronts(t))", tables)
    for table, got in zip(tables, in_browser, strict=True):
        expected = fronts(pd.DataFrame.from_dict(table, orient="index")).to_dict()
        assert got == expected, table
    assert page.problems == []


def test_a_model_apart_never_ranks_above_one_that_beat_it(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    assert ranked_models(page) == ["B", "A"]  # evil failed on d2: listed apart, below
    assert page.inner_text("#ranking tbody.apart tr[data-model=evil] td:nth-child(2)") == "3 of 3 on its cells"
    page.uncheck("input[data-filter=datasets][value=d2]")  # now everyone has d1: evil is compared with the others
    assert set(ranked_models(page)) == {"A", "B", "evil"}
    assert page.problems == []


def test_changing_a_weight_recomputes_the_ranking(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    before = ranked_models(page)
    # Scaled by hand: A integration 0.889, annotation 0.222; B integration 0.400, annotation 0.944.
    assert before == ["B", "A"]  # equal weights: B 0.672 > A 0.556
    page.fill("input[data-task-weight=annotation]", "0")
    assert ranked_models(page) == ["A", "B"]  # integration only: A 0.889 > B 0.400
    page.fill("#bio-weight", "0")
    assert_same(page_rows(page), python_rows(results, {"integration": 1.0, "annotation": 0.0}, 0.0))
    page.click("#reset")
    assert ranked_models(page) == before
    assert page.problems == []


def test_invalid_weights_are_marked_and_ignored(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    before = page_rows(page)
    field, message = "input[data-task-weight=annotation]", "input[data-task-weight=annotation] + .field-error"
    for text, reason in (("-1", "a weight must be 0 or more"), ("", "enter a number")):
        page.fill(field, text)
        assert page.get_attribute(field, "aria-invalid") == "true" and "invalid" in page.get_attribute(field, "class")
        assert page.inner_text(message) == f"{reason} (ignored until fixed)"
        assert page_rows(page) == before  # ignored, not silently applied
    page.fill("#bio-weight", "1.5")
    assert (
        page.inner_text("#bio-weight + .field-error") == "the bio weight must be between 0 and 1 (ignored until fixed)"
    )
    page.fill(field, "2")
    assert page.get_attribute(field, "aria-invalid") == "false" and page.inner_text(message) == ""
    page.click("#reset")
    assert page.inner_text("#bio-weight + .field-error") == "" and page_rows(page) == before
    assert page.problems == []


def test_controls_are_reference_rows_apart_in_every_table(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    for mode in ("scaled", "raw"):
        page.check(f"#mode-{mode}")
        placed = page.eval_on_selector_all(
            "table tbody tr[data-model]", "rows => rows.map(r => [r.dataset.model, r.parentNode.className])"
        )
        assert len(placed) > 30
        for model, body in placed:
            assert (body == "controls") == (model in CONTROLS), (mode, model, body)
    page.check("#mode-scaled")
    page.click("#ranking thead th:nth-child(3)")  # sort by score: the oracle (1.0) stays with the controls
    assert page.eval_on_selector("#ranking tr[data-model=label_oracle]", "r => r.parentNode.className") == "controls"
    assert page.problems == []


def test_filters_and_raw_values_only(page_of, tmp_path):
    results, _, _ = build(tmp_path)
    page = page_of(results)
    page.uncheck("input[data-filter=models][value=B]")
    assert "B" not in ranked_models(page)
    page.check("#mode-raw")
    first_heatmap_cell = page.eval_on_selector(
        ".heatmap tbody.ranked tr[data-model] td:nth-child(2)", "td => td.textContent"
    )
    raw_value = next(r["value"] for r in results["scores"] if r["dataset"] == "d1" and r["model"] == "A"
                     and r["metric"] == "kmeans_nmi")  # fmt: skip
    assert first_heatmap_cell == f"{raw_value:.3f}"
    headers = page.eval_on_selector_all("#task-annotation thead th", "ths => ths.map(t => t.textContent)")
    assert headers[1:] == ["d1 · kNN accuracy ↑", "d1 · kNN LCAD ↓", "d2 · kNN accuracy ↑", "d2 · kNN LCAD ↓"]
    summary = page.eval_on_selector_all(
        ".dataset-tables table:not(.heatmap) thead th", "ths => ths.map(t => t.textContent)"
    )
    assert "score" not in summary and "integration" not in summary  # no aggregate of raw values
    assert page.problems == []


def test_one_seed_says_there_is_no_interval(page_of, tmp_path):
    page = page_of(build(tmp_path)[0])
    assert page.inner_text("#ranking tr[data-model=A] td:nth-child(5)") == "one seed: no interval"
    assert page.problems == []


def test_seeds_show_spread_and_rank_intervals(page_of, tmp_path):
    results, _, _ = build(tmp_path, seeds=(0, 1, 2))
    page = page_of(results)
    assert "±" in page.inner_text("#ranking tbody tr[data-model=A]")
    assert_same(
        page_rows(page), {r["model"]: (r["group"], r["rank"], r["front"], r["score"]) for r in results["ranking"]}
    )
    b = next(r for r in results["ranking"] if r["model"] == "B")
    shown = page.eval_on_selector("#ranking tbody tr[data-model=B]", "r => r.cells[4].textContent")
    assert shown == f"{int(b['rank_low'])}–{int(b['rank_high'])}"
    page.fill("input[data-task-weight=annotation]", "2")
    assert (
        page.eval_on_selector("#ranking tbody tr[data-model=B]", "r => r.cells[4].textContent")
        == "default weights only"
    )
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


@pytest.mark.parametrize("width", [1400, 420])
def test_no_page_wide_overflow_and_the_banner_shows(page_of, tmp_path, width):
    results, _, _ = build(tmp_path, corpus=("sim_corpus",), pretrained=("B",))
    page = page_of(results, width=width)
    page.check("#mode-raw")  # the widest tables
    scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"the page scrolls sideways at {width} px"
    assert page.is_visible("#origin-banner") and page.is_visible("#legend")
    origin = page.inner_text("#ranking tr[data-model=B] .origin")
    assert origin == "in-repo, pretrained here on sim_corpus (3,000 cells, 400 steps)"
    sticky = page.eval_on_selector("#ranking tbody tr[data-model=A] td", "td => getComputedStyle(td).position")
    assert sticky == "sticky"
    page.screenshot(path=str(tmp_path / f"leaderboard-{width}.png"), full_page=True)
    assert page.problems == []
