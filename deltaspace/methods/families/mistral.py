"""Mistral: Llama's layout (grouped-query attention, RMSNorm, gated FFN, no biases); its sliding
window only changes the attention mask, which the model builds itself."""

from __future__ import annotations

from dataclasses import replace

from .llama import LLAMA

MISTRAL = replace(LLAMA, name="mistral", model_types=("mistral",))
