"""Memory settings of a trial: gradient checkpointing, and the estimate of what a trial will need.

`estimate_for` reads a trial's settings (batch, lengths, precision, checkpointing, quantisation)
into ``deltaspace.space.memory.estimate_memory``; ``precision: auto`` is taken as this machine
resolves it (a study's budget is checked where its trials run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..space.errors import DeltaspaceError
from ..space.memory import MemoryEstimate, estimate_memory
from .settings import TrainSettings

if TYPE_CHECKING:
    from ..space.accounting import ModelDims, ParamCount


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each layer in the backward pass instead of keeping its activations.

    Non-reentrant checkpointing: gradients reach the deltas inside a layer although the layer's
    input (a frozen embedding's output) needs none."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise DeltaspaceError(
            f"gradient_checkpointing: {type(model).__name__} does not support gradient checkpointing"
        )
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers ≥ 5's name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def estimate_for(settings: TrainSettings, dims: ModelDims, count: ParamCount, head: str) -> MemoryEstimate:
    """The peak memory of a trial with ``settings`` (see ``deltaspace.space.memory``)."""
    import torch

    cuda = torch.cuda.is_available()
    precision = settings.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    return estimate_memory(
        dims,
        count,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        target_length=settings.max_target_length,
        precision=precision,
        gradient_checkpointing=settings.gradient_checkpointing,
        quantization=settings.quantization,
        head=head,
        fused_attention=cuda,
    )
