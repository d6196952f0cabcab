"""Figures from a stored study of synthetic trials: each record checked against an independent
computation, each figure against its record, and the self-contained report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from dashboard_support import (
    BACKBONE,
    FREE,
    THREE_OBJECTIVES_YAML,
    Planned,
    fill_study,
    three_objective_trials,
)
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from deltaspace import cli
from deltaspace.dashboards.design_space import edf_figure, edf_record, size_range
from deltaspace.dashboards.effects import effects_figure, effects_record
from deltaspace.dashboards.figures import FIGURES, FigureOptions, build_figure
from deltaspace.dashboards.hypervolume import hypervolume_record, plot_hypervolume
from deltaspace.dashboards.parallel import parallel_record, plot_parallel
from deltaspace.dashboards.pareto import (
    LABEL_GAP_PX,
    MARGIN,
    front_keys,
    pareto_figure,
    pareto_record,
    spread,
)
from deltaspace.dashboards.records import dimension_values, hypervolume, study_trials
from deltaspace.dashboards.report import report_html, write_report
from deltaspace.dashboards.table import table_record
from deltaspace.space import preset
from deltaspace.storage import Storage

XSS = "<script>alert(1)</script>"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    opened = Storage(f"sqlite:///{tmp_path / 'deltaspace.db'}")
    fill_study(opened, "demo")
    fill_study(
        opened, "three", three_objective_trials(), spec_yaml=THREE_OBJECTIVES_YAML.format(name="three")
    )
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


def figure(storage: Storage, name: str, study: str = "demo", **options):
    return build_figure(name, [study_trials(storage, study)], FigureOptions(**options))


def test_pareto_front_trace_holds_exactly_the_non_dominated_trials(storage: Storage) -> None:
    trials = storage.list_trials("demo")
    expected = independent_front(trials)
    assert expected == {("demo", 2), ("demo", 0), ("demo", 3), ("demo", 5)}  # ia3, lora, free, mam
    fig = figure(storage, "pareto")
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


def test_a_three_objective_study_has_one_front_everywhere(storage: Storage, tmp_path: Path) -> None:
    """status, the dashboards' record, the served figure and export --pareto agree, and the
    front is the three-objective one (houlsby, fastest, is on it; prefix and bitfit are not)."""
    from deltaspace.export import pareto_trials
    from deltaspace.search.pareto import status_record

    expected = {0, 2, 3, 4, 5}  # lora, ia3, free, houlsby, mam (trial 5 is mam's first seed)
    status = status_record(storage, "three")
    assert status["objectives"] == ["score", "delta_params", "latency_ms"]
    assert {row["number"] for row in status["front"]} == expected
    record = pareto_record([study_trials(storage, "three")])
    assert {n for _, n in record.front} == expected
    assert {n for _, n in front_keys(figure(storage, "pareto", "three"))} == expected
    assert {t.number for t in pareto_trials(storage.list_trials("three"), status["objectives"])} == expected
    runner = CliRunner()
    cli._register_optional_commands()
    out = tmp_path / "front"
    result = runner.invoke(cli.app, ["export", "three", "--pareto", "-o", str(out), "--storage", storage.url])
    assert result.exit_code == 0, result.output
    assert {int(p.name.split("-")[1]) for p in out.iterdir()} == expected
    assert "trial 5 (score 0.8800 ± " in result.output and "(3 seeds)" in result.output
    # a front of several objectives is drawn as rings, not as a step line through a projection
    front = traces(figure(storage, "pareto", "three"), "front")[0]
    assert front.mode == "markers" and "latency_ms" in front.name


def test_designs_join_seeds_from_trials_and_from_seed_metrics(storage: Storage) -> None:
    record = pareto_record([study_trials(storage, "three")])
    by_name = {p.method_name: p for p in record.points}
    mam, lora, ia3 = by_name["mam"], by_name["lora"], by_name["ia3"]
    assert mam.numbers == [5, 6, 7] and mam.seed_scores == {0: 0.86, 1: 0.90, 2: 0.88}
    for point, seeds in ((mam, [0.86, 0.90, 0.88]), (lora, [0.78, 0.80, 0.82])):
        low, high = scipy_stats.t.interval(
            0.95, 2, loc=np.mean(seeds), scale=np.std(seeds, ddof=1) / math.sqrt(3)
        )
        assert point.score == pytest.approx(np.mean(seeds))
        assert (point.score_low, point.score_high) == (pytest.approx(low), pytest.approx(high))
    assert ia3.score_low is None and ia3.seeds == 1
    fig = pareto_figure(record)
    front_trace = next(
        t
        for t in traces(fig, "trials")
        if t.meta["front"] and ["three", 5] in [list(c) for c in t.customdata]
    )
    i = [list(c) for c in front_trace.customdata].index(["three", 5])
    assert front_trace.error_y.array[i] == pytest.approx(mam.score_high - mam.score)
    hover = front_trace.text[i]
    assert f"score 0.8800 ± {mam.score_high - 0.88:.4f}" in hover and "3 seeds" in hover
    assert "50,000 delta parameters" in hover and "trials 5, 6, 7" in hover and "10 steps" in hover


def test_labels_only_on_front_and_presets_and_never_closer_than_a_line(storage: Storage) -> None:
    for study in ("demo", "three"):
        record = pareto_record([study_trials(storage, study)])
        named = {(p.study, p.number) for p in record.points if p.on_front or p.preset}
        assert {(label.study, label.number) for label in record.labels} == named
        low, high = record.y_range
        gap = LABEL_GAP_PX * (high - low) / (record.height - MARGIN["t"] - MARGIN["b"])
        ys = sorted(label.label_y for label in record.labels)
        assert all(b - a >= gap - 1e-9 for a, b in zip(ys, ys[1:], strict=False))
        assert low <= ys[0] and ys[-1] <= high
        fig = pareto_figure(record)
        names = [a.name for a in fig.layout.annotations if (a.name or "").startswith("label:")]
        assert len(names) == len(record.labels)
    free = next(p for p in pareto_record([study_trials(storage, "demo")]).points if p.method_name == "free")
    assert free.preset is None and free.on_front


def test_spread_keeps_order_and_gaps() -> None:
    placed = spread([0.5, 0.5, 0.5, 0.9], 0.0, 1.0, 0.1)
    assert placed == pytest.approx([0.4, 0.5, 0.6, 0.9])  # the crowd spreads round its place
    assert spread([0.99, 1.0], 0.0, 1.0, 0.1) == pytest.approx([0.85, 0.95])  # pushed down from the top


def test_budget_line_and_full_finetuning(storage: Storage) -> None:
    record = pareto_record([study_trials(storage, "three")])
    assert record.budget_params == 40_000
    fig = pareto_figure(record)
    assert any(s.x0 == s.x1 == 40_000 for s in fig.layout.shapes)
    demo = pareto_record([study_trials(storage, "demo")])
    assert demo.budget_params is None and demo.full_finetuning == 0.87
    assert any(s.y0 == s.y1 == 0.87 for s in pareto_figure(demo).layout.shapes)


def test_pareto_marks_presets_and_hover_shows_the_method(storage: Storage) -> None:
    fig = figure(storage, "pareto")
    presets = traces(fig, "presets")[0]
    assert sorted(presets.text) == sorted(["lora", "prefix", "ia3", "houlsby", "mam", "bitfit", "full"])
    free = next(p for p in pareto_record([study_trials(storage, "demo")]).points if p.method_name == "free")
    assert free.family == "lora+adapter"
    hover = next(t for t in traces(fig, "trials") if ["demo", 3] in [list(c) for c in t.customdata]).text[0]
    assert "low_rank | parallel | ffn_out" in hover and "bottleneck relu | parallel | attn_output" in hover
    assert "score 0.8500 (1 seed: no interval)" in hover


def test_pareto_colours_by_any_dimension(storage: Storage) -> None:
    data = [study_trials(storage, "demo")]
    by_insertion = pareto_record(data, "insertion")
    assert {p.color for p in by_insertion.points} == {"parallel", "sequential", "none"}
    by_lr = pareto_record(data, "lr")
    assert {p.color for p in by_lr.points} >= {"0.001", "0.0001"}
    legend = {t.name for t in traces(figure(storage, "pareto", color_by="insertion"), "trials")}
    assert legend == {"parallel", "sequential", "none"}


def test_a_combined_method_counts_for_every_value_it_uses() -> None:
    values = dimension_values(preset("mam").model_dump(mode="json"))
    assert values["form"] == ["bottleneck", "prefix"] and values["position"] == ["attn_heads", "ffn_output"]
    assert values["size"] == ["30", "512"] and values["layers"] == ["all"]
    assert dimension_values({"deltas": [], "trainable": ["all"]})["form"] == ["full"]
    assert size_range(4) == "1-4" and size_range(5) == "5-16" and size_range(512) == "257-1024"


def uses(method: dict, dim: str, value: str) -> bool:
    """Whether a stored method uses ``value`` of ``dim`` in any delta (written out for the test)."""
    if not method["deltas"]:
        return dim == "form" and value == ("full" if "all" in method["trainable"] else "bitfit")
    return any(str(d.get(dim)) == value for d in method["deltas"])


def test_edf_per_dimension_value_against_numpy(storage: Storage) -> None:
    data = [study_trials(storage, "demo")]
    record = edf_record(data)
    assert list(record.panels) == ["form", "position", "insertion", "composition", "size", "layers"]
    trials = {t.number: t for t in storage.list_trials("demo")}
    for dim, curves in record.panels.items():
        for curve in curves:
            # the designs using this value, found from the stored methods directly
            members = [
                n for n, t in trials.items() if t.status == "complete" and uses(t.method, dim, curve.value)
            ]
            assert sorted(n for _, n in curve.numbers) == sorted(members), (dim, curve.value)
            scores = np.array([trials[n].score for n in members])
            assert curve.scores == sorted(set(scores.tolist()))
            assert curve.shares == pytest.approx([np.mean(scores <= x) for x in curve.scores])
    forms = {c.value for c in record.panels["form"]}
    assert forms == {"low_rank", "prefix", "scaling", "bottleneck", "full", "bitfit"}  # no "a+b" labels
    assert {c.value: c.n for c in record.panels["insertion"]} == {"parallel": 4, "sequential": 1}
    fig = edf_figure(record)
    for dim, curves in record.panels.items():
        assert len([t for t in traces(fig, "edf") if t.meta["dimension"] == dim]) == len(curves)


def test_band_keeps_designs_in_a_range_of_the_backbone(storage: Storage) -> None:
    data = [study_trials(storage, "demo")]
    record = edf_record(data, band=(0.05, 1.0))  # 500 to 10,000 parameters: prefix, lora, free, bitfit
    kept = {n for curves in record.panels.values() for c in curves for _, n in c.numbers}
    assert kept == {0, 1, 3, 6}
    assert "0.05% to 1% of the backbone" in figure(storage, "edf", band=(0.05, 1.0)).layout.title.text


def test_marginal_effects_against_scipy(storage: Storage) -> None:
    data = [study_trials(storage, "three")]
    record = effects_record(data)
    edf = edf_record(data)
    points = {(p.study, p.number): p for p in pareto_record(data).points}
    for dim, effects in record.panels.items():
        curves = {c.value: c for c in edf.panels[dim]}
        assert [e.value for e in effects] == list(curves)
        for effect in effects:
            scores = [points[key].score for key in curves[effect.value].numbers]  # design means
            assert effect.n == len(scores) and effect.mean == pytest.approx(np.mean(scores))
            if len(scores) > 1 and np.std(scores) > 0:
                low, high = scipy_stats.t.interval(
                    0.95, len(scores) - 1, loc=np.mean(scores), scale=scipy_stats.sem(scores)
                )
                assert (effect.low, effect.high) == (pytest.approx(low), pytest.approx(high))
            elif len(scores) == 1:
                assert effect.low is None
    fig = effects_figure(record)
    assert [t.meta["dimension"] for t in traces(fig, "effects")] == list(record.panels)


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
    assert demo.seconds[-1] == pytest.approx(10.0)  # failed and pruned trials spent time, infeasible none
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


def test_table_lists_every_trial_with_its_design_interval(storage: Storage) -> None:
    record = table_record(storage.list_trials("demo"))
    assert [row[0].text for row in record.rows] == [str(n) for n in range(11)]
    status = record.columns.index("status")
    assert [row[status].text for row in record.rows][8:] == ["failed", "pruned", "infeasible"]
    three = table_record(storage.list_trials("three"))
    column = three.columns.index("seed mean ± 95%")
    assert three.rows[6][column].text.startswith("0.8800 ± ") and three.rows[6][column].text.endswith("(3)")
    assert three.rows[2][column].text == "0.7000 (1)"


def test_every_figure_builds_for_an_empty_study(tmp_path: Path) -> None:
    storage = Storage(f"sqlite:///{tmp_path / 'empty.db'}")
    fill_study(storage, "empty", [])
    for name in FIGURES:
        build_figure(name, [study_trials(storage, "empty")])
    assert "Pareto front" in report_html(storage, "empty")


def test_report_is_self_contained_and_escapes_names(storage: Storage, tmp_path: Path) -> None:
    fill_study(storage, XSS, [Planned(FREE, params=10, score=0.5)])
    html = report_html(storage, XSS)
    assert "<script src=" not in html and "Plotly.newPlot" in html  # plotly inlined, nothing fetched
    assert html.count("plotly.js v") == 1  # inlined once
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    path = write_report(storage, "demo", tmp_path / "report.html")
    assert all(f'id="figure-{name}"' in path.read_text() for name in FIGURES)
    assert "0.8800 ± " in report_html(storage, "three")  # the front's intervals, in its table


def test_report_command(storage: Storage, tmp_path: Path) -> None:
    cli._register_optional_commands()
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli.app, ["report", "demo", "-o", str(out), "--storage", storage.url])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000  # plotly.js itself
    missing = CliRunner().invoke(cli.app, ["report", "nope", "-o", str(out), "--storage", storage.url])
    assert "no study named 'nope'" in str(missing.exception)


def test_front_table_says_better_only_when_the_paired_interval_clears_zero(tmp_path: Path) -> None:
    from deltaspace.dashboards.front_table import front_table_record

    storage = Storage(f"sqlite:///{tmp_path / 'pairs.db'}")
    a, b, c = ({0: 0.70, 1: 0.72, 2: 0.71}, {0: 0.80, 1: 0.83, 2: 0.81}, {0: 0.84, 1: 0.79, 2: 0.86})
    fill_study(storage, "pairs", [
        Planned(preset("ia3"), params=1_000, score=float(np.mean(list(a.values()))), seed_scores=a),
        Planned(preset("lora"), params=2_000, score=float(np.mean(list(b.values()))), seed_scores=b),
        Planned(preset("prefix"), params=3_000, score=float(np.mean(list(c.values()))), seed_scores=c),
    ])  # fmt: skip
    table = front_table_record(study_trials(storage, "pairs"))
    assert [r.method_name for r in table.rows] == ["ia3", "lora", "prefix"]
    assert [r.verdict for r in table.rows] == [None, "better", "within noise"]
    diffs = [b[s] - a[s] for s in range(3)]
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean(diffs), scale=scipy_stats.sem(diffs))
    assert table.rows[1].versus == f"vs ia3: {np.mean(diffs):+.4f} [{low:+.4f}, {high:+.4f}] over 3 seeds"
    assert table.rows[0].score.endswith("(3 seeds)")
    html = report_html(storage, "pairs")
    assert 'id="front-table"' in html and "within noise" in html


def test_a_where_present_delta_is_not_a_dimension_value() -> None:
    """``prefix``'s cross-attention prefix applies only where a model has cross-attention: the
    design-space views count the preset's own choices, not that rule."""
    method = preset("prefix").model_dump(mode="json")
    assert [d.get("where_present", False) for d in method["deltas"]] == [False, True]
    assert dimension_values(method)["position"] == ["attn_heads"]
