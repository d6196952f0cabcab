"""`MethodSpec` (a named list of `DeltaSpec`s plus declared backbone trainables) and `HeadSpec`.

MAM or UniPELT are data, not classes: a MethodSpec with two or three deltas. A MethodSpec
round-trips through YAML losslessly; a YAML method may start from a preset (``preset: mam``) and
override fields (see ``deltaspace.space.yaml_io``). ``canonical_json``/``method_hash`` identify a
method independently of how it was written.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .delta import DeltaSpec
from .dimensions import Trainable


class MethodSpec(BaseModel):
    """A PEFT method: the deltas to insert and which backbone parameters stay trainable.

    ``trainable`` names backbone parameter groups left trainable besides the deltas: ``head``
    (the task head), ``layer_norms``, ``biases`` (every bias term, as BitFit) or ``all`` (full
    fine-tuning).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    deltas: tuple[DeltaSpec, ...] = ()
    trainable: tuple[Trainable, ...] = ("head",)
    description: str = ""

    @field_validator("trainable")
    @classmethod
    def _sorted_unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _trains_something(self) -> MethodSpec:
        if not self.deltas and not self.trainable:
            raise ValueError(
                "the method trains nothing: give it at least one delta or a trainable group "
                "(head, layer_norms, biases, all)"
            )
        return self

    def canonical_json(self) -> str:
        """JSON of what the method *is* (name and description excluded), keys sorted."""
        body = self.model_dump(mode="json", exclude={"name", "description"})
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def method_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def to_yaml(self) -> str:
        from .yaml_io import method_to_yaml

        return method_to_yaml(self)

    @classmethod
    def from_yaml(cls, text_or_path: str) -> MethodSpec:
        from .yaml_io import load_method

        return load_method(text_or_path)


class HeadSpec(BaseModel):
    """The task head put on the backbone: what ``load_backbone`` builds and accounting counts.

    ``seq2seq`` and ``causal_lm`` keep the model's own pretrained language-model head (part of the
    backbone: ``trainable: [head]`` adds nothing there); the others are new task heads.

    ``pooler_trains``: the backbone's pooler belongs to the new head and trains with it. A
    sentence-transformers checkpoint (MiniLM) was trained through its own mean pooling, so its
    [CLS] pooler was never trained (zero bias); frozen, it makes every PEFT method classify from a
    random projection that only full fine-tuning can repair (LoRA on CoLA: MCC 0.0 frozen, 0.20
    trained, 804 steps). Set by ``deltaspace.methods.loading.head_for_model`` from the model's files.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sequence_classification", "regression", "seq2seq", "causal_lm", "none"] = (
        "sequence_classification"
    )
    num_labels: int = Field(default=2, ge=1)
    pooler_trains: bool = False

    @property
    def labels_out(self) -> int:
        return 1 if self.kind == "regression" else self.num_labels
