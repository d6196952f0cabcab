"""Qwen2: Llama's layout (grouped-query attention, RMSNorm, gated FFN) with biases on q, k and v."""

from __future__ import annotations

from dataclasses import replace

from .llama import LLAMA

QWEN2 = replace(LLAMA, name="qwen2", model_types=("qwen2",))
