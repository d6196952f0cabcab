"""The GLUE tasks (Wang et al., 2019) with GLUE's metrics and the Hugging Face ``glue`` label ids.

Local copies are JSON Lines in ``--data-dir`` (``train.jsonl``/``validation.jsonl``); without a
data dir they load from the hub as ``load_dataset("glue", name)``. MRPC, QQP and STS-B report two
metrics each; their primary score is ``combined``, the mean of the two, as GLUE's leaderboard
scores them.
"""

from __future__ import annotations

from .registry import register_task
from .spec import HubSource, Splits, TaskSpec


def _glue(name: str, description: str, text_fields: tuple[str, ...], **fields: object) -> TaskSpec:
    fields.setdefault("kind", "classification")
    fields.setdefault("labels", (0, 1))
    fields.setdefault("metrics", ("accuracy",))
    fields.setdefault("primary_metric", fields["metrics"][0])  # type: ignore[index]
    fields.setdefault("hub", HubSource(path="glue", name=name))
    return register_task(TaskSpec(name=name, description=description, text_fields=text_fields, **fields))


_glue("sst2", "SST-2 binary sentiment of movie-review sentences (0 negative, 1 positive).", ("sentence",))
_glue(
    "mnli",
    "MNLI 3-way entailment (0 entailment, 1 neutral, 2 contradiction). Locally trains on "
    "train_subset.jsonl and evaluates on train_subset_heldout.jsonl, a held-out slice of MNLI train "
    "(not dev_matched: a proxy score); from the hub, train and validation_matched.",
    ("premise", "hypothesis"),
    labels=(0, 1, 2),
    splits=Splits(train="train_subset.jsonl", validation="train_subset_heldout.jsonl"),
    hub=HubSource(path="glue", name="mnli", validation_split="validation_matched"),
)
_glue(
    "qnli",
    "QNLI question/sentence entailment (0 entailment, 1 not_entailment). Locally trains on "
    "train_subset.jsonl (9k of the 105k train rows) and evaluates on the official validation.jsonl.",
    ("question", "sentence"),
    splits=Splits(train="train_subset.jsonl", validation="validation.jsonl"),
)
_glue("rte", "RTE binary entailment (0 entailment, 1 not_entailment).", ("sentence1", "sentence2"))
_glue(
    "mrpc",
    "MRPC paraphrase (0 not_equivalent, 1 equivalent); F1 and accuracy, primary their mean.",
    ("sentence1", "sentence2"),
    metrics=("f1", "accuracy"),
    primary_metric="combined",
)
_glue(
    "cola",
    "CoLA acceptability (0 unacceptable, 1 acceptable); Matthews correlation.",
    ("sentence",),
    metrics=("matthews",),
)
_glue(
    "stsb",
    "STS-B sentence similarity, a 0-5 regression; Pearson and Spearman, primary their mean.",
    ("sentence1", "sentence2"),
    kind="regression",
    labels=(),
    metrics=("pearson", "spearman"),
    primary_metric="combined",
)
_glue(
    "qqp",
    "QQP duplicate questions (0 not_duplicate, 1 duplicate); F1 and accuracy, primary their mean.",
    ("question1", "question2"),
    metrics=("f1", "accuracy"),
    primary_metric="combined",
)
