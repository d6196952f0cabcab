"""Exact parameter accounting from a model's dimensions alone: no weights are loaded.

The formulas here are written independently of the torch modules in ``deltaspace.methods``;
a test builds every preset into every supported family and checks that the count equals the
number of trainable elements, exactly.

Per site (one layer's position), with x-dim ``i`` (the input the delta reads: the sublayer input
for parallel insertion, h for sequential) and h-dim ``o``:

* bottleneck: ``i·r + r + r·o + o`` (W_down, b_down, W_up, b_up), per head when multi-head;
* low-rank: ``i·r + r·o`` (LoRA's A and B, no biases);
* prefix at heads: ``2·l·kv_heads·head_dim`` (P_k and P_v); prompt: ``l·hidden`` once;
* scaling and bias vectors: ``o``;
* a learned scale adds 1, a learned gate ``i + 1`` (a sigmoid over a linear map of its input).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .delta import DeltaSpec
from .dimensions import POSITIONS
from .errors import SpecError
from .method import MethodSpec


class StackDims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    layers: int
    cross_attention: bool = False


class ModelDims(BaseModel):
    """The sizes accounting needs, read from a model config (see ``deltaspace.methods.families``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model_type: str
    family: str
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    stacks: tuple[StackDims, ...]
    weight_shapes: dict[str, tuple[int, int]]
    backbone_params: int
    head_params: int
    bias_params: int
    layer_norm_weight_params: int


class DeltaCount(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    form: str
    position: str
    sites: int
    per_site: int
    params: int


class ParamCount(BaseModel):
    """Trainable delta and head parameters, and their share of the backbone."""

    model_config = ConfigDict(frozen=True)
    delta_params: int
    head_params: int
    trainable_params: int
    stored_params: int
    backbone_params: int
    percent: float
    declared: dict[str, int]
    breakdown: tuple[DeltaCount, ...]


def site_dims(delta: DeltaSpec, dims: ModelDims) -> tuple[int, int]:
    """(input dim the delta reads, output dim it writes) at one site."""
    kind = POSITIONS[delta.position].kind
    if kind == "weight":
        x_dim, h_dim = dims.weight_shapes[delta.position]
    elif kind == "sublayer":
        x_dim = h_dim = dims.hidden
    elif kind == "hidden":
        x_dim = h_dim = dims.ffn
    elif kind == "heads":
        x_dim = h_dim = dims.head_dim
    else:
        x_dim = h_dim = dims.hidden
    return (h_dim if delta.insertion == "sequential" else x_dim), h_dim


def per_site_params(delta: DeltaSpec, dims: ModelDims) -> int:
    i, o = site_dims(delta, dims)
    r = delta.size or 0
    kind = POSITIONS[delta.position].kind
    if delta.form == "bottleneck":
        n = i * r + r + r * o + o
        n *= dims.heads if kind == "heads" else 1
    elif delta.form == "low_rank":
        n = i * r + r * o
    elif delta.form == "prefix":
        n = r * dims.hidden if kind == "embeddings" else 2 * r * dims.kv_heads * dims.head_dim
    else:  # scaling, bias
        n = o
    if delta.learn_scale:
        n += 1
    if delta.gate == "learned":
        n += i + 1
    return n


def site_count(delta: DeltaSpec, dims: ModelDims) -> int:
    """How many (stack, layer) sites the delta occupies; an error when the model has none."""
    info = POSITIONS[delta.position]
    if info.kind == "embeddings":
        return 1
    stacks = [s for s in dims.stacks if delta.stack in ("all", s.name)]
    if info.sublayer == "cross_attn":
        stacks = [s for s in stacks if s.cross_attention]
    if not stacks:
        have = ", ".join(
            f"{s.name}{' (with cross-attention)' if s.cross_attention else ''}" for s in dims.stacks
        )
        raise SpecError(
            f"position {delta.position!r} with stack={delta.stack!r} does not exist in a "
            f"{dims.model_type} model, which has: {have}"
        )
    return sum(len(delta.layer_indices(s.layers)) for s in stacks)


def count_method(spec: MethodSpec, dims: ModelDims) -> ParamCount:
    """Exact trainable-parameter count of ``spec`` on a model with dimensions ``dims``."""
    breakdown = []
    for index, delta in enumerate(spec.deltas):
        sites = site_count(delta, dims)
        per_site = per_site_params(delta, dims)
        breakdown.append(
            DeltaCount(
                index=index,
                form=delta.form,
                position=delta.position,
                sites=sites,
                per_site=per_site,
                params=sites * per_site,
            )
        )
    declared: dict[str, int] = {}
    if "all" in spec.trainable:
        declared["all"] = dims.backbone_params
    else:
        if "biases" in spec.trainable:
            declared["biases"] = dims.bias_params
        if "layer_norms" in spec.trainable:
            # layer-norm biases are already among the biases when both are declared
            ln_bias = 0 if "biases" in spec.trainable else _layer_norm_bias_params(dims)
            declared["layer_norms"] = dims.layer_norm_weight_params + ln_bias
    delta_params = sum(b.params for b in breakdown) + sum(declared.values())
    head = dims.head_params if ("head" in spec.trainable or "all" in spec.trainable) else 0
    return ParamCount(
        delta_params=delta_params,
        head_params=head,
        trainable_params=delta_params + head,
        stored_params=delta_params + head,
        backbone_params=dims.backbone_params,
        percent=100.0 * delta_params / dims.backbone_params,
        declared=declared,
        breakdown=tuple(breakdown),
    )


def _layer_norm_bias_params(dims: ModelDims) -> int:
    # Every family here gives its layer norms a bias exactly as wide as their weight, except the
    # RMSNorm families, which have none; families record this through layer_norm_weight_params only.
    return dims.layer_norm_weight_params if dims.family != "llama" else 0
