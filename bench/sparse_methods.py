"""Weight-level methods on MiniLM / SST-2, next to LoRA and BitFit: score, trainable, stored, merged.

    python bench/sparse_methods.py [--steps 150] [--select-steps 50] [--seeds 0] [--threads 2]
                                   [--only pafi hiwi] [--lr pafi=1e-4 ...]
                                   [--out bench/results/sparse_methods.json]

Every method trains ``--steps`` AdamW steps (lr 1e-3 unless ``--lr name=value`` says otherwise,
batch 32, the trainer's defaults otherwise)
through ``deltaspace.trainers.train_and_evaluate``, and is scored on the full validation split.
Two methods need more than the plain loop; ``train_and_evaluate`` is given a bare model, so this
script supplies it (``run_trial`` does both itself; for diff pruning at two thirds of the schedule):

* diff_pruning adds ``regularization_loss(model)`` (its L0 penalty) to every training loss and,
  after two thirds of the steps, fixes its projected mask (``fix_diff_masks``, Guo et al.'s second
  phase), training only those entries for the last third;
* lt_sft first runs ``--select-steps`` steps of full fine-tuning (AdamW, lr 5e-5) to choose its
  mask with ``select_lottery_mask``, then trains like the others.

Mergeable methods are then merged (``applied.merge()``) and scored again: the merged score must
equal the trained one, and the merged model has the pretrained model's parameters exactly.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data" / "sst2"
# "head_only" (no delta, the task head alone) is the floor every method should clear
METHODS = [
    "head_only",
    "lora",
    "bitfit",
    "diff_pruning",
    "pafi",
    "lt_sft",
    "hiwi",
    "intrinsic",
    "intrinsic_said",
]


class DiffPruning(nn.Module):
    """The model as the trainer will drive diff pruning: the L0 penalty added to every training loss,
    and the mask fixed before training step ``fix_at + 1``."""

    def __init__(self, model: nn.Module, fix_at: int):
        super().__init__()
        self.model = model
        self.fix_at = fix_at
        self.steps = 0

    def forward(self, **batch: Any) -> Any:
        from deltaspace.methods.sparse import fix_diff_masks, regularization_loss

        if self.training:
            self.steps += 1
            if self.steps == self.fix_at + 1:
                fix_diff_masks(self.model)
        out = self.model(**batch)
        if self.training and out.loss is not None:
            out.loss = out.loss + regularization_loss(self.model)
        return out


def lottery_selection(applied: Any, tokenizer: Any, steps: int, seed: int) -> float:
    """LT-SFT phase 1 on SST-2 batches; returns its seconds."""
    from deltaspace.methods.sparse import select_lottery_mask
    from deltaspace.trainers.batching import collate, length_grouped_batches
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.tasks import resolve_task

    task = resolve_task("sst2")
    train = encode(task, load_split(task, "train", DATA, steps * 32), tokenizer, 128)
    batches = iter(length_grouped_batches(train.lengths, 32, np.random.default_rng(seed)))
    model = applied.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)

    def step() -> None:
        model(**collate(train, next(batches), tokenizer.pad_token_id)).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    tic = time.perf_counter()
    select_lottery_mask(applied, step, steps)
    return time.perf_counter() - tic


def merged_score(model: nn.Module, tokenizer: Any, settings: Any) -> tuple[float, float]:
    """(accuracy, ms per example at batch 32) of a merged model."""
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.tasks import resolve_task

    task = resolve_task("sst2")
    valid = encode(task, load_split(task, "validation", DATA), tokenizer, settings.max_length)
    evaluator = Evaluator(model.eval(), task, valid, tokenizer, settings, torch.device("cpu"))
    score, _ = evaluator()
    return score, evaluator.latency_ms(32, settings.latency_batches)


def run(name: str, lr: float, steps: int, select_steps: int, seed: int, threads: int) -> dict[str, Any]:
    import transformers

    from deltaspace.methods import apply_method, load_backbone, merge_problems
    from deltaspace.space import MethodSpec, preset
    from deltaspace.trainers.settings import TrainSettings
    from deltaspace.trainers.trial import train_and_evaluate

    torch.set_num_threads(threads)
    spec = MethodSpec(name=name) if name == "head_only" else preset(name)
    settings = TrainSettings(
        lr=lr, max_steps=steps, eval_every=max(steps // 3, 1), threads=threads, progress=False, seed=seed
    )
    transformers.set_seed(seed)
    model, tokenizer = load_backbone("minilm")
    pretrained_names = {n for n, _ in model.named_parameters()}
    applied = apply_method(model, spec)
    select_seconds = lottery_selection(applied, tokenizer, select_steps, seed) if name == "lt_sft" else 0.0
    trained = DiffPruning(model, fix_at=2 * steps // 3) if name == "diff_pruning" else model
    result = train_and_evaluate(
        trained, tokenizer, "sst2", DATA, settings, counts=applied.counts, method_name=name
    )
    counts = applied.counts
    row: dict[str, Any] = {
        "method": name,
        "seed": seed,
        "lr": lr,
        "status": result.status,
        "failure": result.failure_reason,
        "accuracy": result.score,
        "trainable": counts.trainable_params,
        "delta_trainable": counts.delta_params,
        "stored": counts.stored_params,
        "stored_indices": counts.stored_indices,
        "inference_extra": counts.inference_extra_params,
        "train_seconds": round(result.train_seconds + select_seconds, 1),
        "latency_ms_batch32": result.latency_ms_batch32,
    }
    if result.status == "complete" and not merge_problems(spec.deltas) and spec.deltas:
        merged = applied.merge()
        row["merged_accuracy"], row["merged_latency_ms_batch32"] = merged_score(merged, tokenizer, settings)
        row["merged_has_pretrained_parameters_only"] = {
            n for n, _ in merged.named_parameters()
        } == pretrained_names
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--select-steps", type=int, default=50)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, choices=METHODS)
    parser.add_argument("--lr", nargs="*", default=[], help="per-method learning rates, name=value")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "sparse_methods.json")
    args = parser.parse_args()
    lrs = {name: float(value) for name, value in (item.split("=") for item in args.lr)}
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["method"], r["seed"], r.get("steps"), r.get("lr", 1e-3)) for r in rows}
    for seed in args.seeds:
        for name in args.only or METHODS:
            lr = lrs.get(name, 1e-3)
            if (name, seed, args.steps, lr) in done:
                continue
            row = {**run(name, lr, args.steps, args.select_steps, seed, args.threads), "steps": args.steps}
            rows.append(row)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=2))
            print(json.dumps(row), flush=True)
    print(summary(rows))


def summary(rows: list[dict[str, Any]]) -> str:
    """A markdown table: accuracy (trained / merged), parameters, ms per example at batch 32 (before / after merge)."""
    lines = [
        "| method | lr | steps | seed | accuracy | merged | trainable | stored | indices | extra at inference "
        "| ms/ex | merged ms/ex |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for r in rows:
        lines.append(
            f"| {r['method']} | {r.get('lr', 1e-3):g} | {r['steps']} | {r['seed']} | {num(r['accuracy'], '.3f')} | "
            f"{num(r.get('merged_accuracy'), '.3f')} | {r['trainable']:,} | {r['stored']:,} | "
            f"{r['stored_indices']:,} | {r['inference_extra']:,} | {num(r['latency_ms_batch32'], '.2f')} | "
            f"{num(r.get('merged_latency_ms_batch32'), '.2f')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
