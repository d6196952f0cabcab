"""Measured against estimated training memory on CPU, for the memory-estimate test and bench.

`measure` builds a model of one family at a size where tensors dwarf the allocator's noise, runs
AdamW steps on random tokens through the trainer's own precision helpers and returns the
estimate (``deltaspace.space.memory``) beside the measured peak: the resident-set growth from
before the model was built to the highest point during training (the weights plus what the
steps added), as ``PeakMemory`` measures a trial on CPU.

``python -m deltaspace.testing.memory`` prints the table for every family, precision and
checkpointing setting, each measured in a fresh process (`measure_fresh`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MEASURED_SIZES = {"hidden": 256, "layers": 4, "ffn": 1024, "heads": 4, "vocab": 8000}


def sized_config(family: str, hidden: int = 256, layers: int = 4, ffn: int = 1024, heads: int = 4,
                 vocab: int = 8000) -> Any:  # fmt: skip
    """A random config of ``family`` at the given sizes (dropout as the family's default)."""
    import transformers as tf

    if family == "bert":
        return tf.BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                             intermediate_size=ffn, vocab_size=vocab)  # fmt: skip
    if family == "gpt2":
        return tf.GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_inner=ffn, vocab_size=vocab,
                             pad_token_id=0)  # fmt: skip
    if family == "llama":
        return tf.LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                              num_key_value_heads=max(1, heads // 2), intermediate_size=ffn, vocab_size=vocab,
                              pad_token_id=0)  # fmt: skip
    if family == "bart":
        return tf.BartConfig(d_model=hidden, encoder_layers=layers, decoder_layers=layers,
                             encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn,
                             decoder_ffn_dim=ffn, vocab_size=vocab, pad_token_id=1)  # fmt: skip
    raise ValueError(f"no sized config for {family!r}")


@dataclass(frozen=True)
class MemoryCheck:
    family: str
    method: str
    precision: str
    gradient_checkpointing: bool
    estimate: Any  # MemoryEstimate
    measured_mb: float

    @property
    def ratio(self) -> float:
        """Measured over estimated."""
        return self.measured_mb / self.estimate.total_mb


def measure(
    family: str,
    method: str = "lora",
    *,
    batch_size: int = 8,
    length: int = 256,
    precision: str = "fp32",
    gradient_checkpointing: bool = False,
    steps: int = 2,
) -> MemoryCheck:
    import torch
    from transformers import AutoModelForSequenceClassification

    from ..methods import apply_method, model_dims
    from ..space import HeadSpec, preset
    from ..space.accounting import count_method
    from ..space.memory import estimate_memory
    from ..trainers.measure import PeakMemory, _rss_kb
    from ..trainers.memory import enable_gradient_checkpointing
    from ..trainers.precision import Precision, keep_master_weights

    config = sized_config(family, **MEASURED_SIZES)
    spec = preset(method)
    head = HeadSpec(num_labels=2)
    dims = model_dims(config, head)
    estimate = estimate_memory(
        dims, count_method(spec, dims), batch_size=batch_size, max_length=length, target_length=length,
        precision=precision, gradient_checkpointing=gradient_checkpointing,  # type: ignore[arg-type]
    )  # fmt: skip
    resolved = Precision(precision, "cpu")  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, config.vocab_size, (batch_size, length), generator=g)
    ids[:, -1] = 2  # BART wants an end-of-sequence token in every row
    labels = torch.randint(0, 2, (batch_size,), generator=g)
    before = (_rss_kb("VmRSS") or 0) * 1024
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, dtype=resolved.dtype)
    apply_method(model, spec)
    keep_master_weights(model)
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    built = (_rss_kb("VmRSS") or 0) * 1024
    with PeakMemory(torch.device("cpu")) as peak:
        for _ in range(steps):
            with resolved.autocast():
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    measured = (built - before) / 2**20 + peak.mb
    return MemoryCheck(family, method, precision, gradient_checkpointing, estimate, measured)


def measure_fresh(
    family: str, precision: str = "fp32", gradient_checkpointing: bool = False
) -> tuple[float, float]:
    """(estimated MB, measured MB) of `measure` (LoRA) in a fresh process whose glibc returns freed
    tensors to the system: a fixed mmap threshold, so that the resident set follows the live
    tensors (glibc's default keeps freed memory in its arenas and about doubles the resident peak;
    a process that measured another model before reuses part of its memory)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, torch\n"
        "torch.set_num_threads(1)\n"
        "from deltaspace.testing.memory import measure\n"
        f"c = measure({family!r}, precision={precision!r}, gradient_checkpointing={gradient_checkpointing})\n"
        "print(json.dumps([c.estimate.total_mb, c.measured_mb]))\n"
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    estimate, measured = json.loads(out.stdout.splitlines()[-1])
    return estimate, measured


def main() -> None:
    print("family  precision  checkpointing  estimated MB  measured MB  measured/estimated")
    for family in ("bert", "gpt2", "llama", "bart"):
        for precision in ("fp32", "bf16"):
            for checkpointing in (False, True):
                estimate, measured = measure_fresh(family, precision, checkpointing)
                print(f"{family:7} {precision:10} {checkpointing!s:14} {estimate:12.0f} {measured:12.0f} "
                      f"{measured / estimate:19.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
