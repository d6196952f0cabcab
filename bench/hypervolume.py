"""How fast do TPE, NSGA-II and random search find the front of a fixed 30-point space, and what
does pruning save?

    python bench/hypervolume.py [--steps 30] [--k 20] [--repeats 3] [--reference runs/hv_reference.db]

1. Every point of a 30-point space on SST-2 (LoRA, prefix, Pfeiffer, parallel and scaled parallel
   adapters at several sizes, MAM, Houlsby, IA3, BitFit; MiniLM, a short budget) is trained once,
   as a grid study in ``--reference`` (resumable: re-running continues it).
2. Each sampler then runs ``--repeats`` studies of ``--k`` trials over the same space, each in a
   fresh database, with a trainer that replays the reference results (the same numbers, no
   compute): the hypervolume of (score, log10 delta parameters) after every trial, against the
   hypervolume of all 30 points, gives the trials and the training (optimiser steps, and seconds
   as measured when the reference trained) needed to reach 95%.
3. The same studies with median and Hyperband pruning replay each point's evaluation curve and
   stop where the pruner says: the training steps saved, and the hypervolume kept.

Hypervolume reference point: score 0.5 (chance on SST-2), log10 parameters of the largest point + 0.1.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.objective import TrialJob
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import study_from_mapping
from deltaspace.storage import Storage
from deltaspace.trainers.result import TrialResult

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"
SPACE: dict[str, Any] = {
    "lora": {"size": [2, 4, 8, 16, 32, 64]},
    "prefix": {"size": [2, 5, 10, 20, 40]},
    "pfeiffer": {"size": [4, 16, 64, 256]},
    "parallel_adapter_ffn": {"size": [8, 32, 128, 512]},
    "scaled_parallel_adapter": {"size": [8, 32, 128, 512]},
    "mam": {"deltas": {1: {"size": [64, 512]}}},
    "houlsby": {},
    "ia3": {},
    "bitfit": {},
    "mh_parallel_adapter": {"size": [8, 30]},
}
SAMPLERS = {
    "tpe": {"name": "tpe", "n_startup_trials": 5},
    "nsga2": {"name": "nsga2", "population_size": 8},
    "random": "random",
}
PRUNERS = {
    "median": {"name": "median", "n_startup_trials": 3},
    "hyperband": {"name": "hyperband", "min_resource": 1},
}


def study(name: str, steps: int, sampler: Any = "grid", pruner: Any = "none", n_trials: int | None = None,
          seed: int = 0, eval_examples: int = 200) -> dict:  # fmt: skip
    return {
        "name": name,
        "model": "minilm",
        "task": "sst2",
        "data_dir": str(SST2),
        "if_data_missing": "hub",
        "budget": {"max_steps": steps, **({"n_trials": n_trials} if n_trials else {})},
        "training": {
            "batch_size": 16,
            "max_length": 64,
            "eval_every": max(1, steps // 3),
            "max_train_examples": 2000,
            "max_eval_examples": eval_examples,
            "latency_batches": 0,
            "lr": 1e-3,
        },  # fmt: skip
        "search": {"sampler": sampler, "pruner": pruner, "seed": seed},
        "methods": SPACE,
    }


class Replay:
    """A trainer that returns the reference result of each method, replaying its evaluation curve
    through ``on_eval`` (so pruners act on it) and charging the seconds it would have trained."""

    def __init__(self, table: dict[str, TrialResult]) -> None:
        self.table = table
        self.calls: list[tuple[TrialResult, float]] = []  # what each training returned, and its seconds

    def __call__(self, job: TrialJob) -> TrialResult:
        full = self.table[job.method.method_hash()]
        for point in full.eval_curve:
            if (
                job.on_eval is not None
                and job.on_eval(point.step, point.score)
                and point is not full.eval_curve[-1]
            ):
                done = [p for p in full.eval_curve if p.step <= point.step]
                pruned = full.model_copy(update={"status": "pruned", "steps": point.step, "eval_curve": done,
                                                 "score": max(p.score for p in done)})  # fmt: skip
                self.calls.append((pruned, full.train_seconds * point.step / max(full.steps, 1)))
                return pruned
        self.calls.append((full, full.train_seconds))
        return full

    def cost_to(self, target: float, ref: tuple[float, float]) -> tuple[int, float] | None:
        """Optimiser steps and training seconds spent until the complete results reach hypervolume
        ``target`` (None if they never do)."""
        seen, steps, seconds = [], 0, 0.0
        for result, spent in self.calls:
            steps, seconds = steps + result.steps, seconds + spent
            if result.status == "complete" and result.score is not None:
                seen.append((result.score, math.log10(max(result.delta_params, 1))))
            if hypervolume(seen, ref) >= target:
                return steps, seconds
        return None


def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """2-D hypervolume of (score up, log-parameters down) points above ``ref`` = (score, log-params)."""
    front: list[tuple[float, float]] = []
    for log_p, score in sorted((lp, s) for s, lp in points if s > ref[0] and lp < ref[1]):
        if not front or score > front[-1][1]:
            front.append((log_p, score))
    bounds = [lp for lp, _ in front[1:]] + [ref[1]]
    return sum((right - lp) * (score - ref[0]) for (lp, score), right in zip(front, bounds, strict=True))


def curve(storage: Storage, name: str, ref: tuple[float, float]) -> list[float]:
    seen: list[tuple[float, float]] = []
    out = []
    for t in storage.list_trials(name):
        if t.status == "complete" and t.score is not None and t.delta_params:
            seen.append((t.score, math.log10(t.delta_params)))
        out.append(hypervolume(seen, ref))
    return out


def replay_runs(table: dict[str, TrialResult], args: argparse.Namespace, ref: tuple[float, float], hv_all: float,
                pruner: str = "none") -> dict[str, Any]:  # fmt: skip
    rows: dict[str, Any] = {}
    for name, sampler in SAMPLERS.items():
        row: dict[str, list[Any]] = {k: [] for k in ("trials_to_95pct", "steps_to_95pct", "seconds_to_95pct",
                                                     "hv_fraction_after_k", "train_steps", "train_seconds")}  # fmt: skip
        for seed in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/replay.db"
                trainer = Replay(table)
                pruning = PRUNERS.get(pruner, "none")
                spec = study_from_mapping(
                    study(f"{name}-{seed}", args.steps, sampler, pruning, args.k, seed, args.eval_examples)
                )
                run_study(spec, url, options=ExecutorOptions(trainer=trainer))
                hv = curve(Storage(url), spec.name, ref)
            cost = trainer.cost_to(0.95 * hv_all, ref)
            row["trials_to_95pct"].append(next((k + 1 for k, v in enumerate(hv) if v >= 0.95 * hv_all), None))
            row["steps_to_95pct"].append(cost[0] if cost else None)
            row["seconds_to_95pct"].append(round(cost[1], 1) if cost else None)
            row["hv_fraction_after_k"].append(round(hv[-1] / hv_all, 4))
            row["train_steps"].append(sum(result.steps for result, _ in trainer.calls))
            row["train_seconds"].append(round(sum(spent for _, spent in trainer.calls), 1))
        rows[name] = row
    return rows


def _median(values: list[Any]) -> str:
    hits = [v for v in values if v is not None]
    return (
        f"{statistics.median(hits):g} ({len(hits)}/{len(values)} runs)"
        if hits
        else f"- (0/{len(values)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps per trial (a short budget)")
    parser.add_argument("--k", type=int, default=20, help="trials per sampler study")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval-examples", type=int, default=200, help="validation examples per evaluation")
    parser.add_argument("--reference", default=f"sqlite:///{ROOT / 'runs' / 'hv_reference.db'}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hypervolume.json")
    parser.add_argument(
        "--fake-reference", action="store_true", help="smoke-test the bench: fake trainer, no training"
    )
    args = parser.parse_args()

    reference = study_from_mapping(study("hv-reference", args.steps, eval_examples=args.eval_examples))
    options = ExecutorOptions(trainer=FakeTrainer(evals=3)) if args.fake_reference else ExecutorOptions()
    run_study(reference, args.reference, options=options)  # trains every point once; resumes if interrupted
    storage = Storage(args.reference)
    records = [t for t in storage.list_trials(reference.name) if t.status == "complete" and t.result]
    table = {t.method_hash: t.result for t in records if t.result is not None}
    points = [(t.score or 0.0, math.log10(t.delta_params or 1)) for t in records]
    ref = (0.5, max(lp for _, lp in points) + 0.1)
    hv_all = hypervolume(points, ref)
    full_seconds = sum(r.train_seconds for r in table.values())
    full_steps = sum(r.steps for r in table.values())
    report: dict[str, Any] = {
        "points": len(records), "steps": args.steps, "k": args.k, "repeats": args.repeats,
        "hv_all": hv_all, "train_steps_all_points": full_steps, "train_seconds_all_points": full_seconds,
        "samplers": replay_runs(table, args, ref, hv_all),
        "pruning": {p: replay_runs(table, args, ref, hv_all, p) for p in PRUNERS},
    }  # fmt: skip
    print(
        f"{len(records)} points, hypervolume {hv_all:.4f}; training all of them: {full_steps} steps, {full_seconds:.0f} s"
    )
    for title, rows in [("no pruning", report["samplers"])] + [(p, r) for p, r in report["pruning"].items()]:
        print(f"-- {title} (medians over {args.repeats} runs of {args.k} trials)")
        for name, row in rows.items():
            print(f"{name:>8}: HV after {args.k} {_median(row['hv_fraction_after_k'])}; to 95%: trials "
                  f"{_median(row['trials_to_95pct'])}, steps {_median(row['steps_to_95pct'])}; "
                  f"steps in all {_median(row['train_steps'])}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
