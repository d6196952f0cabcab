"""`TrainSettings`: every knob of one training run, validated before anything is built."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainSettings(BaseModel):
    """How to train and evaluate one trial.

    The budget is ``max_steps`` optimiser steps when given, else ``epochs`` passes over the
    training split, cut short by ``max_train_seconds`` of training wall time (evaluation
    excluded) or by early stopping after ``patience`` evaluations without improvement. The
    default learning rate suits delta methods (LoRA, adapters, prefixes) and a fresh head;
    full fine-tuning wants about 2e-5.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lr: float = Field(default=1e-3, gt=0)
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

    @model_validator(mode="after")
    def _patience_needs_evals(self) -> TrainSettings:
        if self.patience is not None and self.eval_every is None:
            raise ValueError("patience: early stopping needs eval_every (evaluations to compare)")
        return self
