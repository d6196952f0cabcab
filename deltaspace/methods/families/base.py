"""Per-family position tables: where each position of the design space lives in a model.

A table is data: module paths inside one transformer layer, relative to ``model.base_model``.
Adding a family is one small file with one table plus one line in ``families/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WeightSite = str | tuple[str, int]
"""A projection: a module path, or (path of a fused q/k/v projection, which third of its output)."""


@dataclass(frozen=True)
class StackTable:
    name: str  # "encoder" or "decoder"
    layers_path: str  # ModuleList of layers, relative to model.base_model
    layers_attr: str  # config attribute holding the number of layers
    cross_attention: bool = False


@dataclass(frozen=True)
class FamilyTable:
    """Where positions live in one model family and how to read its sizes from a config.

    ``weights`` maps weight positions (``query`` .. ``ffn_out`` and ``cross_*``) to module paths;
    sublayer positions are derived from them (output: ``attn_out``/``ffn_out``; the sublayer
    input x is what the query projection or ``ffn_in`` reads). ``attention`` maps a sublayer to
    the module that calls transformers' attention interface (prefix and multi-head deltas hook
    there). ``conv1d`` marks GPT-2's Conv1D, whose weight is stored (in, out).
    ``activation_profile`` (a, b): elements autograd keeps per token and layer while training,
    a·hidden + b·ffn (the memory estimate, ``deltaspace.space.memory``), fitted on the family with
    LoRA in float32 (autograd's saved-tensor hooks, torch 2.13, default dropout; attention scores
    apart); ``attention_dropout_attr`` names the config's attention-dropout probability.
    """

    name: str
    model_types: tuple[str, ...]
    stacks: tuple[StackTable, ...]
    weights: dict[str, WeightSite]
    attention: dict[str, str]
    embeddings: str
    sizes: Callable[[Any], dict[str, int]]
    conv1d: bool = False
    layer_norm_has_bias: bool = True
    activation_profile: tuple[float, float] = (8.0, 2.0)
    attention_dropout_attr: str = "attention_dropout"
    notes: dict[str, str] = field(default_factory=dict)

    def stacks_present(self, config: Any) -> tuple[StackTable, ...]:
        return tuple(s for s in self.stacks if getattr(config, s.layers_attr, 0))
