"""The four design dimensions of the unified view (He et al., ICLR 2022) as closed vocabularies.

Each position is described by the kind of site it names:

* ``heads``: the per-head attention outputs (prefix tuning, multi-head parallel adapters),
* ``sublayer``: the output h of a whole sublayer (attention or FFN), x being the sublayer's input,
* ``weight``: the output of one projection matrix (x its input), where LoRA and IA3 act,
* ``hidden``: the FFN's inner activation (the input of the FFN-out projection), where IA3 scales,
* ``embeddings``: the input embeddings (prompt tuning).

The functional forms, insertions and compositions are registries (``space/forms/``,
``space/insertions.py``, ``space/compositions.py``); the `Literal`s below are derived from them.
Weight-level forms (``WEIGHT_LEVEL_FORMS``: sparse fine-tuning, HiWi, intrinsic-dimension tuning)
change a projection's weight itself, W' = W + ΔW, at the ``weight`` positions; they merge into W,
so they add no inference cost once exported.

``sublayer`` names which transformer sublayer a position belongs to: ``self_attn``, ``cross_attn``
(encoder-decoder models only) or ``ffn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .compositions import COMPOSITIONS, GATES
from .forms import FORMS
from .insertions import INSERTIONS

Form = Literal[tuple(FORMS)]  # type: ignore[valid-type]
Insertion = Literal[tuple(INSERTIONS)]  # type: ignore[valid-type]
Composition = Literal[tuple(COMPOSITIONS)]  # type: ignore[valid-type]
Gate = Literal[tuple(GATES)]  # type: ignore[valid-type]
Activation = Literal["relu", "gelu", "tanh", "identity"]
Heads = Literal["single", "multi"]
Init = Literal[tuple(dict.fromkeys(i for f in FORMS.values() for i in f.inits))]  # type: ignore[valid-type]
Stack = Literal["all", "encoder", "decoder"]
Trainable = Literal["head", "layer_norms", "biases", "all"]
Projection = Literal["dense", "sparse", "fastfood"]

PositionKind = Literal["heads", "sublayer", "weight", "hidden", "embeddings"]
Sublayer = Literal["self_attn", "cross_attn", "ffn", "input"]


@dataclass(frozen=True)
class PositionInfo:
    """What a position name means: the kind of site, its sublayer, and a line for docs and errors."""

    kind: PositionKind
    sublayer: Sublayer
    description: str


POSITIONS: dict[str, PositionInfo] = {
    "attn_heads": PositionInfo("heads", "self_attn", "per-head self-attention outputs"),
    "attn_output": PositionInfo("sublayer", "self_attn", "self-attention sublayer output"),
    "ffn_output": PositionInfo("sublayer", "ffn", "FFN sublayer output"),
    "query": PositionInfo("weight", "self_attn", "query projection W_q"),
    "key": PositionInfo("weight", "self_attn", "key projection W_k"),
    "value": PositionInfo("weight", "self_attn", "value projection W_v"),
    "attn_out": PositionInfo("weight", "self_attn", "attention output projection W_o"),
    "ffn_in": PositionInfo("weight", "ffn", "FFN input projection W_1"),
    "ffn_out": PositionInfo("weight", "ffn", "FFN output projection W_2"),
    "ffn_hidden": PositionInfo("hidden", "ffn", "FFN inner activation (input of W_2)"),
    "cross_attn_heads": PositionInfo("heads", "cross_attn", "per-head cross-attention outputs"),
    "cross_attn_output": PositionInfo("sublayer", "cross_attn", "cross-attention sublayer output"),
    "cross_query": PositionInfo("weight", "cross_attn", "cross-attention query projection"),
    "cross_key": PositionInfo("weight", "cross_attn", "cross-attention key projection"),
    "cross_value": PositionInfo("weight", "cross_attn", "cross-attention value projection"),
    "cross_attn_out": PositionInfo("weight", "cross_attn", "cross-attention output projection"),
    "embeddings": PositionInfo("embeddings", "input", "input embeddings (prompt tuning)"),
}
Position = Literal[
    "attn_heads",
    "attn_output",
    "ffn_output",
    "query",
    "key",
    "value",
    "attn_out",
    "ffn_in",
    "ffn_out",
    "ffn_hidden",
    "cross_attn_heads",
    "cross_attn_output",
    "cross_query",
    "cross_key",
    "cross_value",
    "cross_attn_out",
    "embeddings",
]

# Views of the form registry kept for readers that want one fact about every form.
FORM_SITES: dict[str, tuple[str, ...]] = {name: f.sites for name, f in FORMS.items()}
SIZE_MEANING: dict[str, str] = {name: f.size for name, f in FORMS.items() if f.size is not None}
SIZED_FORMS = tuple(SIZE_MEANING)
WEIGHT_LEVEL_FORMS = tuple(name for name, f in FORMS.items() if f.weight_level)
MASK_FORMS = tuple(name for name, f in FORMS.items() if "fraction" in f.reads)
