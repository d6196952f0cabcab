"""`TrialResult`: everything one trial produced, as a typed record that serialises to JSON.

Failure is a result: a trial that hit NaN loss, ran out of memory or met bad data ends with
``status="failed"`` and a ``failure_reason`` that names the cause; the caller decides what to do.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TrialStatus = Literal["complete", "failed", "pruned", "infeasible"]


class EvalPoint(BaseModel):
    """One intermediate evaluation: the primary score after ``step`` optimiser steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    step: int
    score: float
    metrics: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0


class Provenance(BaseModel):
    """Where a result came from: versions, code revision, model and data location."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    deltaspace_version: str = ""
    torch_version: str = ""
    transformers_version: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    model: str = ""
    data: str = ""
    device: str = "cpu"
    hostname: str = ""


class TrialResult(BaseModel):
    """The outcome of training and evaluating one method on one task with one seed."""

    model_config = ConfigDict(extra="forbid")

    status: TrialStatus
    failure_reason: str | None = None
    task: str = ""
    method_name: str = ""
    seed: int = 0
    learning_rate: float | None = None  # the AdamW rate used (settings or the method's default)
    # scores on the validation split
    score: float | None = None
    primary_metric: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    eval_curve: list[EvalPoint] = Field(default_factory=list)
    # parameter accounting (exact, see deltaspace.space.accounting)
    delta_params: int = 0
    head_params: int = 0
    trainable_params: int = 0
    stored_params: int = 0
    backbone_params: int = 0
    percent: float = 0.0
    # cost
    steps: int = 0
    stop_reason: str | None = None  # why training ended before its step budget, with its steps
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    train_examples_per_second: float = 0.0
    peak_memory_mb: float = 0.0
    latency_ms_batch1: float | None = None
    latency_ms_batch32: float | None = None
    # wall seconds by phase (trainers.measure.PhaseClock), "wall" their total; summed over seeds
    phase_seconds: dict[str, float] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrialResult:
        return cls.model_validate_json(text)
