"""`TrainSettings`: every knob of one training run, validated before anything is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..space.forms import FORMS
from ..space.learning_rates import FULL_FINE_TUNING, HEAD_ONLY, learning_rate_range
from ..space.memory import Quantization
from .precision import PrecisionSetting

if TYPE_CHECKING:
    from ..space import MethodSpec

# Views of the one learning-rate table (each form's declaration, ``deltaspace.space.forms``).
FORM_LEARNING_RATES: dict[str, float] = {name: f.learning_rate.default for name, f in FORMS.items()}
HEAD_ONLY_LR = HEAD_ONLY.default
FULL_FINE_TUNING_LR = FULL_FINE_TUNING.default


# Settings that change how fast a run goes, never its result: left out of a trial's identity.
EXECUTION_SETTINGS = frozenset({"threads", "adaptive_threads", "progress", "checked_bf16_eval"})


def default_lr(method: MethodSpec | None) -> float:
    """The learning rate for ``method`` when none is given: full fine-tuning's for ``all``, else the
    smallest default among its deltas' forms (the most sensitive form bounds a mix such as MAM)."""
    return learning_rate_range(method).default


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
    # keep the weights (and report the score) of the best evaluation; False: of the last one, as a
    # promoted study's rungs do (a rung's score is its budget's; a resumed run goes on from there)
    keep_best: bool = True
    # the length of the learning-rate schedule when training stops before its end: a promoted
    # trial trains rung by rung on the schedule of its last rung (None: ``max_steps``)
    schedule_steps: int | None = Field(default=None, ge=1)
    # intermediate evaluations on a fixed stratified subset of this many examples; the reported
    # score is the whole split's, from the best weights (trainers/subsets.py)
    eval_subset: int | None = Field(default=None, ge=1)
    # score the best weights on the whole split after a loop that evaluated a subset; a promoted
    # study's lower rungs skip it (their subset scores only rank; the last rung's score is final)
    full_eval: bool = True
    patience: int | None = Field(default=None, ge=1)
    grad_clip: float | None = Field(default=1.0, gt=0)
    seed: int = Field(default=0, ge=0)
    threads: int | None = Field(default=None, ge=1)  # the most CPU threads (None: every usable core)
    adaptive_threads: bool = True  # fewer threads while other processes keep cores busy (trainers/threads.py)
    progress: bool = True
    max_train_examples: int | None = Field(default=None, ge=1)
    max_eval_examples: int | None = Field(default=None, ge=1)
    latency_batches: int = Field(default=3, ge=0)
    selection_steps: int = Field(default=20, ge=1)  # LT-SFT: full fine-tuning steps that pick the mask
    # a float32 run's classification evaluation: a bf16 pass, examples near the decision boundary
    # re-run in float32 (the same predictions, about twice as fast; trainers/checked_eval.py)
    checked_bf16_eval: bool = True
    precision: PrecisionSetting = "auto"  # fp32 | bf16 | fp16 | auto (trainers/precision.py)
    gradient_checkpointing: bool = False  # recompute layers in the backward pass: less memory, more time
    quantization: Quantization = "none"  # none | nf4 | int8: the frozen backbone through bitsandbytes (CUDA)

    @model_validator(mode="after")
    def _patience_needs_evals(self) -> TrainSettings:
        if self.patience is not None and self.eval_every is None:
            raise ValueError("patience: early stopping needs eval_every (evaluations to compare)")
        if self.schedule_steps is not None and (self.max_steps is None or self.schedule_steps < self.max_steps):
            raise ValueError("schedule_steps: needs max_steps, and may not be shorter than it")
        return self
