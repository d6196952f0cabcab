"""Training examples/s of one trial on a quiet machine and beside a busy process, deltaspace's
thread defaults against torch's.

    python bench/contention.py [--steps 40] [--repeats 2] [--data-dir ../shared/data/sst2]

One trial (MiniLM, LoRA, SST-2, batch 32, max_length 64) runs ``--steps`` training steps in a
fresh process per measurement, since OpenMP reads its wait policy once per process:

* ``torch``: torch's defaults: OpenMP's own wait policy (spinning), one thread per core, no
  adaptation (``adaptive_threads: false``);
* ``deltaspace``: what ``deltaspace`` sets: ``GOMP_SPINCOUNT=10000`` (short spins) and threads chosen from the
  cores other processes leave free (``deltaspace.trainers.threads``).

"busy" runs the trial beside a pure-Python busy loop pinned to one core, started and stopped by
this bench. Measurements interleave (quiet/busy × torch/deltaspace, ``--repeats`` rounds) and the
median per cell is reported. Target: with one of two cores busy, deltaspace keeps at least 0.45×
its quiet examples/s. Writes bench/results/contention.json and prints a table with the load
average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from deltaspace.trainers.threads import short_openmp_waits

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"
MODES = ("torch", "deltaspace")


def child(mode: str, steps: int, data_dir: str) -> None:
    """One measurement, in this (fresh) process; prints one JSON line."""
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    settings = TrainSettings(max_steps=steps, batch_size=32, max_length=64, max_train_examples=4000,
                             max_eval_examples=32, latency_batches=0, progress=False, lr=1e-3,
                             adaptive_threads=mode == "deltaspace")  # fmt: skip
    result = run_trial("minilm", "lora", "sst2", data_dir, settings)
    assert result.status == "complete", result.failure_reason
    print(json.dumps({"examples_per_second": result.train_examples_per_second,
                      "device": result.provenance.device}))  # fmt: skip


def measure(mode: str, steps: int, data_dir: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    if mode == "deltaspace":
        short_openmp_waits(env)
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(steps), "--data-dir", data_dir],
                         env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def busy_loop() -> subprocess.Popen:
    """A pure-Python busy loop pinned to the last core (it allocates nothing and never sleeps)."""
    code = "import os; os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default=str(SST2))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "contention.json")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.data_dir)
        return

    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for condition in ("quiet", "busy"):
            for mode in MODES:
                loop = busy_loop() if condition == "busy" else None
                try:
                    if loop is not None:
                        time.sleep(1.0)  # let it take its core
                    runs.setdefault(f"{mode}/{condition}", []).append(measure(mode, args.steps, args.data_dir))
                finally:
                    if loop is not None:
                        loop.kill()
                        loop.wait()
                print(f"{mode:>10} {condition:>5}: {runs[f'{mode}/{condition}'][-1]}", flush=True)
    cells = {key: statistics.median(r["examples_per_second"] for r in rows) for key, rows in runs.items()}
    ratios = {mode: cells[f"{mode}/busy"] / cells[f"{mode}/quiet"] for mode in MODES}
    report = {
        "steps": args.steps,
        "repeats": args.repeats,
        "cores": len(os.sched_getaffinity(0)),
        "examples_per_second": cells,
        "busy_over_quiet": ratios,
        "busy_deltaspace_over_quiet_torch": cells["deltaspace/busy"] / cells["torch/quiet"],
        "target_met": ratios["deltaspace"] >= 0.45,
        "runs": runs,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'':>12} {'quiet ex/s':>11} {'busy ex/s':>10} {'busy/quiet':>11}")
    for mode in MODES:
        print(f"{mode:>12} {cells[f'{mode}/quiet']:11.1f} {cells[f'{mode}/busy']:10.1f} {ratios[mode]:11.2f}")
    print(f"load average before {load_before}, after {report['load_average_after']}; wrote {args.out}")


if __name__ == "__main__":
    main()
