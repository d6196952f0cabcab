"""`DeltaSpec`: one modification Δh, a point of the four design dimensions plus its size.

Fields a user leaves out get the default of the functional form (its declaration in
``deltaspace.space.forms``), so
``{form: low_rank, position: query, size: 8}`` is LoRA's parallel, scaled query update.
Combinations that make no sense are rejected by ``_check_combination`` with a message that names
the clashing fields and says why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .compositions import COMPOSITIONS, GATES
from .dimensions import (
    POSITIONS,
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
from .forms import FORM_FIELDS, FORMS
from .insertions import INSERTIONS
from .scalars import Float, Int

# What a form means when a field is left out (the published defaults, from each form's declaration).
FORM_DEFAULTS: dict[str, dict[str, Any]] = {name: dict(f.defaults) for name, f in FORMS.items()}


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
    * ``where_present``: the delta sits at the sites the model has and contributes nothing (zero
      sites, zero parameters) on a model without them, instead of being an error there. Only for
      sites a supported model can lack: cross-attention positions (encoder-decoder models only) or
      one named ``stack``. So one preset covers both: prefix tuning's decoder cross-attention
      prefix (He et al. 2022) exists on BART and is absent, not an error, on BERT. Left out of the
      serialised form when False, so the method hash of a method that does not use it is unchanged.

    Weight-level forms change the projection's weight, W' = W + ΔW (``WEIGHT_LEVEL_FORMS``):

    * ``l0_diff`` (diff pruning): ΔW = z ⊙ w with hard-concrete gates z, L0 penalty weight
      ``penalty``, and ``fraction`` the share of W's entries kept (top |z ⊙ w|) in the stored delta;
    * ``magnitude_mask`` (PaFi) / ``lottery_mask`` (LT-SFT): ΔW nonzero only on ``fraction`` of W's
      entries, the smallest-magnitude ones / the ones that moved most in a short full fine-tuning;
    * ``weight_adapter`` (HiWi): ΔW = f(W W_down) W_up with r = ``size`` and f = ``activation``;
    * ``intrinsic``: ΔW = P(θ_d) with d = ``size`` shared by every site of the delta, P a fixed
      random ``projection`` regenerated from ``seed``; ``structured`` adds one learned scalar per site
      (SAID: θ_i = θ0_i + λ_i P(θ^{d-m})_i, m sites, d counting the λs).

    ``compacter`` (a bottleneck of PHM layers, W = Σ A_i ⊗ B_i) reads ``phm_dim``: n, the number of
    Kronecker products and the size of each shared A_i (4 when left out).
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
    # left out of the serialised form when unset, so methods written before it keep their hash
    phm_dim: Int | None = Field(default=None, ge=1, exclude_if=lambda v: v is None)
    where_present: bool = Field(default=False, exclude_if=lambda v: not v)  # serialised only when True

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


def can_be_absent(d: DeltaSpec) -> bool:
    """Whether some supported model lacks every site of ``d``: a cross-attention position (only
    encoder-decoder models have one) or one named stack (an encoder-only model has no decoder)."""
    info = POSITIONS[d.position]
    return info.kind != "embeddings" and (info.sublayer == "cross_attn" or d.stack != "all")


def _combination_problems(d: DeltaSpec) -> list[str]:
    """Every clash between fields, each phrased as 'fields: why'. The rules are generic over the
    registries; a form's own rules are its declaration's ``problems``."""
    form = FORMS[d.form]
    info = POSITIONS[d.position]
    out = _site_problems(d, form.sites, info.kind)
    out += _insertion_problems(d, form.insertions, form.no_insertion)
    out += _composition_problems(d, info.kind)
    if d.init not in form.inits:
        out.append(
            f"form={d.form!r} and init={d.init!r} clash: {form.init_clash or f'it starts from {form.inits}'}"
        )
    if d.heads == "multi" and info.kind != "heads":
        out.append(f"heads='multi' and position={d.position!r} clash: only *_heads positions are per head")
    if d.heads == "single" and info.kind == "heads":
        out.append(f"heads='single' and position={d.position!r} clash: a head position is per head")
    if info.kind == "embeddings" and d.layers != "all":
        out.append("layers clashes with position='embeddings': the prompt sits at the input, before layer 0")
    if info.sublayer == "cross_attn" and d.stack == "encoder":
        out.append(f"position={d.position!r} and stack='encoder' clash: cross-attention is in the decoder")
    if d.where_present and not can_be_absent(d):
        out.append(
            f"where_present=True and position={d.position!r} with stack={d.stack!r} clash: every model "
            "has that site; where_present is for cross-attention positions or one named stack"
        )
    return out + _form_field_problems(d) + list(form.problems(d, info.kind))


def _site_problems(d: DeltaSpec, sites: tuple[str, ...], kind: str) -> list[str]:
    out: list[str] = []
    if kind not in sites:
        allowed = sorted(p for p, i in POSITIONS.items() if i.kind in sites)
        out.append(
            f"form={d.form!r} and position={d.position!r} clash: a {d.form} delta acts on "
            f"{'/'.join(sites)} sites, and {d.position!r} is a {kind} site; allowed positions: {allowed}"
        )
    size_meaning = FORMS[d.form].size
    if size_meaning is not None:
        if d.size is None:
            out.append(f"size is required for form={d.form!r} ({size_meaning})")
        elif d.size <= 0:
            out.append(f"size={d.size} must be a positive integer")
    elif d.size is not None:
        out.append(f"size={d.size} clashes with form={d.form!r}: a {d.form} vector has no size")
    return out


def _insertion_problems(d: DeltaSpec, insertions: tuple[str, ...], no_insertion: str) -> list[str]:
    if not insertions:
        if d.insertion is not None:
            return [f"insertion={d.insertion!r} clashes with form={d.form!r}: {no_insertion}"]
        return []
    if d.insertion is None:
        return [f"insertion is required for form={d.form!r} ({' or '.join(insertions)})"]
    if d.insertion not in insertions:
        reads = " or ".join(f"{INSERTIONS[i].reads} ({i})" for i in insertions)
        what = "x" if reads.startswith("input") else "h"
        return [
            f"form={d.form!r} and insertion={d.insertion!r} clash: {d.form} reads {what} ({'/'.join(insertions)})"
        ]
    return []


def _composition_problems(d: DeltaSpec, kind: str) -> list[str]:
    out: list[str] = []
    form = FORMS[d.form]
    composition = COMPOSITIONS[d.composition]
    accepted = d.composition in form.compositions or (
        composition.weight_update and form.weight_update(d, kind)
    )
    if not accepted:
        if composition.weight_update:
            why = f"{d.composition!r} needs a form with an explicit ΔW, read from a projection's input"
        else:
            why = form.composition_clash
        out.append(f"form={d.form!r} and composition={d.composition!r} clash: {why}")
    if d.composition == "gated":
        if d.gate is None:
            out.append(f"composition='gated' needs gate: {' or '.join(GATES)}")
        elif kind not in GATES[d.gate].kinds:
            out.append(
                f"gate={d.gate!r} and position={d.position!r} clash: per-head and embedding deltas "
                "have no single gate input"
            )
    elif d.gate is not None:
        out.append(f"gate={d.gate!r} needs composition='gated' (got {d.composition!r})")
    for name, gate in GATES.items():
        if gate.forms is not None and (d.gate == name) != (d.form in gate.forms):
            out.append(
                f"form={d.form!r} and gate={d.gate!r} clash: {gate.formula} exists only for, "
                f"and is the composition of, {'/'.join(gate.forms)}"
            )
    if not composition.scaled and (d.scale != 1.0 or d.learn_scale):
        scaled = "/".join(repr(n) for n, c in COMPOSITIONS.items() if c.scaled)
        out.append(f"scale/learn_scale need composition={scaled} (got {d.composition!r})")
    if composition.scaled and d.scale <= 0:
        out.append(f"scale={d.scale} must be > 0")
    return out


_FIELD_DEFAULTS = {"activation": "relu", "structured": False, "seed": 0}


def _form_field_problems(d: DeltaSpec) -> list[str]:
    """Optional fields set on a form that does not read them, or missing where it needs them."""
    out: list[str] = []
    form = FORMS[d.form]
    for name in FORM_FIELDS:
        value = getattr(d, name)
        if name in form.requires and value is None:
            out.append(f"{name} is required for form={d.form!r} ({form.requires[name]})")
        elif name not in form.reads and value != _FIELD_DEFAULTS.get(name):
            owners = "/".join(repr(n) for n, f in FORMS.items() if name in f.reads)
            why = (
                "only bottlenecks have f, here"
                if name == "activation"
                else f"{name} belongs to, and is required by,"
            )
            out.append(f"{name}={value!r} clashes with form={d.form!r}: {why} form={owners}")
    return out
