"""Training throughput of `deltaspace train` (LoRA, MiniLM, SST-2) against two references.

Run on demand: ``python bench/throughput.py [--data-dir ../shared/data/sst2] [--steps 40]
[--clock cpu --threads 1]`` (the CPU clock for a machine shared with other jobs).
Three loops train the same LoRA (r=8, alpha=16 on W_q, W_v; batch 32, max_length 64, 2 threads):

* ``peft``: the plain peft LoRA loop, random batches, dynamic padding (DataCollatorWithPadding);
* ``bare``: our model in a bare forward/backward/step loop fed exactly the batches ours trains on;
* ``deltaspace``: ``deltaspace.trainers.loop.train_loop`` (length-grouped batches, clipping,
  schedule, progress bar off).

Steps are interleaved (ours, then bare, then peft, step after step, through train_loop's
``on_eval`` hook with ``eval_every=1``; evaluation time is not training time) so that load from
other processes falls on all three alike; all three run in train mode (dropout on).
Also timed: one evaluation of the 872-example SST-2 validation split. Writes
bench/results/throughput.json and prints a table. Targets: deltaspace >= 2x peft, >= 0.95x bare;
evaluation < 10% of a 150-step trial.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from peft import LoraConfig, get_peft_model
    from rich.console import Console
    from rich.table import Table
    from transformers import DataCollatorWithPadding

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers.batching import collate
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.loop import epoch_batches, make_optimizer, train_loop
    from deltaspace.trainers.settings import TrainSettings
    from deltaspace.trainers.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "sst2"))
    parser.add_argument("--steps", type=int, default=40, help="timed steps per loop")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or process CPU time for a machine shared with other jobs (use with --threads 1)",
    )
    parser.add_argument(
        "--with-trainer", action="store_true", help="also time transformers.Trainer (group_by_length)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task("sst2")
    settings = TrainSettings(max_length=64, batch_size=32, lr=1e-3, progress=False, threads=args.threads)

    torch.manual_seed(0)
    ours, tokenizer = load_backbone("minilm", head=HeadSpec(num_labels=2))
    ours = apply_method(ours, preset("lora")).model
    torch.manual_seed(0)
    bare, _ = load_backbone("minilm", head=HeadSpec(num_labels=2))
    bare = apply_method(bare, preset("lora")).model
    base, _ = load_backbone("minilm", head=HeadSpec(num_labels=2))
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["query", "value"], task_type="SEQ_CLS"
    )
    peft_model = get_peft_model(base, lora)
    train = encode(task, load_split(task, "train", args.data_dir), tokenizer, settings.max_length)
    valid = encode(task, load_split(task, "validation", args.data_dir), tokenizer, settings.max_length)
    pad_id = tokenizer.pad_token_id
    rng = np.random.default_rng(0)
    collator = DataCollatorWithPadding(tokenizer)

    def peft_batches():
        while True:
            for idx in np.array_split(rng.permutation(len(train)), len(train) // 32):
                features = [
                    {
                        "input_ids": train.input_ids[i],
                        "token_type_ids": train.token_type_ids[i],
                        "labels": train.targets[i],
                    }
                    for i in idx
                ]
                yield collator(features)

    peft_iter = peft_batches()
    peft_opt, _ = make_optimizer(peft_model, settings, 10**6)
    bare_opt, _ = make_optimizer(bare, settings, 10**6)
    peft_model.train()
    bare.train()
    run = settings.model_copy(update={"max_steps": args.warmup + args.steps, "eval_every": 1})
    bare_iter = epoch_batches(train.lengths, run)  # the batches train_loop draws, in its order
    times: dict[str, list[float]] = {"peft": [], "bare": [], "deltaspace": []}
    tokens: dict[str, list[tuple[int, int]]] = {"peft": [], "bare": []}

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    last_hook_end = [clock()]

    def timed_step(name: str, model, optimizer, batch) -> None:
        tic = clock()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times[name].append(clock() - tic)
        tokens[name].append((batch["input_ids"].numel(), int(batch["attention_mask"].sum())))

    def after_our_step(step: int, score: float) -> bool:
        """Called by train_loop after each of its steps (whose time is the gap since the last call,
        its bookkeeping included): one bare and one peft step, interleaved, in alternating order."""
        times["deltaspace"].append(clock() - last_hook_end[0])
        bare_batch, peft_batch = collate(train, next(bare_iter), pad_id), next(peft_iter)
        for name in ("bare", "peft") if step % 2 else ("peft", "bare"):
            if name == "bare":
                timed_step("bare", bare, bare_opt, bare_batch)
            else:
                timed_step("peft", peft_model, peft_opt, peft_batch)
        last_hook_end[0] = clock()
        return False

    last_hook_end[0] = clock()
    train_loop(ours, train, lambda: (0.0, {}), run, torch.device("cpu"), pad_id, after_our_step)
    tokens["deltaspace"] = tokens["bare"]
    rows: dict[str, dict[str, float | None]] = {}
    for name in ("peft", "bare", "deltaspace"):
        step_times = np.array(times[name][args.warmup :])
        padded, real = np.array(tokens[name][args.warmup :]).mean(axis=0)
        rows[name] = {
            "examples_per_second": 32 * len(step_times) / step_times.sum(),
            "seconds_per_step": float(step_times.mean()),
            "median_seconds_per_step": float(np.median(step_times)),
            "padded_tokens_per_batch": float(padded),
            "real_tokens_per_batch": float(real),
        }

    if args.with_trainer:
        rows["hf_trainer"] = hf_trainer_row(train, tokenizer, settings, args, clock)

    evaluator = Evaluator(ours, task, valid, tokenizer, settings, torch.device("cpu"))
    evaluator()  # warm-up (imports)
    tic = clock()
    evaluator()
    eval_seconds = clock() - tic

    eps = rows["deltaspace"]["examples_per_second"]
    trial_150 = 150 * 32 / eps + eval_seconds
    summary = {
        "speedup_vs_peft": eps / rows["peft"]["examples_per_second"],
        "ratio_vs_bare": eps / rows["bare"]["examples_per_second"],
        "ratio_vs_hf_trainer": eps / rows["hf_trainer"]["examples_per_second"]
        if "hf_trainer" in rows
        else None,
        "eval_seconds_872": eval_seconds,
        "eval_share_of_150_step_trial": eval_seconds / trial_150,
    }
    record = {
        "loops": rows,
        "summary": summary,
        "config": {
            "clock": args.clock,
            "steps": args.steps,
            "threads": args.threads,
            "batch_size": 32,
            "max_length": 64,
        },
        "host": platform.node(),
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
    }
    out = (
        ROOT
        / "bench"
        / "results"
        / ("throughput.json" if args.clock == "wall" else "throughput_cpu_clock.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")

    title = f"LoRA on MiniLM/SST-2, batch 32, max_length 64, {args.threads} threads, {args.clock} clock"
    table = Table(title=title)
    for col in ("loop", "examples/s", "s/step", "median s/step", "padded tok/batch", "real tok/batch"):
        table.add_column(col, justify="right")
    for name, row in rows.items():
        table.add_row(
            name, *("-" if v is None else f"{v:.2f}" if v < 100 else f"{v:.0f}" for v in row.values())
        )
    console = Console()
    console.print(table)
    console.print(
        f"deltaspace / peft = {summary['speedup_vs_peft']:.2f}x (target >= 2), "
        f"deltaspace / bare = {summary['ratio_vs_bare']:.3f} (target >= 0.95); "
        + (f"deltaspace / HF Trainer = {summary['ratio_vs_hf_trainer']:.2f}x; " if args.with_trainer else "")
        + f"eval of 872 examples {eval_seconds:.2f} s = {100 * summary['eval_share_of_150_step_trial']:.1f}% "
        f"of a 150-step trial (target < 10%). Written to {out.relative_to(ROOT)}"
    )


def hf_trainer_row(train, tokenizer, settings, args, clock) -> dict[str, float | None]:
    """transformers.Trainer on the same LoRA with its own length-grouped sampler, timed step to step
    after its own warm-up (run after the interleaved loops, so not side by side with them)."""
    import tempfile

    import datasets
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset

    model, _ = load_backbone("minilm", head=HeadSpec(num_labels=2))
    model = apply_method(model, preset("lora")).model
    rows = {"input_ids": train.input_ids, "token_type_ids": train.token_type_ids, "labels": train.targets}
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, *_: object, **__: object) -> None:
            stamps.append(clock())

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            out, per_device_train_batch_size=32, max_steps=args.warmup + args.steps, learning_rate=settings.lr or 1e-3,
            train_sampling_strategy="group_by_length", max_grad_norm=1.0, logging_strategy="no",
            save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
        )  # fmt: skip
        trainer = Trainer(model=model, args=targs, train_dataset=datasets.Dataset.from_dict(rows),
                          data_collator=DataCollatorWithPadding(tokenizer), callbacks=[Stamp()])  # fmt: skip
        trainer.train()
    step_times = np.diff(stamps[args.warmup - 1 :])
    return {
        "examples_per_second": 32 * len(step_times) / step_times.sum(),
        "seconds_per_step": float(step_times.mean()),
        "median_seconds_per_step": float(np.median(step_times)),
        "padded_tokens_per_batch": None,
        "real_tokens_per_batch": None,
    }


if __name__ == "__main__":
    main()
