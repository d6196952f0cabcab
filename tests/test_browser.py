"""The pages in a real browser: Debian's chromium, headless, driven by playwright.

The study page renders its Pareto plot with one point per design, no two front labels overlap
(bounding boxes read from the rendered SVG, on the committed SST-2 benchmark study), the EDF
panel draws one curve per dimension value, a trial page renders its learning curve, the launch
page shows a field error as you type and a queued study's page follows it once a worker picks it
up, a ``<script>`` study name shows as text (in the dashboard and in the offline report), and
screenshots land in the test's temporary folder.
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
    page.select_option("select[data-figure='figure-pareto'][data-option='color_by']", "insertion")
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


BENCH_DB = Path(__file__).resolve().parents[1] / "bench" / "results" / "unified_view.db"
LABEL_BOXES_JS = """(id) => {
  const gd = document.getElementById(id);
  const labels = gd.layout.annotations.map((a, i) => [a, i]).filter(([a]) => (a.name || "").startsWith("label:"));
  return labels.map(([a, i]) => {
    const box = gd.querySelector(`.annotation[data-index="${i}"] .annotation-text-g`).getBoundingClientRect();
    return { text: a.text, left: box.left, right: box.right, top: box.top, bottom: box.bottom };
  });
}"""
EDF_JS = """(id) => {
  const gd = document.getElementById(id);
  const out = {};
  gd.data.filter((t) => t.meta && t.meta.role === "edf").forEach((t) => {
    (out[t.meta.dimension] = out[t.meta.dimension] || []).push(t.meta.value);
  });
  return { curves: out, drawn: gd.querySelectorAll(".scatterlayer .trace .js-line").length };
}"""


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


@pytest.mark.skipif(not BENCH_DB.exists(), reason="the committed benchmark database is not here")
def test_front_labels_never_overlap_on_the_benchmark_study(page, tmp_path: Path) -> None:
    copy = tmp_path / "unified_view.db"
    shutil.copy(BENCH_DB, copy)  # the service may write; the committed database stays as it is
    with running_service(f"sqlite:///{copy}") as base:
        page.goto(f"{base}/studies/unified-sst2")
        page.wait_for_function("document.body.dataset.figuresLoaded === '1'", timeout=120_000)
        boxes = page.evaluate(LABEL_BOXES_JS, "figure-pareto")
        page.locator("#figure-pareto").screenshot(path=str(tmp_path / "bench-pareto.png"))
        page.locator("#figure-edf").screenshot(path=str(tmp_path / "bench-edf.png"))
        page.locator("#figure-effects").screenshot(path=str(tmp_path / "bench-effects.png"))
    assert len(boxes) > 20  # every front point and published preset of 139 trials
    assert all(b["right"] > b["left"] and b["bottom"] > b["top"] for b in boxes)
    clashes = [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if overlaps(a, b)]
    assert clashes == []


def test_edf_panel_has_one_curve_per_dimension_value(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/studies/done")
    page.wait_for_function("document.body.dataset.figuresLoaded === '1'", timeout=30_000)
    found = page.evaluate(EDF_JS, "figure-edf")
    # the values the planned complete trials use, per dimension, written out
    assert {k: sorted(v) for k, v in found["curves"].items()} == {
        "form": ["bitfit", "bottleneck", "full", "low_rank", "prefix", "scaling"],
        "position": [
            "attn_heads",
            "attn_output",
            "ffn_hidden",
            "ffn_out",
            "ffn_output",
            "key",
            "query",
            "value",
        ],
        "insertion": ["parallel", "sequential"],
        "composition": ["add", "gated", "multiply", "scaled"],
        "size": ["30", "4", "512", "64", "8"],
        "layers": ["all"],
    }
    assert found["drawn"] == sum(len(v) for v in found["curves"].values())
    page.select_option("select[data-figure='figure-edf'][data-option='band']", "0.1,1")
    page.wait_for_function("(id) => document.getElementById(id).layout.title.text.includes('0.1% to 1%')",
                           arg="figure-edf", timeout=30_000)  # fmt: skip
    page.locator("#figure-edf").screenshot(path=str(tmp_path / "edf-band.png"))


def test_trial_page_renders_a_learning_curve(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/studies/done")
    page.wait_for_function("document.body.dataset.figuresLoaded === '1'", timeout=30_000)
    page.evaluate(
        "(id) => document.getElementById(id).emit('plotly_click', {points: [{customdata: ['done', 3]}]})",
        "figure-pareto",
    )  # a click on a front point opens its trial
    page.wait_for_url(f"{base_url}/studies/done/trials/3")
    page.wait_for_function("document.body.dataset.figuresLoaded === '1'", timeout=30_000)
    assert page.locator("#method-name").inner_text() == "free"
    curve = page.evaluate(
        "(id) => document.getElementById(id).data.filter((t) => t.meta.role === 'curve').map((t) => [t.x, t.y])",
        "figure-curve",
    )
    assert curve == [[[5, 10], [pytest.approx(0.80), pytest.approx(0.85)]]]
    assert page.locator("#figure-curve .scatterlayer .trace .js-line").count() == 1
    assert page.locator("#coordinates tbody tr").count() == 2
    assert "5,000" in page.locator("#counts").inner_text()
    assert page.locator("#phases tr").count() == 3  # header, train, evaluate
    links = page.locator("#exports a")
    assert links.count() == 4 and "selection=trial&trial=3&format=yaml" in links.first.get_attribute("href")
    page.screenshot(path=str(tmp_path / "trial.png"), full_page=True)


def test_launch_page_shows_field_errors_as_you_type(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/launch")
    page.fill(
        "#study-yaml",
        "name: typo\nmodel: minilm\ntask: sst2\nbudget: {max_steps: 2, n_trials: 2}\n"
        "methods: {free: {slots: [{form: bottlenek, position: ffn_output}]}}\n",
    )  # no click: the page checks as you type
    item = page.locator("#launch-errors li").first
    item.wait_for(timeout=30_000)
    assert item.locator("code").inner_text() == "methods.free.slots.0.form"
    assert "'bottlenek'" in item.inner_text() and "'bottleneck', 'low_rank', 'prefix'" in item.inner_text()
    assert page.locator("#validation").get_attribute("data-state") == "problems"
    page.screenshot(path=str(tmp_path / "launch-error.png"))
    page.select_option("#example", "quickstart")
    page.wait_for_function("document.getElementById('validation').dataset.state === 'ok'", timeout=30_000)
    assert "study quickstart, 12 trials" in page.locator("#validation").inner_text()
    assert page.locator("#launch-errors li").count() == 0
    page.screenshot(path=str(tmp_path / "launch-example.png"))


def test_a_queued_study_page_follows_the_worker(page, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/launch")
    page.fill("#study-yaml", "name: picked-up\nmodel: minilm\ntask: sst2\nbudget: {max_steps: 2, n_trials: 3}\n"
                             "methods: [lora]\n")  # fmt: skip
    page.wait_for_function("document.getElementById('validation').dataset.state === 'ok'", timeout=30_000)
    page.click("#launch")
    page.wait_for_url(f"{base_url}/studies/picked-up")
    assert page.locator("#study-status .status").inner_text() == "queued"
    assert "waiting for a worker" in page.locator("#queued-notice").inner_text()
    storage = Storage(f"sqlite:///{tmp_path / 'deltaspace.db'}")
    assert storage.claim_queued_study("test-worker").name == "picked-up"  # what `deltaspace worker` does
    page.wait_for_function(
        "document.querySelector('#study-status .status').innerText === 'running'", timeout=30_000
    )
    assert page.locator("#queued-notice").count() == 0
    page.screenshot(path=str(tmp_path / "picked-up.png"))
