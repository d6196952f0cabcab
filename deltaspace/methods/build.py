"""`apply_method`: freeze a Hugging Face model and insert a MethodSpec's deltas into it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..space.accounting import ParamCount, count_method, present_stacks, site_dims, subspace_key
from ..space.delta import DeltaSpec
from ..space.dimensions import POSITIONS
from ..space.errors import SpecError
from ..space.forms import FORMS
from ..space.insertions import reads
from ..space.method import HeadSpec, MethodSpec
from .attention import HeadDeltas, enable_head_deltas
from .composition import build_composition
from .families import FamilyTable, family_for
from .forms import FrozenWeight, Site, build_form
from .loading import model_dims
from .prompt import PromptHook
from .quantized import input_dtype
from .sites import Attachment, DeltaLinear, InputAttachment, Tap
from .trainable import pooler_in_head, set_declared_trainable

SUBLAYER_OUTPUT = {"self_attn": "attn_out", "cross_attn": "cross_attn_out", "ffn": "ffn_out"}
SUBLAYER_INPUT = {"self_attn": "query", "cross_attn": "cross_query", "ffn": "ffn_in"}


@dataclass
class AppliedMethod:
    """A model with a method's deltas inserted, and the method's exact parameter count."""

    model: Any
    spec: MethodSpec
    counts: ParamCount
    hooks: list[Any] = field(default_factory=list)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    @property
    def absent(self) -> frozenset[int]:
        """Indices of the ``where_present`` deltas this model has no site for (nothing was built)."""
        return frozenset(b.index for b in self.counts.breakdown if not b.sites)

    def on_model(self) -> MethodSpec:
        """The method as this model holds it, its absent deltas left out (what export converts;
        the spec itself, and its hash, keep them)."""
        deltas = tuple(d for i, d in enumerate(self.spec.deltas) if i not in self.absent)
        return self.spec.model_copy(update={"deltas": deltas})

    def trainable_numel(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def merge(self) -> Any:
        from .merge import merge_method

        return merge_method(self)

    def regularization_loss(self) -> torch.Tensor:
        """The penalties the deltas add to the task loss (diff pruning's L0 term), summed; 0 if none."""
        from .sparse import regularization_loss

        return regularization_loss(self.model)

    def after_step(self, step: int, schedule_steps: int) -> bool:
        """Phase changes the deltas make during training, run by the loop after each step (diff
        pruning fixes its projected mask two thirds into the schedule); True when one happened."""
        from .sparse import fix_diff_masks_at

        return fix_diff_masks_at(self.model, step, schedule_steps)


def head_spec_of(model: Any) -> HeadSpec:
    name = type(model).__name__
    if "SequenceClassification" in name:
        pooler = pooler_in_head(model) is not None
        if getattr(model.config, "problem_type", None) == "regression" or model.config.num_labels == 1:
            return HeadSpec(kind="regression", pooler_trains=pooler)
        return HeadSpec(kind="sequence_classification", num_labels=model.config.num_labels, pooler_trains=pooler)
    if "ConditionalGeneration" in name or "Seq2Seq" in name:
        return HeadSpec(kind="seq2seq")
    if "CausalLM" in name or "LMHead" in name:
        return HeadSpec(kind="causal_lm")
    return HeadSpec(kind="none")


class _Sites:
    """Finds and wraps the modules a position names in one model."""

    def __init__(self, model: Any, family: FamilyTable):
        self.model = model
        self.family = family
        self.base = model.base_model
        self.sizes = family.sizes(model.config)
        self.site_numbers: dict[int, int] = {}  # delta index -> sites built so far
        self.groups: dict[object, tuple[int, dict[str, nn.Module]]] = {}  # shared modules of deltas
        self.group_sites: dict[object, int] = {}
        self.group_shapes: dict[object, tuple[int, int]] = {}  # widest (out, in) of a group's sites

    def site(self, delta: DeltaSpec, index: int, kind: str, in_dim: int, out_dim: int, **extra: Any) -> Site:
        """The site handed to a form's builder: its widths, number and the group's shared modules."""
        number = self.site_numbers.get(index, 0)
        self.site_numbers[index] = number + 1
        key = subspace_key(delta) or index
        _, shared = self.groups.setdefault(key, (index, {}))
        return Site(
            kind,
            in_dim,
            out_dim,
            number=number,
            shared=shared,
            group_sites=self.group_sites.get(key, 1),
            group_shape=self.group_shapes.get(key),
            **extra,
        )

    def register_shared(self) -> None:
        """Own every module shared by several sites once, at the model's root (``ds_shared``)."""
        shared = {
            f"{name}_{index}": m for index, modules in self.groups.values() for name, m in modules.items()
        }
        if shared:
            self.model.ds_shared = nn.ModuleDict(shared)

    def layers(self, delta: DeltaSpec) -> Iterator[nn.Module]:
        """The layers holding ``delta``'s sites; none for a ``where_present`` delta the model lacks."""
        found = False
        for stack in present_stacks(delta, self.family.stacks_present(self.model.config)):
            layer_list = self.base.get_submodule(stack.layers_path)
            for i in delta.layer_indices(len(layer_list)):
                found = True
                yield layer_list[i]
        if not found and not delta.where_present:
            raise SpecError(
                f"position {delta.position!r} (stack={delta.stack!r}) does not exist in this "
                f"{self.model.config.model_type} model"
            )

    def _locate(self, layer: nn.Module, position: str) -> tuple[str, int | None]:
        site = self.family.weights.get(position)
        if site is None:
            raise SpecError(f"position {position!r} does not exist in the {self.family.name} family")
        return (site, None) if isinstance(site, str) else site

    def projection(self, layer: nn.Module, position: str) -> tuple[nn.Module, tuple[int, int] | None]:
        """The frozen projection at ``position`` (unwrapped) and its output slice, if fused."""
        path, third = self._locate(layer, position)
        module = layer.get_submodule(path)
        module = module.base if isinstance(module, DeltaLinear) else module
        return module, _third_slice(module.weight.shape[1 if self.family.conv1d else 0], third)

    def linear(self, layer: nn.Module, position: str) -> tuple[DeltaLinear, tuple[int, int] | None]:
        """The projection at ``position`` wrapped as a DeltaLinear (wrapping it on first use)."""
        path, third = self._locate(layer, position)
        module = layer.get_submodule(path)
        if not isinstance(module, DeltaLinear):
            module = DeltaLinear(module, conv1d=self.family.conv1d)
            parent_path, _, child = path.rpartition(".")
            setattr(layer.get_submodule(parent_path) if parent_path else layer, child, module)
        return module, _third_slice(module.weight_out_in().shape[0], third)

    def attention(self, layer: nn.Module, sublayer: str) -> nn.Module:
        return layer.get_submodule(self.family.attention[sublayer])

    def word_embeddings(self) -> nn.Module:
        return self.base.get_submodule(self.family.embeddings)


def _third_slice(width: int, third: int | None) -> tuple[int, int] | None:
    if third is None:
        return None
    part = width // 3
    return third * part, (third + 1) * part


def _out_in(linear: DeltaLinear, out_slice: tuple[int, int] | None) -> tuple[int, int]:
    out_dim, in_dim = linear.weight_out_in().shape
    if out_slice is not None:
        out_dim = out_slice[1] - out_slice[0]
    return out_dim, in_dim


def _attach_output(
    sites: _Sites,
    linear: DeltaLinear,
    out_slice: tuple[int, int] | None,
    source: Any,
    source_dim: int,
    delta: DeltaSpec,
    index: int,
    **extra: Any,
) -> None:
    """Build ``delta`` reading ``source`` and compose it into (a slice of) ``linear``'s output."""
    out_dim, _ = _out_in(linear, out_slice)
    site = sites.site(delta, index, POSITIONS[delta.position].kind, source_dim, out_dim, **extra)
    form = build_form(delta, site)
    composition = build_composition(delta, site, form)
    linear.outputs.append(Attachment(form, composition, source, out_slice, index))


def _insert_weight(sites: _Sites, layer: nn.Module, delta: DeltaSpec, index: int) -> None:
    """At a projection: x is its input, h its output (a weight-level form reads x and W)."""
    linear, out_slice = sites.linear(layer, delta.position)
    out_dim, in_dim = _out_in(linear, out_slice)
    if FORMS[delta.form].reads_input:  # the form changes what the projection reads (OFT)
        if out_slice is not None:
            raise SpecError(
                f"{delta.form} at {delta.position}: this {sites.family.name} model fuses q, k and v in one "
                "projection, whose input cannot be changed for one of them"
            )
        site = sites.site(delta, index, "weight", in_dim, in_dim)
        form = build_form(delta, site)
        linear.inputs.append(InputAttachment(form, build_composition(delta, site, form), index))
        return
    source = reads(delta.insertion)
    frozen = FrozenWeight(linear.base, sites.family.conv1d, out_slice)
    source_dim = in_dim if source == "input" else out_dim
    _attach_output(sites, linear, out_slice, source, source_dim, delta, index, frozen=frozen)


def _insert_sublayer(sites: _Sites, layer: nn.Module, delta: DeltaSpec, index: int) -> None:
    """At a sublayer: h is its output projection's output, x what its first projection read."""
    sublayer = POSITIONS[delta.position].sublayer
    linear, _ = sites.linear(layer, SUBLAYER_OUTPUT[sublayer])
    source: Any = "output"
    source_dim = linear.weight_out_in().shape[0]
    if reads(delta.insertion) == "input":
        reader, _ = sites.linear(layer, SUBLAYER_INPUT[sublayer])
        source = Tap()
        reader.taps.append(source)
        source_dim = reader.weight_out_in().shape[1]
    _attach_output(sites, linear, None, source, source_dim, delta, index)


def _insert_hidden(sites: _Sites, layer: nn.Module, delta: DeltaSpec, index: int) -> None:
    linear, _ = sites.linear(layer, "ffn_out")
    dim = linear.weight_out_in().shape[1]
    site = sites.site(delta, index, "hidden", dim, dim)
    form = build_form(delta, site)
    linear.inputs.append(InputAttachment(form, build_composition(delta, site, form), index))


@torch.no_grad()
def _prefix_scales(sites: _Sites, layer: nn.Module, sublayer: str) -> tuple[float, float]:
    """Spread of the frozen keys and values of real token embeddings: the prefix init scale."""
    tokens = sites.word_embeddings().weight
    sample = tokens[torch.randint(0, tokens.shape[0], (256,))].float()
    prefix = "cross_" if sublayer == "cross_attn" else ""
    out = []
    for pos in ("key", "value"):
        projection, out_slice = sites.projection(layer, prefix + pos)
        projected = projection(sample.to(input_dtype(projection))).float()
        if out_slice is not None:
            projected = projected[..., out_slice[0] : out_slice[1]]
        out.append(float(projected.std()))
    return out[0], out[1]


def _insert_heads(sites: _Sites, layer: nn.Module, delta: DeltaSpec, index: int) -> None:
    sublayer = POSITIONS[delta.position].sublayer
    attention = sites.attention(layer, sublayer)
    if not hasattr(attention, "ds_heads"):
        attention.ds_heads = HeadDeltas()
    enable_head_deltas(sites.model)
    heads, kv_heads, head_dim = (sites.sizes[k] for k in ("heads", "kv_heads", "head_dim"))
    site = sites.site(
        delta,
        index,
        "heads",
        head_dim,
        head_dim,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        key_value_std=lambda: _prefix_scales(sites, layer, sublayer),
    )
    form = build_form(delta, site)
    attention.ds_heads.add(form, build_composition(delta, site, form), reads(delta.insertion), index)


def _insert_embeddings(sites: _Sites, delta: DeltaSpec, index: int) -> Any:
    embeddings = sites.word_embeddings()
    hidden = embeddings.weight.shape[1]
    site = sites.site(delta, index, "embeddings", hidden, hidden, embeddings=embeddings.weight.detach())
    prompt = build_form(delta, site)
    sites.model.ds_prompt = prompt
    return sites.model.register_forward_pre_hook(PromptHook(prompt, embeddings), with_kwargs=True)


_INSERT = {
    "weight": _insert_weight,
    "sublayer": _insert_sublayer,
    "hidden": _insert_hidden,
    "heads": _insert_heads,
}


def apply_method(model: Any, spec: MethodSpec, head: HeadSpec | None = None) -> AppliedMethod:
    """Freeze ``model``, insert ``spec``'s deltas in place and unfreeze what ``spec.trainable`` names.

    Raises ``UnsupportedModelError`` for model types without a family table and ``SpecError``
    for positions or layers the model lacks.
    """
    family = family_for(model.config)
    dims = model_dims(model.config, head or head_spec_of(model))
    counts = count_method(spec, dims)
    set_declared_trainable(model, spec.trainable)
    sites = _Sites(model, family)
    for index, delta in enumerate(spec.deltas):
        key = subspace_key(delta) or index
        sites.group_sites[key] = sites.group_sites.get(key, 0) + counts.breakdown[index].sites
        i, o = site_dims(delta, dims)
        wide = sites.group_shapes.get(key, (0, 0))
        sites.group_shapes[key] = (max(wide[0], o), max(wide[1], i))
    applied = AppliedMethod(model=model, spec=spec, counts=counts)
    device = next(model.parameters()).device
    for index, delta in enumerate(spec.deltas):
        kind = POSITIONS[delta.position].kind
        if kind == "embeddings":  # once, before the first layer
            applied.hooks.append(_insert_embeddings(sites, delta, index))
            continue
        for layer in sites.layers(delta):
            _INSERT[kind](sites, layer, delta, index)
    sites.register_shared()
    model.to(device)
    return applied
