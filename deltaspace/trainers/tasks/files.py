"""A user's own classification, regression, seq2seq or instruction data set as a task, in YAML.

No code is needed: a file such as ::

    name: reviews                  # lowercase, the task's name in results
    kind: classification           # classification | regression | seq2seq | causal_lm
    text_fields: [title, body]     # one field, or two for sentence pairs
    label_field: stars             # the target column
    labels: [bad, good]            # label values as they appear in the data, in class-id order
    metrics: [accuracy, f1]        # see deltaspace.trainers.metrics, or evaluate:<name>
    primary_metric: f1             # one of metrics, or "combined" (their mean)
    splits: {train: train.csv, validation: dev.csv}

is read by ``load_task_file``. Supervised fine-tuning of a decoder on prompt/response JSON Lines::

    name: instructions
    kind: causal_lm                # loss on the response tokens only; evaluated by generation
    text_fields: [prompt]          # the prompt column
    label_field: response          # the response column
    metrics: [exact_match, rougeL] # or any registered metric, or evaluate:<name>
    primary_metric: rougeL
    chat_template: true            # the tokenizer's chat template, when it has one (the default)

 The split files live in ``--data-dir`` (by default, the YAML file's
folder); CSV, TSV, JSON Lines and Parquet are read by ``datasets``, chosen by file extension.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...space.errors import SpecError
from ...space.yaml_io import format_validation_error, read_yaml_mapping
from .spec import TaskSpec

FILE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE}),  # GLUE-style TSVs have bare quotes
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".parquet": ("parquet", {}),
}


def file_format(path: Path) -> tuple[str, dict[str, Any]]:
    """The ``datasets`` builder name and its options for a data file, from its extension."""
    try:
        return FILE_FORMATS[path.suffix.lower()]
    except KeyError:
        raise SpecError(
            f"{path}: unsupported data file type {path.suffix!r}; use one of {sorted(FILE_FORMATS)}"
        ) from None


def load_task_file(path: str | Path) -> TaskSpec:
    """Validate a task YAML file into a TaskSpec; the error lists every problem with its field."""
    data = read_yaml_mapping(Path(path))
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: " + format_validation_error(exc, "task")) from None
