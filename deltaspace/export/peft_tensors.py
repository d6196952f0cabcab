"""Copying deltaspace's trained delta tensors into the parameters of an equivalent peft model.

Name correspondences (deltaspace module → peft parameter):

* ``LowRank.down`` / ``.up`` at a projection → ``lora_A`` / ``lora_B`` of that projection; DoRA's
  ``magnitude`` → ``lora_magnitude_vector``;
* ``ScalingVector`` on a projection's output → ``ia3_l`` (out, 1); on its input → ``ia3_l`` (1, in);
* ``ds_heads.prefixes[i].keys/values`` (kv_heads, l, head_dim) per layer → the prefix encoder's
  embedding (l, layers·2·kv_heads·head_dim), laid out as peft's ``get_prompt`` views it:
  ``[token, layer, key|value, head, dim]``;
* ``ds_prompt.embedding`` (l, hidden) → the prompt encoder's embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from deltaspace.methods.composition import effective_scale
from deltaspace.methods.forms import OFT, LoHa, LoKr, LowRank, ScalingVector, Vera
from deltaspace.methods.sites import DeltaLinear


def head_modules(model: Any) -> list[str]:
    """Top-level modules outside the backbone that hold their own parameters (the task head), and
    a pooler that trains with the head (``HeadSpec.pooler_trains``), by its qualified name."""
    from deltaspace.methods.trainable import pooler_in_head

    if model.base_model is model:
        return []
    backbone = {id(p) for p in model.base_model.parameters()}
    names = [
        name
        for name, child in model.named_children()
        if any(id(p) not in backbone for p in child.parameters())
    ]
    pooler = pooler_in_head(model)
    return names + [pooler[0]] if pooler is not None else names


def _low_rank(module: DeltaLinear) -> list[tuple[torch.Tensor, torch.Tensor, float, tuple[int, int] | None]]:
    """(A, B, s, output slice) of every low-rank term on ``module``, against the original W: a
    LoRA initialised from W (PiSSA, OLoRA) adds its initial factors with the sign flipped."""
    out = []
    for attachment in module.outputs:
        if isinstance(attachment.delta, LowRank):
            low = attachment.delta
            scale = effective_scale(attachment.composition)
            assert scale is not None, "peft_tuner admits only add/scaled/decomposed low-rank deltas"
            out.append((low.down.weight.detach(), low.up.weight.detach(), scale, attachment.out_slice))
            if low.initial is not None:
                a0, b0 = low.initial
                out.append((a0, -b0, scale, attachment.out_slice))
    return out


def lora_pair(module: DeltaLinear) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """(A, B, r, lora_alpha) of the LoRA equal to every low-rank term on ``module``.

    One full-width term keeps its own A, B and α = s·r. Several, or one on a slice of a fused
    projection, stack their A's, place each s·B in its rows and columns, and use α = r (s = 1).
    """
    terms = _low_rank(module)
    if len(terms) == 1 and terms[0][3] is None:
        a, b, scale, _ = terms[0]
        return a, b, a.shape[0], scale * a.shape[0]
    out_dim = module.weight_out_in().shape[0]
    a = torch.cat([term[0] for term in terms])
    b = torch.zeros(out_dim, a.shape[0], dtype=a.dtype)
    col = 0
    for low_a, low_b, scale, out_slice in terms:
        rows = slice(*(out_slice or (0, out_dim)))
        rank = low_a.shape[0]
        b[rows, col : col + rank] = scale * low_b
        col += rank
    return a, b, a.shape[0], float(a.shape[0])


def lora_ranks(model: Any) -> dict[str, tuple[int, float]]:
    return {
        name: lora_pair(m)[2:]
        for name, m in model.named_modules()
        if isinstance(m, DeltaLinear) and _low_rank(m)
    }


def _adapted(wrapped: Any, name: str) -> Any:
    return wrapped.base_model.model.get_submodule(name)


@torch.no_grad()
def _copy(target: torch.Tensor, value: torch.Tensor, what: str) -> None:
    if target.numel() != value.numel():
        raise ValueError(f"{what}: peft expects {tuple(target.shape)}, deltaspace has {tuple(value.shape)}")
    target.copy_(value.reshape(target.shape).to(target.dtype))


def write_lora(model: Any, wrapped: Any) -> None:
    for name, module in model.named_modules():
        if isinstance(module, DeltaLinear) and _low_rank(module):
            a, b, _, _ = lora_pair(module)
            layer = _adapted(wrapped, name)
            _copy(layer.lora_A["default"].weight, a, f"{name}.lora_A")
            _copy(layer.lora_B["default"].weight, b, f"{name}.lora_B")


def write_dora(model: Any, wrapped: Any) -> None:
    """LoRA's A and B, and each row's magnitude m (rows without a DoRA delta keep ‖W‖_row)."""
    write_lora(model, wrapped)
    for name, module in model.named_modules():
        if isinstance(module, DeltaLinear) and _low_rank(module):
            weight = module.weight_out_in().detach()
            magnitude = torch.linalg.norm(weight, dim=1)
            for attachment in module.outputs:
                if hasattr(attachment.composition, "magnitude"):
                    a, b = attachment.out_slice or (0, weight.shape[0])
                    magnitude[a:b] = attachment.composition.magnitude.detach()
            target = _adapted(wrapped, name).lora_magnitude_vector["default"].weight
            _copy(target, magnitude, f"{name}.lora_magnitude_vector")


def attached(model: Any, cls: type) -> dict[str, tuple[Any, float]]:
    """Module path -> (the ``cls`` delta on it, its scale s) for full-width deltas of one kind."""
    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, DeltaLinear):
            continue
        for attachment in module.outputs:
            if isinstance(attachment.delta, cls):
                scale = effective_scale(attachment.composition)
                if attachment.out_slice is not None or name in out or scale is None:
                    raise ValueError(
                        f"{name}: peft keeps one full-width {cls.__name__} per module, composed linearly"
                    )
                out[name] = (attachment.delta, scale)
    return out


def write_loha(model: Any, wrapped: Any) -> None:
    for name, (loha, _) in attached(model, LoHa).items():
        layer = _adapted(wrapped, name)
        for part in ("w1a", "w1b", "w2a", "w2b"):
            _copy(getattr(layer, f"hada_{part[:2]}_{part[2]}")["default"], getattr(loha, part).detach(), name)


def write_lokr(model: Any, wrapped: Any) -> None:
    """W1 → ``lokr_w1``; W2 → ``lokr_w2``, or its factors → ``lokr_w2_a``, ``lokr_w2_b`` (peft decides
    the same split from r and the shapes); s lives in peft's α = s·r."""
    for name, (lokr, _) in attached(model, LoKr).items():
        layer = _adapted(wrapped, name)
        _copy(layer.lokr_w1["default"], lokr.w1.detach(), f"{name}.w1")
        parts = ("lokr_w2_a", "lokr_w2_b") if len(lokr.w2) == 2 else ("lokr_w2",)
        for part, tensor in zip(parts, lokr.w2, strict=True):
            _copy(getattr(layer, part)["default"], tensor.detach(), f"{name}.{part}")


def write_vera(model: Any, wrapped: Any) -> None:
    """λ_b (times s) and λ_d per module; the shared A and B once (peft saves them)."""
    for name, (vera, scale) in attached(model, Vera).items():
        layer = _adapted(wrapped, name)
        _copy(layer.vera_lambda_b["default"], scale * vera.lambda_b.detach(), f"{name}.lambda_b")
        _copy(layer.vera_lambda_d["default"], vera.lambda_d.detach(), f"{name}.lambda_d")
        projections = vera.projections.module
        _copy(wrapped.base_model.vera_A["default"], projections.a, "vera_A")
        _copy(wrapped.base_model.vera_B["default"], projections.b, "vera_B")


def oft_blocks(model: Any) -> dict[str, int]:
    """Module path -> OFT block size, for every projection with an OFT input rotation."""
    return {
        name: a.delta.block
        for name, module in model.named_modules()
        if isinstance(module, DeltaLinear)
        for a in module.inputs
        if isinstance(a.delta, OFT)
    }


def write_oft(model: Any, wrapped: Any) -> None:
    for name in oft_blocks(model):
        (oft,) = [a.delta for a in model.get_submodule(name).inputs if isinstance(a.delta, OFT)]
        _copy(_adapted(wrapped, name).oft_R["default"].weight, oft.weight.detach(), f"{name}.oft_R")


def layer_norm_modules(model: Any) -> list[str]:
    """Paths of the backbone's layer norms (LN tuning's targets)."""
    from deltaspace.methods.trainable import layer_norm_parameters

    owned = {id(p) for p in layer_norm_parameters(model)}
    return [
        name
        for name, module in model.named_modules()
        if any(id(p) in owned for p in module.parameters(recurse=False))
    ]


def write_ln_tuning(model: Any, wrapped: Any) -> None:
    for name in layer_norm_modules(model):
        trained = model.get_submodule(name)
        copy = _adapted(wrapped, name).ln_tuning_layers["default"]
        for key, value in trained.named_parameters(recurse=False):
            _copy(getattr(copy, key), value.detach(), f"{name}.{key}")


def write_ia3(model: Any, wrapped: Any) -> None:
    for name, module in model.named_modules():
        if not isinstance(module, DeltaLinear):
            continue
        out_dim, in_dim = module.weight_out_in().shape
        vector: torch.Tensor | None = None
        for attachment in module.inputs:  # feed-forward IA3: x ⊙ l before the projection
            if isinstance(attachment.delta, ScalingVector):
                vector = (torch.ones(in_dim) if vector is None else vector) * attachment.delta.vector.detach()
        for attachment in module.outputs:  # h ⊙ l, on a slice of a fused projection when sliced
            if isinstance(attachment.delta, ScalingVector):
                vector = torch.ones(out_dim) if vector is None else vector
                a, b = attachment.out_slice or (0, out_dim)
                vector[a:b] = vector[a:b] * attachment.delta.vector.detach()
        if vector is not None:
            _copy(_adapted(wrapped, name).ia3_l["default"], vector, f"{name}.ia3_l")


def prefix_embedding(model: Any) -> torch.Tensor:
    """Every layer's P_k, P_v in peft's prefix layout (l, layers·2·kv_heads·head_dim)."""
    layers = []
    for module in model.modules():
        heads = getattr(module, "ds_heads", None)
        if heads is not None and len(heads.prefixes):
            keys = torch.cat([p.keys.detach() for p in heads.prefixes], dim=1)  # (kv, l, hd)
            values = torch.cat([p.values.detach() for p in heads.prefixes], dim=1)
            layers.append(torch.stack([keys, values]))  # (2, kv, l, hd)
    stacked = torch.stack(layers)  # (layers, 2, kv, l, hd)
    return stacked.permute(3, 0, 1, 2, 4).reshape(stacked.shape[3], -1)


def write_prefix(model: Any, wrapped: Any) -> None:
    _copy(wrapped.prompt_encoder["default"].embedding.weight, prefix_embedding(model), "prefix embedding")


def write_prompt(model: Any, wrapped: Any) -> None:
    _copy(wrapped.prompt_encoder["default"].embedding.weight, model.ds_prompt.embedding.detach(), "prompt")


TENSOR_WRITERS: dict[str, Callable[[Any, Any], None]] = {
    "lora": write_lora,
    "dora": write_dora,
    "loha": write_loha,
    "lokr": write_lokr,
    "vera": write_vera,
    "ia3": write_ia3,
    "prefix": write_prefix,
    "prompt": write_prompt,
    "ln_tuning": write_ln_tuning,
    "oft": write_oft,
}
