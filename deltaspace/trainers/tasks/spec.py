"""`TaskSpec`: what a task is (text fields, label type, metrics, where its data lives), as data.

A task is a frozen value. GLUE and the seq2seq tasks of He et al. (2022) are registered specs
(``glue.py``, ``seq2seq.py``); a user's own data set is the same spec read from YAML
(``files.py``). Nothing here touches torch or the data itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..metrics import COMBINED, is_known_metric

TaskKind = Literal["classification", "regression", "seq2seq", "causal_lm"]


class Splits(BaseModel):
    """File names of the two splits inside a task's data directory (``--data-dir``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    train: str = "train.jsonl"
    validation: str = "validation.jsonl"


class HubSource(BaseModel):
    """Where ``datasets.load_dataset`` finds the task on the Hugging Face hub (used without a data dir)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    name: str | None = None
    train_split: str = "train"
    validation_split: str = "validation"


class TaskSpec(BaseModel):
    """A supervised task: inputs, target, metrics and data location.

    ``labels`` lists the label values as they appear in the data, in class-id order (GLUE's ids
    ``(0, 1)``, or strings such as ``("neg", "pos")`` for a user's CSV); regression and seq2seq
    tasks have none. For seq2seq, ``label_field`` is the target text. ``primary_metric`` is one of
    ``metrics`` or ``"combined"``, the unweighted mean of all of them (GLUE's per-task score for
    MRPC, QQP and STS-B). Dotted fields (``translation.en``) address nested columns.

    ``causal_lm`` is supervised fine-tuning of a decoder (``deltaspace.trainers.sft``): the one text
    field is the prompt, ``label_field`` the response, the loss is on the response tokens only and
    evaluation generates; ``chat_template`` wraps prompt and response in the tokenizer's chat
    template when it has one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: TaskKind
    description: str = ""
    text_fields: tuple[str] | tuple[str, str]
    label_field: str = "label"
    labels: tuple[int, ...] | tuple[str, ...] = ()
    metrics: tuple[str, ...] = Field(min_length=1)
    primary_metric: str
    splits: Splits = Splits()
    hub: HubSource | None = None
    source_prefix: str = ""
    chat_template: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        problems = []
        if self.kind == "classification" and len(self.labels) < 2:
            problems.append(f"labels: a classification task needs at least 2 labels, got {list(self.labels)}")
        if self.kind == "causal_lm" and len(self.text_fields) != 1:
            problems.append(
                f"text_fields: a causal_lm task has one text field, the prompt; got {list(self.text_fields)}"
            )
        if self.kind != "classification" and self.labels:
            problems.append(f"labels: a {self.kind} task has no label set, got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            problems.append(f"labels: duplicates in {list(self.labels)}")
        unknown = [m for m in self.metrics if not is_known_metric(m)]
        if unknown:
            from ..metrics import metric_names

            problems.append(f"metrics: unknown {unknown}; known: {metric_names()} or 'evaluate:<name>'")
        if "f1" in self.metrics and len(self.labels) > 2:
            problems.append("metrics: 'f1' is binary F1 of label id 1; use 'f1_macro' for more than 2 labels")
        if self.primary_metric not in (*self.metrics, COMBINED):
            problems.append(
                f"primary_metric: {self.primary_metric!r} is not one of {list(self.metrics)} or {COMBINED!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def num_labels(self) -> int:
        """Outputs of the head: the number of classes, 1 for regression, 0 for text generation."""
        return {"classification": len(self.labels), "regression": 1, "seq2seq": 0, "causal_lm": 0}[self.kind]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the data must have."""
        return (*self.text_fields, self.label_field)
