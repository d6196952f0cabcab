"""`TrainSettings`: every knob of one training run, validated before anything is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from ..space import MethodSpec

# Default AdamW learning rates by functional form, for runs that name none. Measured on MiniLM/SST-2
# (150 steps of 32): low_rank 2e-3 (LoRA 0.80; 1e-3 0.78), bottleneck 3e-4 (scaled PA r=512 0.79;
# 1e-3 0.71), prefix 5e-2 (0.78; 2e-2 0.75, 5e-3 0.72). The other rates are unmeasured guesses of
# the right order; a form missing here gets HEAD_ONLY_LR. A study samples lr itself: these defaults
# only serve single runs (``deltaspace train`` without ``--lr``).
FORM_LEARNING_RATES: dict[str, float] = {
    "low_rank": 2e-3,
    "bottleneck": 3e-4,
    "prefix": 5e-2,
    "scaling": 3e-3,
    "bias": 1e-3,
    "l0_diff": 1e-4,
    "magnitude_mask": 1e-4,
    "lottery_mask": 1e-4,
    "weight_adapter": 3e-4,
    "intrinsic": 1e-2,
}
HEAD_ONLY_LR = 1e-3
FULL_FINE_TUNING_LR = 2e-5


def default_lr(method: MethodSpec | None) -> float:
    """The learning rate for ``method`` when none is given: 2e-5 for full fine-tuning, else the
    smallest rate among its deltas' forms (the most sensitive form bounds a mix such as MAM)."""
    if method is not None and "all" in method.trainable:
        return FULL_FINE_TUNING_LR
    if method is None or not method.deltas:
        return HEAD_ONLY_LR
    return min(FORM_LEARNING_RATES.get(d.form, HEAD_ONLY_LR) for d in method.deltas)


class TrainSettings(BaseModel):
    """How to train and evaluate one trial.

    ``lr=None`` takes the method's default (`default_lr`). The budget is ``max_steps`` optimiser
    steps when given, else ``epochs`` passes over the training split, cut short by ``max_train_seconds`` of training wall time (evaluation
    excluded) or by early stopping after ``patience`` evaluations without improvement.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lr: float | None = Field(default=None, gt=0)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    max_steps: int | None = Field(default=None, ge=1)
    epochs: int = Field(default=1, ge=1)
    max_train_seconds: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=32, ge=1)
    eval_batch_size: int = Field(default=128, ge=1)
    max_length: int = Field(default=128, ge=8)
    max_target_length: int = Field(default=64, ge=1)
    num_beams: int = Field(default=1, ge=1)
    eval_every: int | None = Field(default=None, ge=1)
    patience: int | None = Field(default=None, ge=1)
    grad_clip: float | None = Field(default=1.0, gt=0)
    seed: int = Field(default=0, ge=0)
    threads: int | None = Field(default=None, ge=1)
    progress: bool = True
    max_train_examples: int | None = Field(default=None, ge=1)
    max_eval_examples: int | None = Field(default=None, ge=1)
    latency_batches: int = Field(default=3, ge=0)
    selection_steps: int = Field(default=20, ge=1)  # LT-SFT: full fine-tuning steps that pick the mask

    @model_validator(mode="after")
    def _patience_needs_evals(self) -> TrainSettings:
        if self.patience is not None and self.eval_every is None:
            raise ValueError("patience: early stopping needs eval_every (evaluations to compare)")
        return self
