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

Weight-level forms on a projection W of shape (o, i), with ``k = kept_entries(fraction, i·o)``:

* l0_diff (diff pruning): ``2·i·o`` trainable (w and log α), stored ``k`` values plus ``k`` indices;
* magnitude_mask (PaFi), lottery_mask (LT-SFT): ``k`` trainable, stored ``k`` values plus ``k`` indices
  (PaFi's indices could be recomputed from W; export writes them anyway);
* weight_adapter (HiWi): ``2·o·r`` (W_down, W_up), stored as is (W' is recomputed from W);
* intrinsic: ``d`` once per subspace, however many sites (θ_d is shared by every site of the
  intrinsic deltas with one ``subspace_key``; the projections are regenerated from the seed);
  structured (SAID): ``d - m`` shared plus one λ per site, m the sites of the whole subspace.

Three totals: ``trainable_params`` (what the optimiser updates), ``stored_params`` (the values
export writes; ``stored_indices`` counts the integer positions of sparse deltas beside them) and
``inference_extra_params`` (parameters still in the model after merging: 0 for mergeable deltas).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .delta import DeltaSpec
from .dimensions import MASK_FORMS, POSITIONS, WEIGHT_LEVEL_FORMS
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
    elif kind == "sublayer":
        x_dim = h_dim = dims.hidden
    elif kind == "hidden":
        x_dim = h_dim = dims.ffn
    elif kind == "heads":
        x_dim = h_dim = dims.head_dim
    else:
        x_dim = h_dim = dims.hidden
    return (h_dim if delta.insertion == "sequential" else x_dim), h_dim


def kept_entries(fraction: float, entries: int) -> int:
    """How many of a matrix's ``entries`` a sparse delta keeps: ``fraction`` of them, rounded, at least 1."""
    return max(1, round(fraction * entries))


def merge_problem(delta: DeltaSpec) -> str | None:
    """Why a delta cannot be merged into the weights, or None when it can (then it costs nothing
    at inference once merged)."""
    kind = POSITIONS[delta.position].kind
    if delta.form in ("scaling", "bias", *WEIGHT_LEVEL_FORMS):
        return None
    if delta.form == "low_rank" and kind == "weight" and delta.insertion == "parallel":
        if delta.composition in ("add", "scaled"):
            return None
        return f"its composition {delta.composition!r} depends on the input"
    return f"a {delta.insertion or ''} {delta.form} at {delta.position} is not linear in the layer's input"


def per_site_params(delta: DeltaSpec, dims: ModelDims) -> int:
    i, o = site_dims(delta, dims)
    r = delta.size or 0
    kind = POSITIONS[delta.position].kind
    if delta.form in WEIGHT_LEVEL_FORMS:
        return _weight_level_per_site(delta, i, o)
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


def _weight_level_per_site(delta: DeltaSpec, i: int, o: int) -> int:
    if delta.form == "l0_diff":
        return 2 * i * o
    if delta.form in MASK_FORMS:
        return kept_entries(delta.fraction or 1.0, i * o)
    if delta.form == "weight_adapter":
        return 2 * o * (delta.size or 0)
    return 1 if delta.structured else 0  # intrinsic: λ_i per site; θ_d is shared (shared_params)


def subspace_key(delta: DeltaSpec) -> tuple[object, ...] | None:
    """Intrinsic deltas with equal keys share one θ_d across all their sites (Aghajanyan et al.
    project one θ_d onto every weight); give a delta its own subspace with another ``seed``."""
    if delta.form != "intrinsic":
        return None
    return (delta.size, delta.projection, delta.structured, delta.seed)


def shared_params(delta: DeltaSpec, sites: int) -> int:
    """Parameters a subspace shares across its ``sites``: the intrinsic θ_d (θ^{d-m} for SAID)."""
    if delta.form != "intrinsic":
        return 0
    d = delta.size or 0
    if not delta.structured:
        return d
    if d <= sites:
        raise SpecError(
            f"size={d} is too small for a structured intrinsic delta over {sites} sites: d counts one "
            f"λ per site plus the subspace θ^(d-m), so it needs d > {sites}"
        )
    return d - sites


def stored_per_site(delta: DeltaSpec, dims: ModelDims) -> tuple[int, int]:
    """(values, integer indices) that export writes for one site."""
    i, o = site_dims(delta, dims)
    if delta.form in MASK_FORMS:
        k = kept_entries(delta.fraction or 1.0, i * o)
        return k, k
    return per_site_params(delta, dims), 0


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
    sites_of = [site_count(delta, dims) for delta in spec.deltas]
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
    # Every family here gives its layer norms a bias exactly as wide as their weight, except the
    # RMSNorm families, which have none; families record this through layer_norm_weight_params only.
    return dims.layer_norm_weight_params if dims.family != "llama" else 0
