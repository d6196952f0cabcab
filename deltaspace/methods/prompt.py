"""Prompt tuning (Lester et al. 2021): learned vectors prepended to the input embeddings.

A forward pre-hook on the model turns ``input_ids`` into ``inputs_embeds`` with the prompt in
front, and extends ``attention_mask`` and ``token_type_ids`` to match, as peft does; encoder-
decoder models get the prompt on the encoder side. Positions that ``generate`` passes are shifted
behind the prompt (as training numbers them), and a decoder generates without a key-value cache
(``trainers/sft.py``): every step runs the whole sequence through this hook.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .forms import PromptEmbedding


class PromptHook:
    def __init__(self, prompt: PromptEmbedding, embeddings: nn.Module):
        self.prompt = prompt
        self.embeddings = embeddings

    def __call__(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        kwargs = dict(kwargs)
        if args:
            kwargs["input_ids"], args = args[0], args[1:]
        embeds = kwargs.get("inputs_embeds")
        if embeds is None:
            embeds = self.embeddings(kwargs.pop("input_ids"))
        kwargs["input_ids"] = None
        batch, length = embeds.shape[0], self.prompt.embedding.shape[0]
        prompt = self.prompt.embedding.to(embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
        kwargs["inputs_embeds"] = torch.cat([prompt, embeds], dim=1)
        mask = kwargs.get("attention_mask")
        if mask is not None:
            kwargs["attention_mask"] = torch.cat([mask.new_ones(batch, length), mask], dim=1)
        types = kwargs.get("token_type_ids")
        if types is not None:
            kwargs["token_type_ids"] = torch.cat([types.new_zeros(batch, length), types], dim=1)
        for key in ("position_ids", "cache_position"):  # given by generate(): the prompt comes first
            positions = kwargs.get(key)
            if positions is not None:
                front = torch.arange(length, device=positions.device, dtype=positions.dtype)
                front = front.expand(*positions.shape[:-1], length)
                kwargs[key] = torch.cat([front, positions + length], dim=-1)
        return args, kwargs
