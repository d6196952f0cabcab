"""Quantised backbones (QLoRA-style): the frozen projections stored by bitsandbytes in 4-bit NF4
(Dettmers et al. 2023: NF4 with double quantisation, bf16 compute) or 8-bit (LLM.int8()).

``quantization`` (``TrainSettings``): ``none``, ``nf4`` or ``int8``. The deltas stay float32 master
weights beside the quantised layers, as in QLoRA. `quantization_problem` says, before anything
loads, why a setting cannot run here: bitsandbytes' kernels need CUDA, the package must be
installed, the weights must come from a checkpoint (a random model from a config has nothing to
quantise), and a method must not write the frozen weights (PiSSA and OLoRA move part of W into
their factors, LT-SFT's selection and full fine-tuning train W itself).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from ..space.memory import Quantization

if TYPE_CHECKING:
    from ..space import MethodSpec

WEIGHT_WRITING_INITS = ("pissa", "olora")


def quantization_problem(setting: Quantization, method: MethodSpec, model: Any) -> str | None:
    """Why ``setting`` cannot run for ``method`` on ``model`` here (one line), or None when it can."""
    if setting == "none":
        return None
    import torch

    if not torch.cuda.is_available():
        return (
            f"quantization {setting}: bitsandbytes' quantised layers need a CUDA GPU and this machine has "
            "none; train with quantization none (and precision bf16 to halve the backbone's memory)"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        return f"quantization {setting} needs the bitsandbytes package: pip install bitsandbytes"
    if not isinstance(model, str):
        return f"quantization {setting} needs pretrained weights to quantise (a model name or folder), not a config"
    writers = [
        f"delta {i} ({d.form}, init {d.init})"
        for i, d in enumerate(method.deltas)
        if d.init in WEIGHT_WRITING_INITS
    ]
    writers += [f"delta {i} (lottery_mask)" for i, d in enumerate(method.deltas) if d.form == "lottery_mask"]
    if "all" in method.trainable:
        writers.append("trainable: all")
    if writers:
        return (
            f"quantization {setting}: method {method.name!r} writes the frozen weights, which stay quantised: "
            f"{', '.join(writers)}"
        )
    return None


def quantization_config(setting: Quantization, compute_dtype: Any) -> Any:
    """The ``BitsAndBytesConfig`` ``from_pretrained`` loads with (None for ``none``)."""
    if setting == "none":
        return None
    from transformers import BitsAndBytesConfig

    if setting == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)
