"""Figures from a stored study of synthetic trials: each record checked against an independent
computation, each figure against its record, and the self-contained report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from dashboard_support import BACKBONE, FREE, Planned, fill_study
from typer.testing import CliRunner

from deltaspace import cli
from deltaspace.dashboards.effects import effects_record, plot_effects
from deltaspace.dashboards.figures import FIGURES, build_figure
from deltaspace.dashboards.hypervolume import hypervolume_record, plot_hypervolume
from deltaspace.dashboards.parallel import parallel_record, plot_parallel
from deltaspace.dashboards.pareto import front_keys, pareto_record, plot_pareto
from deltaspace.dashboards.records import hypervolume
from deltaspace.dashboards.report import report_html, write_report
from deltaspace.dashboards.table import table_record
from deltaspace.space import preset
from deltaspace.storage import Storage

XSS = "<script>alert(1)</script>"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    opened = Storage(f"sqlite:///{tmp_path / 'deltaspace.db'}")
    fill_study(opened, "demo")
    return opened


def independent_front(trials) -> set[tuple[str, int]]:
    """Non-dominated complete trials, written out: nobody has ≤ params and ≥ score, one strictly."""
    done = [t for t in trials if t.status == "complete"]
    front = set()
    for t in done:
        beaten = any(
            o.delta_params <= t.delta_params and o.score >= t.score
            and (o.delta_params < t.delta_params or o.score > t.score)
            for o in done
        )  # fmt: skip
        if not beaten:
            front.add((t.study_name, t.number))
    return front


def traces(fig, role: str) -> list:
    return [t for t in fig.data if (t.meta or {}).get("role") == role]


def test_pareto_front_trace_holds_exactly_the_non_dominated_trials(storage: Storage) -> None:
    trials = storage.list_trials("demo")
    expected = independent_front(trials)
    assert expected == {("demo", 2), ("demo", 0), ("demo", 3), ("demo", 5)}  # ia3, lora, free, mam
    fig = plot_pareto(trials)
    assert set(front_keys(fig)) == expected
    front_params = [trials[n].delta_params for _, n in front_keys(fig)]
    assert front_params == sorted(front_params) and traces(fig, "front")[0].line.shape == "hv"
    shown = [tuple(c) for t in traces(fig, "trials") for c in t.customdata]
    assert sorted(shown) == sorted(("demo", t.number) for t in trials if t.status == "complete")
    for trace in traces(fig, "trials"):  # front points solid, dominated ones faded
        keys = {tuple(c) for c in trace.customdata}
        assert keys <= expected if trace.meta["front"] else not keys & expected
        assert trace.marker.opacity == (1.0 if trace.meta["front"] else 0.3)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.ticktext[:2] == ("100<br>0.01%", "1k<br>0.1%")


def test_pareto_marks_presets_full_finetuning_and_hover_shows_the_method(storage: Storage) -> None:
    record = pareto_record(storage.list_trials("demo"))
    fig = plot_pareto(storage.list_trials("demo"))
    presets = traces(fig, "presets")[0]
    assert sorted(presets.text) == sorted(["lora", "prefix", "ia3", "houlsby", "mam", "bitfit", "full"])
    assert record.full_finetuning == 0.87
    assert any(s.y0 == s.y1 == 0.87 for s in fig.layout.shapes)
    free = next(p for p in record.points if p.method_name == "free")
    assert free.preset is None and free.family == "lora+adapter"
    hover = next(t for t in traces(fig, "trials") if ["demo", 3] in [list(c) for c in t.customdata]).text[0]
    assert "low_rank | parallel | ffn_out" in hover and "bottleneck relu | parallel | attn_output" in hover


def test_pareto_colours_by_any_dimension(storage: Storage) -> None:
    trials = storage.list_trials("demo")
    by_insertion = pareto_record(trials, "insertion")
    assert {p.color for p in by_insertion.points} == {"parallel", "sequential", "none"}
    by_lr = pareto_record(trials, "lr")
    assert {p.color for p in by_lr.points} >= {"0.001", "0.0001"}
    legend = {t.name for t in traces(plot_pareto(trials, "insertion"), "trials")}
    assert legend == {"parallel", "sequential", "none"}


def test_effects_split_every_dimension(storage: Storage) -> None:
    record = effects_record(storage.list_trials("demo"))
    assert set(record.groups) == {"form", "position", "insertion", "composition"}
    for groups in record.groups.values():
        assert sorted(p.number for points in groups.values() for p in points) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [p.number for p in record.groups["form"]["prefix"]] == [1]
    assert {p.number for p in record.groups["insertion"]["sequential"]} == {4}
    fig = plot_effects(storage.list_trials("demo"))
    assert len(fig.data) == sum(len(g) for g in record.groups.values())


def test_hypervolume_against_a_hand_computation() -> None:
    # points (x, y): (0, 0.5) and (1, 0.8) with reference (2, 0): 1·0.5 + 1·0.8
    assert hypervolume([(0.0, 0.5), (1.0, 0.8), (1.5, 0.6)], (2.0, 0.0)) == pytest.approx(1.3)
    assert hypervolume([(2.5, 0.9)], (2.0, 0.0)) == 0.0


def test_hypervolume_lines_per_study(storage: Storage) -> None:
    fill_study(storage, "small", [Planned(preset("lora"), params=1_000, score=0.6)])
    studies = {name: storage.list_trials(name) for name in ("demo", "small")}
    record = hypervolume_record(studies)
    demo, small = record.curves
    assert demo.trials == list(range(1, 12)) and small.trials == [1]
    assert all(a <= b for a, b in zip(demo.hypervolume, demo.hypervolume[1:], strict=False))
    x = math.log10(100 * 1_000 / BACKBONE)
    assert small.hypervolume == [pytest.approx((2 - x) * 0.6)]
    assert demo.seconds[-1] == pytest.approx(
        10.0
    )  # failed and pruned trials spent time too, infeasible ones none
    fig = plot_hypervolume(studies)
    assert [t.meta["study"] for t in fig.data] == ["demo", "demo", "small", "small"]


def test_parallel_coordinates_of_sampled_values(storage: Storage) -> None:
    record = parallel_record(storage.list_trials("demo"))
    labels = [a.label for a in record.axes]
    assert labels == ["log10 lr", "method", "size", "log10 % of backbone"]
    method_axis = record.axes[1]
    assert method_axis.ticks == sorted({"lora", "prefix", "ia3", "free", "houlsby", "mam", "bitfit", "full"})
    assert record.numbers == [0, 1, 2, 3, 4, 5, 6, 7]
    fig = plot_parallel(storage.list_trials("demo"))
    assert [d.label for d in fig.data[0].dimensions][-1] == "score"


def test_table_lists_every_trial(storage: Storage) -> None:
    record = table_record(storage.list_trials("demo"))
    assert [row[0].text for row in record.rows] == [str(n) for n in range(11)]
    status = record.columns.index("status")
    assert [row[status].text for row in record.rows][8:] == ["failed", "pruned", "infeasible"]


def test_every_figure_builds_for_an_empty_study(tmp_path: Path) -> None:
    storage = Storage(f"sqlite:///{tmp_path / 'empty.db'}")
    fill_study(storage, "empty", [])
    for name in FIGURES:
        build_figure(name, {"empty": storage.list_trials("empty")})
    assert "Pareto front" in report_html(storage, "empty")


def test_report_is_self_contained_and_escapes_names(storage: Storage, tmp_path: Path) -> None:
    fill_study(storage, XSS, [Planned(FREE, params=10, score=0.5)])
    html = report_html(storage, XSS)
    assert "<script src=" not in html and "Plotly.newPlot" in html  # plotly inlined, nothing fetched
    assert html.count("plotly.js v") == 1  # inlined once
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    path = write_report(storage, "demo", tmp_path / "report.html")
    assert all(f'id="figure-{name}"' in path.read_text() for name in FIGURES)


def test_report_command(storage: Storage, tmp_path: Path) -> None:
    cli._register_optional_commands()
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli.app, ["report", "demo", "-o", str(out), "--storage", storage.url])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000  # plotly.js itself
    missing = CliRunner().invoke(cli.app, ["report", "nope", "-o", str(out), "--storage", storage.url])
    assert "no study named 'nope'" in str(missing.exception)
