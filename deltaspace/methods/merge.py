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

from collections.abc import Collection
from typing import Any

import torch
from torch import nn

from ..space.accounting import merge_problem
from ..space.delta import DeltaSpec
from ..space.errors import SpecError
from .attention import restore_attention
from .sites import DeltaLinear

__all__ = ["merge_method", "merge_problem", "merge_problems"]


def merge_problems(deltas: tuple[DeltaSpec, ...], absent: Collection[int] = ()) -> list[str]:
    """Why each delta cannot merge, skipping ``absent`` ones (``where_present``, no site here)."""
    return [
        f"delta {i} ({d.form} at {d.position}): {p}"
        for i, d in enumerate(deltas)
        if i not in absent and (p := merge_problem(d))
    ]


@torch.no_grad()
def _fold(linear: DeltaLinear) -> nn.Module:
    """Fold every attachment of ``linear`` into its W and b: each form gives its affine Δh =
    x Aᵀ + c (``affine()``) and each composition folds it (``fold`` / ``fold_input``)."""
    base = linear.base
    weight = linear.weight_out_in()  # a view: writes land in base.weight
    # forms may read W itself (HiWi): take every affine term before W changes
    affine = {id(a): a.delta.affine() for a in [*linear.inputs, *linear.outputs]}
    if base.bias is None and any(c is not None for _, c in affine.values()):
        base.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device))
    # the input deltas compose into x' = x Mᵀ + t (a scaling vector: M = diag(l); OFT: M = Rᵀ)
    in_matrix = torch.eye(weight.shape[1], dtype=weight.dtype, device=weight.device)
    in_shift = torch.zeros(weight.shape[1], dtype=weight.dtype, device=weight.device)
    for attachment in linear.inputs:
        a_in, c_in = affine[id(attachment)]
        cast = (
            None if a_in is None else a_in.to(weight.dtype),
            None if c_in is None else c_in.to(weight.dtype),
        )
        in_matrix, in_shift = attachment.composition.fold_input(in_matrix, in_shift, cast)
    original = weight.clone()
    weight.copy_(original @ in_matrix)
    if base.bias is not None:
        base.bias.add_(original @ in_shift)
    for attachment in linear.outputs:
        a, b = attachment.out_slice or (0, weight.shape[0])
        delta_w, delta_b = affine[id(attachment)]
        if delta_w is not None:  # the output deltas read x' too: ΔW x' = ΔW M x + ΔW t
            shift = delta_w.to(weight.dtype) @ in_shift
            delta_w = delta_w.to(weight.dtype) @ in_matrix
            delta_b = shift if delta_b is None else delta_b.to(weight.dtype) + shift
        bias = None if base.bias is None else base.bias[a:b]
        attachment.composition.fold(weight[a:b], bias, (delta_w, delta_b), attachment.delta)
    return base


def merge_method(applied: Any) -> Any:
    """Fold every delta of an applied method into the weights and remove the delta modules.

    Raises SpecError naming each delta that cannot be merged (nothing is changed then).
    """
    problems = merge_problems(applied.spec.deltas, applied.absent)
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
