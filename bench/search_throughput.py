"""Search throughput: trials per hour and the share of wall time spent outside training.

    python bench/search_throughput.py [--trials 40] [--steps 20] [--skip-real] [--skip-postgres]

One study (the quickstart's mixed space on MiniLM/SST-2, random sampler, no pruning) of
``--trials`` trials runs on each of

* trainer: ``fake`` (trains nothing: everything measured is the search's own cost) and ``real``
  (``--steps``-step MiniLM trials with the quickstart's training settings: 2,000 training and
  256 validation examples);
* workers: 1 (in this process) and 2 (the fake trainer in two processes joining the study, the
  real one through ``deltaspace run --workers 2``);
* storage: SQLite and PostgreSQL (a throw-away server started here when the binaries exist).

``outside_share`` is 1 - (training seconds of every trial) / (wall seconds × workers). Writes
bench/results/search_throughput.json and prints a table with the load average.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"


def study_body(name: str, trials: int, steps: int) -> dict:
    body = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    body.update(name=name, data_dir=str(SST2) if SST2.is_dir() else None)
    body["budget"] = {"max_steps": steps, "n_trials": trials}
    body["search"] = {"sampler": "random", "seed": 0, "pruner": "none"}
    training = {k: v for k, v in body.get("training", {}).items() if k not in ("eval_every", "eval_subset")}
    # short trials on slices of the splits: the search's own cost is what this bench weighs
    body["training"] = {**training, "max_train_examples": 2000, "max_eval_examples": 256}
    return body


def _fake_worker(name: str, url: str) -> None:
    from deltaspace.search.fake_trainer import FakeTrainer
    from deltaspace.search.study_runner import join_study

    join_study(name, url, trainer=FakeTrainer(seconds=0.0))


def run_one(trainer: str, workers: int, url: str, trials: int, steps: int) -> dict:
    from deltaspace.search.executors import ExecutorOptions
    from deltaspace.search.fake_trainer import FakeTrainer
    from deltaspace.search.study_runner import prepare_study, run_study
    from deltaspace.space.study import study_from_mapping
    from deltaspace.storage import Storage

    name = f"throughput-{trainer}-{workers}"
    spec = study_from_mapping(study_body(name, trials, steps))
    started = time.perf_counter()
    if trainer == "fake" and workers > 1:
        prepare_study(spec, url)
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_fake_worker, args=(name, url)) for _ in range(workers)]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
    else:
        options = ExecutorOptions(workers=workers, trainer=FakeTrainer(seconds=0.0) if trainer == "fake" else None)
        if options.trainer is None:
            options = ExecutorOptions(workers=workers)
        run_study(spec, url, options=options)
    wall = time.perf_counter() - started
    done = [t for t in Storage(url, read_only=True).list_trials(name) if t.status in ("complete", "infeasible")]
    training = sum(t.train_seconds or 0.0 for t in done)
    return {
        "trials": len(done),
        "wall_seconds": wall,
        "trials_per_hour": 3600 * len(done) / wall,
        "training_seconds": training,
        "outside_share": 1 - training / (wall * workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_throughput.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = os.getloadavg()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        storages = {"sqlite": lambda kind: f"sqlite:///{tmp}/{kind}.db"}
        stop = None
        if not args.skip_postgres:
            from deltaspace.testing.postgres import PostgresUnavailable, start_postgres

            try:
                pg_url, stop = start_postgres(tmp)
                storages["postgresql"] = lambda kind: pg_url
            except PostgresUnavailable as exc:
                print(f"PostgreSQL skipped: {exc}")
        try:
            for trainer in ("fake",) if args.skip_real else ("fake", "real"):
                for storage, url_for in storages.items():
                    for workers in (1, 2):
                        row = run_one(trainer, workers, url_for(f"{trainer}-{workers}"), args.trials, args.steps)
                        row.update(trainer=trainer, storage=storage, workers=workers)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
        finally:
            if stop is not None:
                stop()
    report = {"trials": args.trials, "steps": args.steps, "rows": rows, "python": sys.version.split()[0],
              "load_average_before": load_before, "load_average_after": os.getloadavg()}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'trainer':>8} {'storage':>10} {'workers':>7} {'trials/h':>9} {'outside':>8}")
    for r in rows:
        print(f"{r['trainer']:>8} {r['storage']:>10} {r['workers']:>7} {r['trials_per_hour']:9.0f} "
              f"{100 * r['outside_share']:7.1f}%")  # fmt: skip
    print(f"load average before {load_before}, after {report['load_average_after']}; wrote {args.out}")


if __name__ == "__main__":
    main()
