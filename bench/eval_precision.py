"""Checked bf16 evaluation against float32 on trained MiniLM methods: same predictions? how fast?

    python bench/eval_precision.py [--steps 150] [--methods lora houlsby prefix ia3 full] [--repeats 3]
    python bench/eval_precision.py --smoke     # a tiny random BERT, 2 steps: checks the script runs

Trains each method ``--steps`` steps on SST-2 (MiniLM, batch 32, length 64, the default rate of its forms),
then evaluates the whole 872-sentence validation split with ``checked_bf16_eval`` off (float32
throughout, the evaluation before this change) and on, ``--repeats`` times each, interleaved, and
compares the predictions example by example. Writes bench/results/eval_precision.json with the
load average: per method, the median seconds of each evaluation, the predictions that differ
(the claim is none), examples re-run in float32, and the largest bf16 logit difference measured.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--methods", nargs="+", default=["lora", "houlsby", "prefix", "ia3", "full"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "eval_precision.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.batching import sorted_batches
    from deltaspace.trainers.checked_eval import bf16_is_fast
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.tasks import get_task
    from deltaspace.trainers.settings import default_lr
    from deltaspace.trainers.trial import train_and_evaluate

    model_name, data = "minilm", SST2
    if args.smoke:
        import tempfile

        import sys

        sys.path.insert(0, str(ROOT / "tests"))
        from search_support import make_sst2, make_tiny_model

        tmp = Path(tempfile.mkdtemp())
        model_name, data = str(make_tiny_model(tmp / "model")), make_sst2(tmp / "data")
        args.steps, args.methods, args.repeats = 2, args.methods[:2], 1
    device = torch.device("cpu")
    print(f"bf16 kernels on this CPU: {bf16_is_fast(device)}", flush=True)
    task = get_task("sst2")
    load_before = os.getloadavg()
    rows = []
    for name in args.methods:
        torch.manual_seed(0)
        backbone, tok = load_backbone(model_name, HeadSpec())
        applied = apply_method(backbone, preset(name))
        settings = TrainSettings(max_steps=args.steps, batch_size=32, max_length=64, progress=False, latency_batches=0,
                                 lr=default_lr(applied.spec))  # fmt: skip
        trained = train_and_evaluate(applied.model, tok, task, data, settings, counts=applied.counts)
        assert trained.status == "complete", trained.failure_reason
        valid = encode(task, load_split(task, "validation", data), tok, 64)
        batches = sorted_batches(valid.lengths, settings.eval_batch_size)
        exact = Evaluator(applied.model, task, valid, tok, settings.model_copy(update={"checked_bf16_eval": False}), device)
        checked = Evaluator(applied.model, task, valid, tok, settings, device)
        times: dict[str, list[float]] = {"fp32": [], "checked": []}
        predictions: dict[str, list] = {}
        for _ in range(args.repeats):
            for label, evaluator in (("fp32", exact), ("checked", checked)):
                tic = time.perf_counter()
                predictions[label] = evaluator.predict(batches) if label == "fp32" else evaluator.predict_checked(batches)
                times[label].append(time.perf_counter() - tic)
        differ = sum(a != b for a, b in zip(predictions["fp32"], predictions["checked"], strict=True))
        accuracy = sum(p == r for p, r in zip(predictions["fp32"], valid.references, strict=True)) / len(valid)
        c = checked.counts
        row = {
            "method": name, "accuracy": accuracy, "predictions_differing": differ,
            "fp32_s": statistics.median(times["fp32"]), "checked_s": statistics.median(times["checked"]),
            "speedup": statistics.median(times["fp32"]) / statistics.median(times["checked"]),
            "rechecked_share": c.rechecked / max(1, c.bf16), "largest_bf16_difference": c.difference,
            "counts_over_repeats": c.as_dict(), "examples": len(valid),
        }  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"steps": args.steps, "repeats": args.repeats, "bf16_kernels": bf16_is_fast(device), "rows": rows,
              "threads": torch.get_num_threads(), "load_average_before": load_before,
              "load_average_after": os.getloadavg()}  # fmt: skip
    if args.smoke:
        print("smoke run: nothing written")
        return
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
