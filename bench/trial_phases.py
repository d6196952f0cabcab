"""Where a 150-step trial's time goes, phase by phase, in a worker that runs several trials.

    python bench/trial_phases.py [--trials 3] [--steps 150] [--method lora] [--eval-subset N]

Runs ``--trials`` trials (MiniLM, SST-2, batch 32, max_length 64, the full 872-sentence
validation split, seeds 0, 1, …) one after another in this process, as a worker does, and prints
each trial's phases (``TrialResult.phase_seconds``). The first trial pays for reading the weights
and tokenizing the splits; the later ones show the steady state a search runs in. Targets: time
outside training and evaluation ≤ 3% of a steady-state trial, evaluation ≤ 5%. Also times the
evaluation's floor: one forward pass over the validation split in the same sorted batches, with
nothing else (no metrics, no bookkeeping), in float32 and under bf16 autocast. Writes bench/results/trial_phases.json with the load
average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"
TRAINING = ("train", "evaluate", "evaluate_full")


def forward_floor(settings, bf16: bool = False) -> float:
    """Seconds of bare forward passes over the validation split (sorted batches, inference mode),
    in float32 or under bf16 autocast (the floor of the checked evaluation, trainers/checked_eval.py)."""
    import contextlib

    import torch

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers.batching import collate, sorted_batches
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.tasks import get_task

    task = get_task("sst2")
    model, tokenizer = load_backbone("minilm", HeadSpec())
    model = apply_method(model, preset("lora")).model.eval()
    valid = encode(task, load_split(task, "validation", SST2), tokenizer, settings.max_length)
    batches = sorted_batches(valid.lengths, settings.eval_batch_size)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for idx in batches[:2]:
            model(**collate(valid, idx, 0, with_targets=False))  # warm-up
        tic = time.perf_counter()
        for idx in batches:
            model(**collate(valid, idx, 0, with_targets=False))
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--method", default="lora")
    parser.add_argument("--eval-subset", type=int, default=None, help="with --eval-every: subset size")
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "trial_phases.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    settings = TrainSettings(max_steps=args.steps, batch_size=32, max_length=64, progress=False,
                             eval_every=args.eval_every, eval_subset=args.eval_subset)  # fmt: skip
    load_before = os.getloadavg()
    rows = []
    for seed in range(args.trials):
        tic = time.perf_counter()
        result = run_trial("minilm", args.method, "sst2", SST2, settings, seed=seed)
        outer = time.perf_counter() - tic
        assert result.status == "complete", result.failure_reason
        phases = dict(result.phase_seconds)
        wall = phases.pop("wall")
        inside = sum(phases.get(k, 0.0) for k in TRAINING)
        evaluation = phases.get("evaluate", 0.0) + phases.get("evaluate_full", 0.0)
        row = {"seed": seed, "score": result.score, "wall": wall, "outer_wall": outer, "phases": phases,
               "outside_share": (outer - inside) / outer, "eval_share": evaluation / outer,
               "examples_per_second": result.train_examples_per_second, "device": result.provenance.device}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    floor = forward_floor(settings)
    floor_bf16 = forward_floor(settings, bf16=True)
    steady = rows[1:] or rows
    report = {
        "steps": args.steps,
        "method": args.method,
        "eval_every": args.eval_every,
        "eval_subset": args.eval_subset,
        "rows": rows,
        "steady_outside_share": max(r["outside_share"] for r in steady),
        "steady_eval_share": max(r["eval_share"] for r in steady),
        "eval_forward_floor_seconds": floor,
        "eval_floor_share": floor / statistics.fmean(r["outer_wall"] for r in steady),
        "eval_forward_floor_bf16_seconds": floor_bf16,
        "eval_floor_bf16_share": floor_bf16 / statistics.fmean(r["outer_wall"] for r in steady),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"steady state: outside training+evaluation {100 * report['steady_outside_share']:.1f}% of a trial, "
          f"evaluation {100 * report['steady_eval_share']:.1f}%; the evaluation's forward-only floor "
          f"{floor:.2f} s = {100 * report['eval_floor_share']:.1f}% (bf16: {floor_bf16:.2f} s = "
          f"{100 * report['eval_floor_bf16_share']:.1f}%); load {load_before} -> {report['load_average_after']}")  # fmt: skip


if __name__ == "__main__":
    main()
