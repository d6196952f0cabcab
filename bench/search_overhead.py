"""Time the search spends outside training, per trial, on SQLite and PostgreSQL.

    python bench/search_overhead.py [--trials 50] [--trial-seconds S | --measure-trial] [--out bench/results/search_overhead.json]

A study of ``--trials`` points (the quickstart's mixed space on MiniLM, TPE, median pruning with
four intermediate scores per trial) runs with the fake trainer, which trains nothing and takes no
time: everything left is overhead (sampling, the budget count, Optuna's and deltaspace's SQL writes,
heartbeats, pruning). It is compared with one 150-step MiniLM trial on SST-2: measured here with
``--measure-trial`` (batch 16, length 64, 2 threads), or given with ``--trial-seconds``.
Target: overhead <= 1% of that trial, on both databases.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_runner import prepare_study
from deltaspace.search.worker import Worker
from deltaspace.space.study import study_from_mapping

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"


def overhead_study(name: str, trials: int) -> dict:
    study = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    study.update(name=name, data_dir=None)
    study["budget"] = {"max_percent": 12, "max_steps": 150, "n_trials": trials}
    study["training"]["eval_every"] = 30
    study["search"]["pruner"] = {"name": "median", "n_startup_trials": 5}
    return study


def per_trial_seconds(url: str, trials: int) -> dict[str, float]:
    study = study_from_mapping(overhead_study("overhead", trials))
    plan, _ = prepare_study(study, url)
    stamps: list[float] = []
    worker = Worker(
        plan,
        url,
        trainer=FakeTrainer(seconds=0.0, evals=4),
        on_trial=lambda n, o: stamps.append(time.perf_counter()),
    )
    started = time.perf_counter()
    worker.run()
    gaps = [b - a for a, b in zip([started, *stamps], stamps, strict=False)]
    return {
        "trials": len(stamps),
        "mean_s": statistics.fmean(gaps),
        "median_s": statistics.median(gaps),
        "last10_mean_s": statistics.fmean(gaps[-10:]),
    }


def measure_trial(threads: int) -> float:
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    settings = TrainSettings(max_steps=150, batch_size=16, max_length=64, max_eval_examples=256, threads=threads,
                             progress=False, latency_batches=1)  # fmt: skip
    started = time.perf_counter()
    result = run_trial("minilm", "lora", "sst2", SST2 if SST2.is_dir() else None, settings)
    assert result.status == "complete", result.failure_reason
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--trial-seconds", type=float, help="wall time of one 150-step MiniLM trial")
    parser.add_argument("--measure-trial", action="store_true", help="measure that trial here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_overhead.json")
    args = parser.parse_args()

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["sqlite"] = per_trial_seconds(f"sqlite:///{tmp}/overhead.db", args.trials)
        from deltaspace.testing.postgres import PostgresUnavailable, start_postgres

        try:
            url, stop = start_postgres(tmp)
        except PostgresUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
        else:
            try:
                rows["postgresql"] = per_trial_seconds(url, args.trials)
            finally:
                stop()
    trial_seconds = measure_trial(args.threads) if args.measure_trial else args.trial_seconds
    for backend, row in rows.items():
        if trial_seconds:
            row["percent_of_trial"] = 100 * row["mean_s"] / trial_seconds
        print(f"{backend:>10}: {row['mean_s'] * 1000:7.1f} ms per trial (median {row['median_s'] * 1000:.1f} ms, "
              f"last 10 {row['last10_mean_s'] * 1000:.1f} ms)"
              + (f" = {row['percent_of_trial']:.3f}% of a {trial_seconds:.1f} s trial" if trial_seconds else ""))  # fmt: skip
    report = {
        "trials": args.trials,
        "trial_seconds_150_steps": trial_seconds,
        "threads": args.threads,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
