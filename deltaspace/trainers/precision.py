"""Training precision from one setting: the backbone's dtype, autocast, master weights, loss scaling.

``precision`` (``TrainSettings``) is ``fp32``, ``bf16``, ``fp16`` or ``auto``:

* ``fp32``: backbone and deltas in float32, no autocast;
* ``bf16``: the frozen backbone is loaded in bfloat16 (half the memory), every trainable parameter
  is a float32 master weight (the deltas are built in float32, trainable backbone groups such as
  the head are cast up), and forward passes run under bf16 autocast, on CUDA and on CPU;
* ``fp16``: as bf16 with float16, plus a gradient scaler against underflow; CUDA only;
* ``auto``: bf16 on a GPU that supports it, fp16 on an older GPU, fp32 on CPU (where float32 is
  fastest).

`resolve_precision` turns the setting into a `Precision` for the device, refusing combinations
that cannot run before anything loads.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..space.errors import DeltaspaceError

if TYPE_CHECKING:
    import torch

PrecisionName = Literal["fp32", "bf16", "fp16"]
PrecisionSetting = Literal["fp32", "bf16", "fp16", "auto"]


@dataclass(frozen=True)
class Precision:
    """A resolved precision on one device type (``cpu`` or ``cuda``)."""

    name: PrecisionName
    device_type: str

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the frozen backbone is loaded in."""
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast to the backbone's dtype (nothing under fp32)."""
        import torch

        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only under fp16 (bf16 has float32's exponent range)."""
        import torch

        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def resolve_precision(setting: PrecisionSetting, device: torch.device) -> Precision:
    """The precision ``setting`` means on ``device``; DeltaspaceError when it cannot run there."""
    import torch

    cuda = device.type == "cuda"
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if setting == "auto":
        name: PrecisionName = ("bf16" if bf16_ok else "fp16") if cuda else "fp32"
    else:
        name = setting
    if name == "fp16" and not cuda:
        raise DeltaspaceError(
            "precision fp16 needs a CUDA GPU (fp16 training relies on loss scaling and fp16 kernels); "
            "on CPU use precision bf16 or fp32"
        )
    if name == "bf16" and cuda and not bf16_ok:
        raise DeltaspaceError(
            f"precision bf16: this GPU ({torch.cuda.get_device_name(device)}) does not support bfloat16; "
            "use precision fp16 or auto"
        )
    return Precision(name, device.type)


def keep_master_weights(model: torch.nn.Module) -> None:
    """Every trainable parameter in float32 (the deltas already are; the head, biases or layer norms
    a method trains come from the backbone in its reduced dtype). A frozen vector beside a
    trainable one in the same module follows it (a layer norm's weight beside its trained bias:
    ``layer_norm`` wants one dtype for both); frozen matrices stay as they are."""
    import torch

    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if not any(p.requires_grad for p in own):
            continue
        for p in own:
            if p.is_floating_point() and p.dtype != torch.float32 and (p.requires_grad or p.ndim < 2):
                p.data = p.data.float()
