"""Training memory from the config alone: weights, gradients, optimiser state and activations.

Known before anything loads, like the exact parameter count it starts from (``count_method``), so a
study can refuse a point over ``budget.max_memory_mb`` at zero cost. The estimate is the peak of
one training step with AdamW:

* weights: the frozen backbone in the precision's dtype (4-bit NF4: ½ byte per projection weight
  plus its block scales; int8: 1 byte), every trainable parameter as a float32 master;
* gradients (float32) and AdamW's two moments (float32) for every trainable parameter;
* activations autograd keeps for the backward pass: per layer and token ``a·hidden + b·ffn``
  elements, the family's profile (``ModelDims.activation_profile``, fitted per family with
  autograd's saved-tensor hooks), 4 bytes each in float32 and 2.5 under bf16/fp16 autocast (which
  keeps norms and softmax outputs in float32); with attention dropout and unfused attention (CPU),
  12 bytes per attention score (scores, dropout mask, dropped scores); plus one layer's worth again
  for the gradients in flight during the backward pass. With gradient checkpointing only each
  layer's input stays, plus one layer's activations while it is recomputed;
* a language-model head's logits over the vocabulary (float32, with their gradient).

The batch is taken at its longest (``batch_size × max_length`` tokens, the decoder at its target
length), so the estimate is the peak of the worst batch, not the mean. What it leaves out: the
deltas' own hidden activations (a bottleneck's r per token), the allocator's slack and the
framework's own footprint (the CUDA context; on CPU, glibc keeps freed memory in its arenas).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from .accounting import ModelDims, ParamCount

Precision = Literal["fp32", "bf16", "fp16"]
Quantization = Literal["none", "nf4", "int8"]
MB = 2**20
WEIGHT_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
ACTIVATION_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.5, "fp16": 2.5}
# bitsandbytes: NF4 stores ½ byte per weight plus a float32 absmax per 64-weight block (double
# quantisation shrinks it to ~0.127 bits per weight); int8 one byte plus a scale per row (negligible)
QUANTIZED_BYTES: dict[str, float] = {"nf4": 0.5 + 0.127 / 8, "int8": 1.0}
LM_HEADS = ("causal_lm", "seq2seq")


class MemoryEstimate(BaseModel):
    """Peak training memory in MB, by part."""

    model_config = ConfigDict(frozen=True)
    weights_mb: float
    gradients_mb: float
    optimizer_mb: float
    activations_mb: float

    @property
    def total_mb(self) -> float:
        return self.weights_mb + self.gradients_mb + self.optimizer_mb + self.activations_mb

    def summary(self) -> str:
        return (
            f"{self.total_mb:,.0f} MB (weights {self.weights_mb:,.0f}, gradients {self.gradients_mb:,.0f}, "
            f"optimiser {self.optimizer_mb:,.0f}, activations {self.activations_mb:,.0f})"
        )


def estimate_memory(
    dims: ModelDims,
    count: ParamCount,
    *,
    batch_size: int,
    max_length: int,
    target_length: int = 0,
    precision: Precision = "fp32",
    gradient_checkpointing: bool = False,
    quantization: Quantization = "none",
    head: str = "sequence_classification",
    fused_attention: bool = False,
) -> MemoryEstimate:
    """The peak memory of training ``count``'s method on a model of ``dims`` (see the module doc).

    ``target_length``: the decoder's tokens of an encoder-decoder model (its encoder reads
    ``max_length``), or the response after a ``causal_lm`` prompt of ``max_length``; ``head``: the
    HeadSpec kind (language-model heads add their logits);
    ``fused_attention``: attention runs in a fused kernel that keeps no scores even with dropout
    (CUDA's SDPA), else attention dropout keeps them.
    """
    trainable = count.trainable_params
    frozen = dims.backbone_params + dims.head_params - sum(count.declared.values()) - count.head_params
    weight_bytes = WEIGHT_BYTES[precision]
    if quantization == "none":
        frozen_bytes = frozen * weight_bytes
    else:  # projections quantised; embeddings, norms and biases stay in the precision's dtype
        embeddings = min(frozen, dims.vocab_size * dims.hidden)
        projections = max(0, frozen - embeddings - dims.bias_params - dims.layer_norm_weight_params)
        frozen_bytes = projections * QUANTIZED_BYTES[quantization] + (frozen - projections) * weight_bytes
    weights = frozen_bytes + 4 * trainable

    a, b = dims.activation_profile
    act_bytes = ACTIVATION_BYTES[precision]
    scores = dims.attention_dropout > 0 and not fused_attention
    tokens = max_length + target_length if head == "causal_lm" else max_length  # prompt + response
    stacks = [
        (
            s.layers,
            target_length if (s.name == "decoder" and len(dims.stacks) > 1 and target_length) else tokens,
        )
        for s in dims.stacks
    ]

    def layer_bytes(tokens: int) -> float:
        """What one layer keeps for ``tokens`` tokens of one sequence."""
        kept = (a * dims.hidden + b * dims.ffn) * act_bytes * tokens
        return kept + (12 * dims.heads * tokens * tokens if scores else 0)

    longest = max(tokens for _, tokens in stacks)
    if gradient_checkpointing:  # layer inputs, one layer recomputed, its gradients in flight
        kept = sum(layers * tokens * dims.hidden * act_bytes for layers, tokens in stacks)
        activations = batch_size * (kept + 2 * layer_bytes(longest))
    else:
        activations = batch_size * (
            sum(layers * layer_bytes(tokens) for layers, tokens in stacks) + layer_bytes(longest)
        )
    if head in LM_HEADS:
        out_tokens = stacks[-1][1]
        activations += batch_size * out_tokens * dims.vocab_size * 4 * 2  # float32 logits and their gradient
    return MemoryEstimate(
        weights_mb=weights / MB,
        gradients_mb=4 * trainable / MB,
        optimizer_mb=8 * trainable / MB,
        activations_mb=activations / MB,
    )
