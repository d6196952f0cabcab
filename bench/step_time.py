"""One training step of MiniLM (batch 32, length 64, 2 threads): deltaspace vs peft, interleaved.

    python bench/step_time.py [--steps 12] [--data ../shared/data/sst2] [--out bench/results/step_time.json]
    python bench/step_time.py --smoke      # one step of every row on a tiny random BERT; writes nothing

Every method gets its own model; steps are interleaved round-robin so that machine noise hits
all methods alike; the table reports the median seconds per step (forward, backward, AdamW step),
against peft's LoRA and against the row's own peft twin (DoRA, VeRA, LoHa, LoKr, OFT: the same preset built by
peft on W_q, W_v; OFT on W_o, W_2). Targets: deltaspace LoRA ≤ 1.0× peft LoRA; each twin ≤ 1.1× peft's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch


def batch_from_sst2(tokenizer, data_dir: Path, batch: int, length: int) -> dict[str, torch.Tensor]:
    lines = (data_dir / "train.jsonl").read_text().splitlines()[:batch]
    texts = [json.loads(line)["sentence"] for line in lines]
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
    enc["labels"] = torch.tensor([json.loads(line)["label"] for line in lines])
    return dict(enc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/sst2")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results/step_time.json"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="one step per row on a tiny random BERT, no output file"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from peft import LoHaConfig, LoKrConfig, LoraConfig, OFTConfig, VeraConfig, get_peft_model

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import preset

    def backbone():
        if not args.smoke:
            return load_backbone("minilm")
        from deltaspace.testing.tiny_models import tiny_config

        return load_backbone(tiny_config("bert"))[0], None

    def deltaspace_model(name: str):
        model, tok = backbone()
        apply_method(model, preset(name))
        return model, tok

    def peft_model(config):
        def build():
            model, tok = backbone()
            return get_peft_model(model, config), tok

        return build

    targets = ["query", "value"]
    twins = {  # the presets' peft twins (same ranks, scales and targets)
        "lora": LoraConfig(r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0, task_type="SEQ_CLS"),
        "dora": LoraConfig(r=8, lora_alpha=16, target_modules=targets, use_dora=True, task_type="SEQ_CLS"),
        "vera": VeraConfig(r=256, target_modules=targets, task_type="SEQ_CLS"),
        "loha": LoHaConfig(r=8, alpha=8, target_modules=targets, task_type="SEQ_CLS"),
        "lokr": LoKrConfig(r=8, alpha=8, target_modules=targets, task_type="SEQ_CLS"),
        "oft": OFTConfig(  # W_o and W_2, the exact Cayley transform as deltaspace computes it
            r=0,
            oft_block_size=32,
            target_modules=["attention.output.dense", "output.dense"],
            use_cayley_neumann=False,
            task_type="SEQ_CLS",
        ),
    }
    builders = {}
    for name, config in twins.items():  # each deltaspace row beside its peft twin
        builders[f"deltaspace {name}"] = lambda name=name: deltaspace_model(name)
        builders[f"peft {name}"] = peft_model(config)
    builders.update(
        {
            "deltaspace prefix": lambda: deltaspace_model("prefix"),
            "deltaspace scaled_parallel_adapter": lambda: deltaspace_model("scaled_parallel_adapter"),
            "deltaspace mam": lambda: deltaspace_model("mam"),
            "full fine-tuning": backbone,
        }
    )
    runs = {}
    for name, build in builders.items():
        torch.manual_seed(0)
        model, tok = build()
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        runs[name] = (model, torch.optim.AdamW(params, lr=1e-4), sum(p.numel() for p in params))
    if args.smoke:
        from deltaspace.testing.tiny_models import tiny_batch

        batch = {**tiny_batch("bert"), "labels": torch.tensor([0, 1])}
        args.steps = 1
    else:
        batch = batch_from_sst2(tok, args.data, 32, 64)

    def step(model, opt) -> float:
        start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in runs}
    for model, opt, _ in runs.values():  # warm-up
        step(model, opt)
    for _ in range(args.steps):
        for name, (model, opt, _) in runs.items():
            times[name].append(step(model, opt))
    rows = []
    ref = statistics.median(times["peft lora"])
    for name, (_, _, n) in runs.items():
        med = statistics.median(times[name])
        twin = name.replace("deltaspace ", "peft ")
        rows.append(
            {
                "method": name,
                "trainable_params": n,
                "median_s_per_step": round(med, 4),
                "vs_peft_lora": round(med / ref, 3),
                "vs_peft_twin": round(med / statistics.median(times[twin]), 3)
                if twin in times and twin != name
                else None,
                "steps": len(times[name]),
            }
        )
    print(f"{'method':38s} {'trainable':>12s} {'s/step':>8s} {'× peft LoRA':>12s} {'× peft twin':>12s}")
    for r in rows:
        twin_ratio = "" if r["vs_peft_twin"] is None else f"{r['vs_peft_twin']:.3f}"
        print(
            f"{r['method']:38s} {r['trainable_params']:>12,d} {r['median_s_per_step']:>8.3f} "
            f"{r['vs_peft_lora']:>12.3f} {twin_ratio:>12s}"
        )
    if args.smoke:
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "batch": 32,
                "length": 64,
                "threads": args.threads,
                "rows": rows,
                "torch": torch.__version__,
                "load_average": list(os.getloadavg()),
            },
            indent=2,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
