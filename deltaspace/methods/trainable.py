"""Which backbone parameters a MethodSpec's ``trainable`` names: head, layer norms, biases, all."""

from __future__ import annotations

from typing import Any


def _is_norm(module: Any) -> bool:
    name = type(module).__name__
    return "LayerNorm" in name or "RMSNorm" in name


def _output_embeddings(model: Any) -> list[Any]:
    """A language model's pretrained output projection (None on a task head's model)."""
    getter = getattr(model, "get_output_embeddings", None)
    module = getter() if getter is not None else None
    return list(module.parameters()) if module is not None else []


_POOLER_IN_HEAD = "_deltaspace_pooler_in_head"


def put_pooler_in_head(model: Any) -> None:
    """Count the backbone's pooler (if it has one) as part of the task head: it trains with the
    head (``HeadSpec.pooler_trains``). A mark on the module, so copies and counts agree."""
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is not None and any(True for _ in pooler.parameters()):
        setattr(pooler, _POOLER_IN_HEAD, True)


def pooler_in_head(model: Any) -> tuple[str, Any] | None:
    """(qualified name, module) of a pooler that ``put_pooler_in_head`` marked, else None."""
    for name, module in model.named_modules():
        if getattr(module, _POOLER_IN_HEAD, False):
            return name, module
    return None


def backbone_parameter_groups(model: Any) -> dict[str, list[Any]]:
    """Parameters grouped as backbone (under ``model.base_model``, less a pooler counted as head,
    plus a language model's own output projection: pretrained, not a task head), head (the rest),
    biases, layer-norm weights and layer-norm biases of the backbone. Tied parameters count once
    (named_parameters dedups)."""
    base = model.base_model
    marked = pooler_in_head(model)
    head_ids = {id(p) for p in marked[1].parameters()} if marked is not None else set()
    backbone = [p for p in base.parameters() if id(p) not in head_ids]
    backbone_ids = {id(p) for p in backbone}
    lm_output = [p for p in _output_embeddings(model) if id(p) not in backbone_ids and id(p) not in head_ids]
    backbone_ids |= {id(p) for p in lm_output}
    norm_weights, norm_biases = [], []
    for module in base.modules():
        if _is_norm(module) and getattr(module, "weight", None) is not None:
            norm_weights.append(module.weight)
        if _is_norm(module) and getattr(module, "bias", None) is not None:
            norm_biases.append(module.bias)
    return {
        "backbone": [*backbone, *lm_output],
        "head": [p for p in model.parameters() if id(p) not in backbone_ids],
        "biases": [p for n, p in base.named_parameters() if n.endswith("bias") and id(p) not in head_ids],
        "layer_norm_weights": norm_weights,
        "layer_norm_biases": norm_biases,
    }


def layer_norm_parameters(model: Any) -> list[Any]:
    out = []
    for module in model.base_model.modules():
        if _is_norm(module):
            out.extend(module.parameters(recurse=False))
    return out


def set_declared_trainable(model: Any, trainable: tuple[str, ...]) -> None:
    """Freeze everything, then unfreeze the groups named in ``trainable``."""
    model.requires_grad_("all" in trainable)
    if "all" in trainable:
        return
    groups = backbone_parameter_groups(model)
    selected = []
    if "head" in trainable:
        selected += groups["head"]
    if "biases" in trainable:
        selected += groups["biases"]
    if "layer_norms" in trainable:
        selected += layer_norm_parameters(model)
    for p in selected:
        p.requires_grad_(True)
