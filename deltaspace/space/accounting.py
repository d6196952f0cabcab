"""Exact parameter accounting from a model's dimensions alone: no weights are loaded.

The formulas here are written independently of the torch modules in ``deltaspace.methods``;
a test builds every preset into every supported family and checks that the count equals the
number of trainable elements, exactly.

Per site (one layer's position), with x-dim ``i`` (the input the delta reads: the sublayer input
for parallel insertion, h for sequential) and h-dim ``o``, a delta has its form's own count
(``per_site`` in its declaration, ``deltaspace/space/forms/<form>.py``: e.g. a bottleneck
``i·r + r + r·o + o``, LoRA ``i·r + r·o``, a prefix ``2·l·kv_heads·head_dim``) plus what its
composition adds (``deltaspace/space/compositions.py``: a learned scale 1, a learned gate ``i + 1``).
A form may store something else than it trains (sparse deltas: ``k`` values and ``k`` indices) and
may share a block across sites (the intrinsic θ_d, counted once per ``subspace_key``).

Three totals: ``trainable_params`` (what the optimiser updates), ``stored_params`` (the values
export writes; ``stored_indices`` counts the integer positions of sparse deltas beside them) and
``inference_extra_params`` (parameters still in the model after merging: 0 for mergeable deltas).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from .compositions import COMPOSITIONS
from .delta import DeltaSpec
from .dimensions import POSITIONS
from .errors import SpecError
from .forms import FORMS, SiteShape, kept_entries
from .insertions import reads
from .method import MethodSpec

__all__ = ["kept_entries"]


class _Stack(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def cross_attention(self) -> bool: ...


StackT = TypeVar("StackT", bound=_Stack)


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
    layer_norm_bias_params: int = 0
    vocab_size: int = 0
    activation_profile: tuple[float, float] = (8.0, 2.0)  # saved elements per token and layer: (·hidden, ·ffn)
    attention_dropout: float = 0.0


class DeltaCount(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    form: str
    position: str
    sites: int
    per_site: int
    params: int
    shared: int = 0
    stored: int = 0
    stored_indices: int = 0
    inference_extra: int = 0


class ParamCount(BaseModel):
    """Trainable delta and head parameters, and their share of the backbone; what export stores
    (``stored_params`` values and ``stored_indices`` positions) and what stays in the model after
    merging (``inference_extra_params``)."""

    model_config = ConfigDict(frozen=True)
    delta_params: int
    head_params: int
    trainable_params: int
    stored_params: int
    backbone_params: int
    percent: float
    declared: dict[str, int]
    breakdown: tuple[DeltaCount, ...]
    stored_indices: int = 0
    inference_extra_params: int = 0


def site_dims(delta: DeltaSpec, dims: ModelDims) -> tuple[int, int]:
    """(input dim the delta reads, output dim it writes) at one site."""
    kind = POSITIONS[delta.position].kind
    if kind == "weight":
        x_dim, h_dim = dims.weight_shapes[delta.position]
    elif kind == "hidden":
        x_dim = h_dim = dims.ffn
    elif kind == "heads":
        x_dim = h_dim = dims.head_dim
    else:  # sublayer, embeddings
        x_dim = h_dim = dims.hidden
    return (x_dim if reads(delta.insertion) == "input" else h_dim), h_dim


def site_shape(delta: DeltaSpec, dims: ModelDims) -> SiteShape:
    i, o = site_dims(delta, dims)
    kind = POSITIONS[delta.position].kind
    return SiteShape(i, o, kind, dims.hidden, dims.heads, dims.kv_heads, dims.head_dim)


def merge_problem(delta: DeltaSpec) -> str | None:
    """Why a delta cannot be merged into the weights, or None when it can (then it costs nothing
    at inference once merged): its form must be affine in the layer input at its site, and its
    composition linear."""
    kind = POSITIONS[delta.position].kind
    if not FORMS[delta.form].merges(delta, kind):
        return (
            f"a {delta.insertion or ''} {delta.form} at {delta.position} is not linear in the layer's input"
        )
    if not COMPOSITIONS[delta.composition].linear:
        return f"its composition {delta.composition!r} depends on the input"
    return None


def per_site_params(delta: DeltaSpec, dims: ModelDims) -> int:
    """Trainable elements of one site: the form's own, plus what its composition adds."""
    shape = site_shape(delta, dims)
    return FORMS[delta.form].per_site(delta, shape) + COMPOSITIONS[delta.composition].extra_params(
        delta, shape.i, shape.o
    )


def subspace_key(delta: DeltaSpec) -> tuple[object, ...] | None:
    """Deltas with equal keys share one parameter block across their sites (the intrinsic θ_d)."""
    key = FORMS[delta.form].group_key(delta)
    return None if key is None else (delta.form, *key)


def shared_params(delta: DeltaSpec, sites: int) -> int:
    """Parameters a group shares across its ``sites``, counted once (the intrinsic θ_d)."""
    return FORMS[delta.form].shared(delta, sites)


def stored_per_site(delta: DeltaSpec, dims: ModelDims) -> tuple[int, int]:
    """(values, integer indices) that export writes for one site."""
    stored = FORMS[delta.form].stored
    if stored is None:
        return per_site_params(delta, dims), 0
    return stored(delta, site_shape(delta, dims))


def present_stacks(delta: DeltaSpec, stacks: Sequence[StackT]) -> list[StackT]:
    """The stacks (``StackDims`` here, the family's ``StackTable`` when building) where ``delta``
    has sites: the one it names, or all, and only those with cross-attention for a cross-attention
    position. One rule for counting and building, so the two cannot disagree."""
    cross = POSITIONS[delta.position].sublayer == "cross_attn"
    return [s for s in stacks if delta.stack in ("all", s.name) and (s.cross_attention or not cross)]


def site_count(delta: DeltaSpec, dims: ModelDims) -> int:
    """How many (stack, layer) sites the delta occupies. A model without any is an error, unless
    the delta is ``where_present``: then it has 0 sites there and adds nothing."""
    info = POSITIONS[delta.position]
    if info.kind == "embeddings":
        return 1
    stacks = present_stacks(delta, dims.stacks)
    if not stacks and delta.where_present:
        return 0
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
    sites_of = [site_count(delta, dims) for delta in spec.deltas]
    if spec.deltas and not any(sites_of):
        raise SpecError(
            f"none of method {spec.name!r}'s deltas exists in a {dims.model_type} model: each is "
            "where_present and the model lacks its sites"
        )
    subspace_sites: dict[tuple[object, ...], int] = {}
    for delta, sites in zip(spec.deltas, sites_of, strict=True):
        if (key := subspace_key(delta)) is not None:
            subspace_sites[key] = subspace_sites.get(key, 0) + sites
    for index, delta in enumerate(spec.deltas):
        sites = sites_of[index]
        per_site = per_site_params(delta, dims)
        key = subspace_key(delta)
        # a shared subspace is counted once, with the first delta that uses it
        shared = shared_params(delta, subspace_sites.pop(key)) if key in subspace_sites else 0
        params = sites * per_site + shared
        stored, indices = stored_per_site(delta, dims)
        breakdown.append(
            DeltaCount(
                index=index,
                form=delta.form,
                position=delta.position,
                sites=sites,
                per_site=per_site,
                params=params,
                shared=shared,
                stored=sites * stored + shared,
                stored_indices=sites * indices,
                inference_extra=params if merge_problem(delta) else 0,
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
        stored_params=sum(b.stored for b in breakdown) + sum(declared.values()) + head,
        backbone_params=dims.backbone_params,
        percent=100.0 * delta_params / dims.backbone_params,
        declared=declared,
        breakdown=tuple(breakdown),
        stored_indices=sum(b.stored_indices for b in breakdown),
        inference_extra_params=sum(b.inference_extra for b in breakdown),
    )


def _layer_norm_bias_params(dims: ModelDims) -> int:
    return dims.layer_norm_bias_params
