"""`DeltaSpec`: one modification Δh, a point of the four design dimensions plus its size.

Fields a user leaves out get the default of the functional form (``FORM_DEFAULTS``), so
``{form: low_rank, position: query, size: 8}`` is LoRA's parallel, scaled query update.
Combinations that make no sense are rejected by ``_check_combination`` with a message that names
the clashing fields and says why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .dimensions import (
    FORM_SITES,
    MASK_FORMS,
    POSITIONS,
    SIZE_MEANING,
    SIZED_FORMS,
    WEIGHT_LEVEL_FORMS,
    Activation,
    Composition,
    Form,
    Gate,
    Heads,
    Init,
    Insertion,
    Position,
    Projection,
    Stack,
)
from .scalars import Float, Int

# What a form means when a field is left out (the published defaults of each family of methods).
FORM_DEFAULTS: dict[str, dict[str, Any]] = {
    "bottleneck": {"insertion": "sequential", "composition": "add", "init": "zero"},
    "low_rank": {"insertion": "parallel", "composition": "scaled", "init": "zero"},
    "prefix": {"insertion": "parallel", "composition": "gated", "gate": "prefix_softmax", "init": "normal"},
    "scaling": {"insertion": None, "composition": "multiply", "init": "zero"},
    "bias": {"insertion": None, "composition": "add", "init": "zero"},
    # weight-level forms: W' = W + ΔW, starting at ΔW = 0
    "l0_diff": {"insertion": None, "composition": "add", "init": "zero", "penalty": 1.25e-7},
    "magnitude_mask": {"insertion": None, "composition": "add", "init": "zero"},
    "lottery_mask": {"insertion": None, "composition": "add", "init": "zero"},
    "weight_adapter": {"insertion": None, "composition": "add", "init": "zero"},
    "intrinsic": {"insertion": None, "composition": "add", "init": "zero", "projection": "fastfood"},
}


class LayerRange(BaseModel):
    """Layers ``start`` (inclusive) to ``stop`` (exclusive), as Python's ``range``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: Int = Field(ge=0)
    stop: Int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LayerRange:
        if self.stop <= self.start:
            raise ValueError(f"layers range needs start < stop, got start={self.start} stop={self.stop}")
        return self


Layers = Literal["all"] | tuple[Annotated[Int, Field(ge=0)], ...] | LayerRange


class DeltaSpec(BaseModel):
    """One modification of a frozen model's hidden representation.

    * ``form``: functional form of Δh (bottleneck MLP, low-rank linear, prefix attention,
      scaling vector, bias vector); ``activation`` is the bottleneck's f.
    * ``position``: the representation it modifies (see ``deltaspace.space.dimensions.POSITIONS``).
    * ``insertion``: ``sequential`` computes Δh from h (the output), ``parallel`` from x (the input).
    * ``composition``: ``add`` h+Δh, ``scaled`` h+s·Δh (``scale`` fixed, or learned when
      ``learn_scale``), ``gated`` with λ(x) from the prefix softmax or a learned sigmoid gate,
      ``multiply`` h⊙Δh for scaling vectors.
    * ``size``: bottleneck r, rank r or prefix length l; ``heads``: one Δh for the whole width or one
      per attention head; ``layers``/``stack``: where in depth; ``init`` and ``dropout``.

    Weight-level forms change the projection's weight, W' = W + ΔW (``WEIGHT_LEVEL_FORMS``):

    * ``l0_diff`` (diff pruning): ΔW = z ⊙ w with hard-concrete gates z, L0 penalty weight
      ``penalty``, and ``fraction`` the share of W's entries kept (top |z ⊙ w|) in the stored delta;
    * ``magnitude_mask`` (PaFi) / ``lottery_mask`` (LT-SFT): ΔW nonzero only on ``fraction`` of W's
      entries, the smallest-magnitude ones / the ones that moved most in a short full fine-tuning;
    * ``weight_adapter`` (HiWi): ΔW = f(W W_down) W_up with r = ``size`` and f = ``activation``;
    * ``intrinsic``: ΔW = P(θ_d) with d = ``size`` shared by every site of the delta, P a fixed
      random ``projection`` regenerated from ``seed``; ``structured`` adds one learned scalar per site
      (SAID: θ_i = θ0_i + λ_i P(θ^{d-m})_i, m sites, d counting the λs).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    form: Form
    position: Position
    insertion: Insertion | None = None
    composition: Composition = "add"
    gate: Gate | None = None
    scale: Float = 1.0
    learn_scale: bool = False
    activation: Activation = "relu"
    size: Int | None = None
    heads: Heads = "single"
    layers: Layers = "all"
    stack: Stack = "all"
    init: Init = "zero"
    dropout: Float = Field(default=0.0, ge=0.0, lt=1.0)
    fraction: Float | None = Field(default=None, gt=0.0, le=1.0)
    penalty: Float | None = Field(default=None, ge=0.0)
    projection: Projection | None = None
    structured: bool = False
    seed: Int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_form_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("form"), str):
            return data  # a form that is not a name: the field's own validation says so
        if data["form"] not in FORM_DEFAULTS:
            return data
        filled = dict(FORM_DEFAULTS[data["form"]])
        if isinstance(data.get("position"), str) and data["position"] in POSITIONS:
            if POSITIONS[data["position"]].kind == "heads":
                filled["heads"] = "multi"
        filled.update(data)
        if isinstance(filled.get("layers"), list):
            filled["layers"] = tuple(filled["layers"])
        return filled

    @model_validator(mode="after")
    def _check_combination(self) -> DeltaSpec:
        problems = _combination_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def layer_indices(self, n_layers: int) -> list[int]:
        """The layer indices this delta touches in a stack of ``n_layers`` layers."""
        if self.layers == "all":
            return list(range(n_layers))
        if isinstance(self.layers, LayerRange):
            wanted = list(range(self.layers.start, self.layers.stop))
        else:
            wanted = list(self.layers)
        beyond = [i for i in wanted if i >= n_layers]
        if beyond:
            from .errors import SpecError

            raise SpecError(
                f"layers {beyond} do not exist: the stack has {n_layers} layers (0..{n_layers - 1})"
            )
        return wanted


def _combination_problems(d: DeltaSpec) -> list[str]:
    """Every clash between fields, each phrased as 'fields: why'."""
    out: list[str] = []
    info = POSITIONS[d.position]
    sites = FORM_SITES[d.form]
    if info.kind not in sites:
        allowed = sorted(p for p, i in POSITIONS.items() if i.kind in sites)
        out.append(
            f"form={d.form!r} and position={d.position!r} clash: a {d.form} delta acts on "
            f"{'/'.join(sites)} sites, and {d.position!r} is a {info.kind} site; allowed positions: {allowed}"
        )
    if d.form in SIZED_FORMS:
        if d.size is None:
            out.append(f"size is required for form={d.form!r} ({SIZE_MEANING[d.form]})")
        elif d.size <= 0:
            out.append(f"size={d.size} must be a positive integer")
    elif d.size is not None:
        out.append(f"size={d.size} clashes with form={d.form!r}: a {d.form} vector has no size")
    if d.form in WEIGHT_LEVEL_FORMS and d.insertion is not None:
        out.append(
            f"insertion={d.insertion!r} clashes with form={d.form!r}: a weight-level delta changes W "
            "itself (W' = W + ΔW), so it has no insertion form (leave insertion out)"
        )
    if d.form in ("scaling", "bias") and d.insertion is not None:
        out.append(
            f"insertion={d.insertion!r} clashes with form={d.form!r}: a {d.form} vector does not read "
            "x or h, so it has no insertion form (leave insertion out)"
        )
    if d.form in ("bottleneck", "low_rank", "prefix") and d.insertion is None:
        out.append(f"insertion is required for form={d.form!r} (sequential or parallel)")
    if d.form == "prefix" and d.insertion == "sequential":
        out.append("form='prefix' and insertion='sequential' clash: prefix attention reads x (parallel)")
    if (d.composition == "multiply") != (d.form == "scaling"):
        out.append(
            f"form={d.form!r} and composition={d.composition!r} clash: 'multiply' is the composition of "
            "scaling vectors, and scaling vectors only multiply"
        )
    if d.form == "bias" and d.composition != "add":
        out.append(f"form='bias' and composition={d.composition!r} clash: a bias vector is added")
    if d.composition == "gated":
        if d.gate is None:
            out.append("composition='gated' needs gate: prefix_softmax or learned")
        if d.gate == "learned" and info.kind in ("heads", "embeddings"):
            out.append(
                f"gate='learned' and position={d.position!r} clash: per-head and embedding deltas "
                "have no single gate input"
            )
    elif d.gate is not None:
        out.append(f"gate={d.gate!r} needs composition='gated' (got {d.composition!r})")
    if (d.gate == "prefix_softmax") != (d.form == "prefix"):
        out.append(
            f"form={d.form!r} and gate={d.gate!r} clash: λ(x) from the prefix softmax exists only for, "
            "and is the composition of, prefix attention"
        )
    if d.composition != "scaled" and (d.scale != 1.0 or d.learn_scale):
        out.append(f"scale/learn_scale need composition='scaled' (got {d.composition!r})")
    if d.composition == "scaled" and d.scale <= 0:
        out.append(f"scale={d.scale} must be > 0")
    if d.heads == "multi" and info.kind != "heads":
        out.append(f"heads='multi' and position={d.position!r} clash: only *_heads positions are per head")
    if d.heads == "single" and info.kind == "heads":
        out.append(f"heads='single' and position={d.position!r} clash: a head position is per head")
    if info.kind == "embeddings" and d.layers != "all":
        out.append("layers clashes with position='embeddings': the prompt sits at the input, before layer 0")
    if d.form == "prefix" and d.init == "zero":
        out.append(
            "form='prefix' and init='zero' clash: prefix attention cannot start as an identity "
            "(λ(x) > 0 for any P_k); use init='normal'"
        )
    if d.activation != "relu" and d.form not in ("bottleneck", "weight_adapter"):
        out.append(
            f"activation={d.activation!r} clashes with form={d.form!r}: only bottlenecks have f "
            "(and weight adapters, whose f acts on W)"
        )
    if info.sublayer == "cross_attn" and d.stack == "encoder":
        out.append(f"position={d.position!r} and stack='encoder' clash: cross-attention is in the decoder")
    return out + _weight_level_problems(d)


def _weight_level_problems(d: DeltaSpec) -> list[str]:
    """Clashes of the weight-level forms' own fields (fraction, penalty, projection, structured, seed)."""
    out: list[str] = []
    if d.form in WEIGHT_LEVEL_FORMS:
        if d.composition != "add":
            out.append(
                f"form={d.form!r} and composition={d.composition!r} clash: a weight-level delta is "
                "added to the weight, W' = W + ΔW"
            )
        if d.init != "zero":
            out.append(f"form={d.form!r} and init={d.init!r} clash: a weight-level delta starts at ΔW = 0")
        if d.dropout:
            out.append(
                f"dropout={d.dropout} clashes with form={d.form!r}: a weight-level delta reads no input"
            )
    if d.form in MASK_FORMS and d.fraction is None:
        out.append(f"fraction is required for form={d.form!r} (the share of W's entries that may change)")
    elif d.form not in MASK_FORMS and d.fraction is not None:
        out.append(
            f"fraction={d.fraction} clashes with form={d.form!r}: only {'/'.join(MASK_FORMS)} keep a fraction"
        )
    if (d.penalty is not None) != (d.form == "l0_diff"):
        out.append(
            f"form={d.form!r} and penalty={d.penalty} clash: the L0 penalty weight belongs to, and is "
            "required by, form='l0_diff'"
        )
    if (d.projection is not None) != (d.form == "intrinsic"):
        out.append(
            f"form={d.form!r} and projection={d.projection!r} clash: a projection (dense, sparse, "
            "fastfood) belongs to, and is required by, form='intrinsic'"
        )
    if d.form != "intrinsic" and (d.structured or d.seed):
        out.append(f"structured/seed clash with form={d.form!r}: they describe form='intrinsic'")
    return out
