"""Folding linear, parallel deltas into the frozen weights: no extra modules, no extra latency.

A projection h = W x + b with deltas attached stays affine in x when every delta is one of

* a low-rank update read from the projection's own input, composed by add or scaled:
  W ← W + s·B A;
* a scaling vector on its output (h ⊙ l: W ← diag(l) W, b ← l ⊙ b) or input (W ← W diag(l));
* a bias vector on its output (b ← b + v) or input (b ← b + W v);
* a weight-level delta (sparse, diff-pruning, HiWi, intrinsic): W ← W + ΔW, b ← b + Δb, with ΔW as
  the model uses it at inference (diff pruning: deterministic gates, top-k entries).

Gated, bottleneck, prefix, prompt and sublayer-parallel deltas are not affine in x and cannot merge.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..space.accounting import merge_problem
from ..space.delta import DeltaSpec
from ..space.errors import SpecError
from .attention import restore_attention
from .composition import Multiply, effective_scale
from .forms import BiasVector, LowRank, ScalingVector, WeightDelta
from .sites import DeltaLinear

__all__ = ["merge_method", "merge_problem", "merge_problems"]


def merge_problems(deltas: tuple[DeltaSpec, ...]) -> list[str]:
    return [
        f"delta {i} ({d.form} at {d.position}): {p}" for i, d in enumerate(deltas) if (p := merge_problem(d))
    ]


@torch.no_grad()
def _fold(linear: DeltaLinear) -> nn.Module:
    base = linear.base
    weight = linear.weight_out_in()  # a view: writes land in base.weight
    if base.bias is None and any(isinstance(a.delta, BiasVector) for a in [*linear.inputs, *linear.outputs]):
        base.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device))
    in_scale = torch.ones(weight.shape[1], dtype=weight.dtype, device=weight.device)
    in_shift = torch.zeros_like(in_scale)
    for attachment in linear.inputs:  # x' = in_scale ⊙ x + in_shift, composed in order
        vector = attachment.delta.vector.to(weight.dtype)
        if isinstance(attachment.delta, ScalingVector):
            in_scale, in_shift = in_scale * vector, in_shift * vector
        else:
            in_shift = in_shift + vector
    # weight-level deltas may read W itself (HiWi): compute them all before W changes
    weight_deltas = {
        id(a): a.delta.merged_delta() for a in linear.outputs if isinstance(a.delta, WeightDelta)
    }
    original = weight.clone()
    weight.mul_(in_scale)
    if base.bias is not None:
        base.bias.add_(original @ in_shift)
    for attachment in linear.outputs:
        a, b = attachment.out_slice or (0, weight.shape[0])
        delta = attachment.delta
        if isinstance(delta, LowRank):
            delta_w = effective_scale(attachment.composition) * delta.delta_weight().to(weight.dtype)
            weight[a:b] += delta_w * in_scale
            if base.bias is not None:
                base.bias[a:b] += delta_w @ in_shift
        elif isinstance(delta, WeightDelta):
            delta_w, delta_b = weight_deltas[id(attachment)]
            weight[a:b] += delta_w.to(weight.dtype) * in_scale
            if base.bias is not None:
                base.bias[a:b] += delta_w.to(weight.dtype) @ in_shift
                if delta_b is not None:
                    base.bias[a:b] += delta_b.to(weight.dtype)
        elif isinstance(attachment.composition, Multiply):
            vector = delta.vector.to(weight.dtype)
            weight[a:b] *= vector[:, None]
            if base.bias is not None:
                base.bias[a:b] *= vector
        else:
            base.bias[a:b] += delta.vector.to(weight.dtype)
    return base


def merge_method(applied: Any) -> Any:
    """Fold every delta of an applied method into the weights and remove the delta modules.

    Raises SpecError naming each delta that cannot be merged (nothing is changed then).
    """
    problems = merge_problems(applied.spec.deltas)
    if problems:
        raise SpecError(f"method {applied.spec.name!r} cannot be merged: " + "; ".join(problems))
    model = applied.model
    wrapped = [(name, m) for name, m in model.named_modules() if isinstance(m, DeltaLinear)]
    for name, linear in wrapped:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, _fold(linear))
    if hasattr(model, "ds_shared"):  # subspaces shared by weight-level deltas, now folded in
        del model.ds_shared
    restore_attention(model)
    return model
