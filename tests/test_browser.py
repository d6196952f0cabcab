"""The pages in a real browser: Debian's chromium, headless, driven by playwright.

The study page renders its Pareto plot with one point per complete trial, a study YAML sent
through the launch form comes back queued, a ``<script>`` study name shows as text (in the
dashboard and in the offline report), and screenshots land in the test's temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from dashboard_support import Planned, fill_study, planned_trials, running_service

from deltaspace.dashboards.report import write_report
from deltaspace.space import preset
from deltaspace.storage import Storage

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed"),
]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
XSS = "<script>alert(1)</script>"
POINTS_JS = """(id) => {
  const gd = document.getElementById(id);
  const trials = gd.data.filter((t) => t.meta && t.meta.role === "trials");
  const markers = gd.data.filter((t) => t.visible !== false && (t.mode || "").includes("markers"));
  return {
    trials: trials.reduce((n, t) => n + t.x.length, 0),
    expected_dom: markers.reduce((n, t) => n + t.x.length, 0),
    dom: gd.querySelectorAll(".scatterlayer path.point").length,
  };
}"""

RECOLORED_JS = """(id) => {
  const names = document.getElementById(id).data.filter((t) => t.meta && t.meta.role === "trials").map((t) => t.name);
  return [...new Set(names)].sort().join(",") === "none,parallel,sequential";
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.dialogs = []
    opened.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
    yield opened
    context.close()


@pytest.fixture
def base_url(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'deltaspace.db'}"
    storage = Storage(url)
    fill_study(storage, "done")
    fill_study(storage, XSS, [Planned(preset("lora"), params=1_000, score=0.7)])
    with running_service(url) as base:
        yield base


def test_study_page_renders_the_pareto_plot(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/studies/done")
    page.wait_for_function("document.body.dataset.figuresLoaded === '1'", timeout=30_000)
    counts = page.evaluate(POINTS_JS, "figure-pareto")
    complete = sum(1 for p in planned_trials() if p.status == "complete")
    assert counts["trials"] == complete
    assert counts["dom"] == counts["expected_dom"] > complete  # every point drawn, presets marked on top
    page.select_option("select[data-recolor]", "insertion")
    page.wait_for_function(RECOLORED_JS, arg="figure-pareto", timeout=30_000)
    assert page.evaluate(POINTS_JS, "figure-pareto")["trials"] == complete
    assert page.locator("#trials-table tbody tr").count() == len(planned_trials())
    page.locator("#trials-table th button", has_text="score").click()
    page.locator("#trials-table th button", has_text="score").click()  # descending
    assert page.locator("#trials-table tbody tr").first.locator("td").nth(4).inner_text() == "0.9500"
    page.screenshot(path=str(tmp_path / "study.png"), full_page=True)
    assert (tmp_path / "study.png").stat().st_size > 10_000


def test_a_study_launched_from_the_form_is_queued(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/launch")
    page.fill(
        "#study-yaml", "name: broken\nmodel: minilm\ntask: sst2\nbudget: {max_steps: 2}\nmethods: [lora]\n"
    )
    page.click("#launch")
    page.wait_for_selector("#launch-errors li")
    assert page.locator("#launch-errors li").first.inner_text().startswith("budget: give n_trials")
    page.fill("#study-yaml", "name: from-the-form\nmodel: minilm\ntask: sst2\nbudget: {max_steps: 2, n_trials: 3}\n"
                             "methods: [lora, prefix]\n")  # fmt: skip
    page.click("#launch")
    page.wait_for_url(f"{base_url}/studies/from-the-form")
    assert page.locator("#study-status .status").inner_text() == "queued"
    page.screenshot(path=str(tmp_path / "queued.png"))
    page.goto(base_url)
    row = page.locator("#studies-table tr", has_text="from-the-form")
    assert row.locator(".status").inner_text() == "queued"


def test_script_names_show_as_text(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/studies/{quote(XSS, safe='')}")
    page.wait_for_function("document.body.dataset.figuresLoaded === '1'", timeout=30_000)
    assert page.locator("#study-name").inner_text() == XSS
    assert page.evaluate(POINTS_JS, "figure-pareto")["trials"] == 1
    page.goto(base_url)
    assert page.locator("#studies-table a", has_text="alert").inner_text() == XSS
    report = write_report(Storage(f"sqlite:///{tmp_path / 'deltaspace.db'}"), XSS, tmp_path / "report.html")
    page.goto(report.as_uri())
    page.wait_for_selector("#figure-pareto .scatterlayer path.point")
    assert page.locator("#study-name").inner_text() == XSS
    page.screenshot(path=str(tmp_path / "report.png"))
    assert page.dialogs == []
