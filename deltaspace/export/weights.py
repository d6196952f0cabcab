"""Trained delta weights as safetensors, and the plain backbone underneath a method.

A trial's weights file holds every trainable parameter of the built model (deltas, task head,
and whatever backbone groups the method declares trainable), keyed by its name in the deltaspace
model, with the method's canonical JSON in the metadata. Rebuilding the model from the same spec
and seed and loading the file gives back the trained model exactly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from deltaspace.space.errors import DeltaspaceError

WEIGHTS_FILE = "delta.safetensors"


def trainable_state(model: Any) -> dict[str, Any]:
    """Every trainable parameter, detached on the CPU (tied parameters once)."""
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: Any, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write the trainable parameters of ``model`` to a safetensors file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(path), metadata={"format": "pt", **(metadata or {})})
    return path


def load_trainable(model: Any, path: str | Path) -> None:
    """Load a weights file into a model built from the same spec; every trainable parameter must
    be in the file and every tensor in the file must fit one."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise DeltaspaceError(f"weights file not found: {path}")
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    missing = sorted(n for n, p in params.items() if p.requires_grad and n not in tensors)
    unknown = sorted(n for n in tensors if n not in params)
    wrong = sorted(n for n, t in tensors.items() if n in params and params[n].shape != t.shape)
    if missing or unknown or wrong:
        raise DeltaspaceError(
            f"weights file {path} does not fit the rebuilt method: "
            f"missing {missing[:5]}, unknown {unknown[:5]}, wrong shape {wrong[:5]}"
        )
    import torch

    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor.to(params[name].dtype))


def plain_model(model: Any) -> Any:
    """A copy of the backbone (with its head) without any delta module: the model a method was
    applied to, carrying the trained values of its head and declared trainable groups.

    Built from the config on the meta device, then given the deltaspace model's own tensors
    (cloned) with the delta modules left out, so it costs one copy of the weights and no init.
    """
    import torch

    from deltaspace.methods.sites import DeltaLinear

    config = copy.deepcopy(model.config)
    config._attn_implementation = (config._attn_implementation or "sdpa").removeprefix("deltaspace_")
    with torch.device("meta"):
        plain = type(model)._from_config(config)
    wrapped = {name for name, m in model.named_modules() if isinstance(m, DeltaLinear)}
    state = {}
    for name, tensor in model.state_dict().items():
        if (plain_name := _plain_name(name, wrapped)) is not None:
            state[plain_name] = tensor.detach().clone()
    plain.load_state_dict(state, strict=True, assign=True)
    own_buffers = {_plain_name(n, wrapped): b for n, b in model.named_buffers()}
    for name, buffer in list(plain.named_buffers()):
        if buffer.is_meta:  # non-persistent buffers (position ids, rotary frequencies)
            owner, _, attr = name.rpartition(".")
            setattr(plain.get_submodule(owner) if owner else plain, attr, own_buffers[name].clone())
    plain.tie_weights()
    return plain.eval()


def _plain_name(name: str, wrapped: set[str]) -> str | None:
    """The name a deltaspace-model tensor has in the plain model, or None for delta tensors."""
    if name.startswith("ds_prompt.") or ".ds_heads." in name or name.startswith("ds_heads."):
        return None
    parts = name.split(".")
    for cut in range(1, len(parts)):
        if ".".join(parts[:cut]) in wrapped:
            rest = parts[cut:]
            return ".".join(parts[:cut] + rest[1:]) if rest[0] == "base" else None
    return name
