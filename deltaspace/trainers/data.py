"""Loading a task's splits through ``datasets``, checking them, and tokenizing them once.

Every problem with the data is a `TaskDataError` naming the file, the column and the offending
values, raised before any training starts: a missing file or column (with the columns found), a
label outside the task's label set, a null text or target, an empty split.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..space.errors import DeltaspaceError
from .tasks import TaskSpec, file_format

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

Split = Literal["train", "validation"]


class TaskDataError(DeltaspaceError):
    """Data that cannot train or evaluate the task; the message names the cause."""


@dataclass
class Encoded:
    """One tokenized split. ``targets`` feed the loss (class ids, floats or target token ids);
    ``references`` are what metrics compare predictions with (class ids, floats or target texts).
    ``prompts``: what a decoder generates from at evaluation (causal_lm tasks only)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    targets: list[Any]
    references: list[Any]
    prompts: list[list[int]] | None = None

    def __post_init__(self) -> None:
        self.lengths = np.fromiter(
            (len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids)
        )

    def __len__(self) -> int:
        return len(self.input_ids)


def load_split(
    task: TaskSpec, split: Split, data_dir: str | Path | None, limit: int | None = None
) -> Dataset:
    """The raw rows of one split, from ``data_dir`` or the hub, checked for columns and size."""
    import datasets

    datasets.disable_progress_bars()
    if data_dir is not None:
        path = Path(data_dir) / getattr(task.splits, split)
        if not path.is_file():
            found = sorted(p.name for p in Path(data_dir).iterdir()) if Path(data_dir).is_dir() else "nothing"
            raise TaskDataError(f"task {task.name}: {split} file {path} not found; {data_dir} holds {found}")
        builder, options = file_format(path)
        where, args, kwargs = str(path), (builder,), {"data_files": str(path), "split": "train", **options}
    elif task.hub is not None:
        hub_split = getattr(task.hub, f"{split}_split")
        where = f"hub dataset {task.hub.path}{'/' + task.hub.name if task.hub.name else ''} split {hub_split}"
        args, kwargs = (task.hub.path, task.hub.name), {"split": hub_split}
    else:
        raise TaskDataError(
            f"task {task.name} has no hub source: give the directory of its files (--data-dir)"
        )
    try:
        rows = datasets.load_dataset(*args, **kwargs)
    except Exception as exc:  # datasets raises many types for unreadable or empty files
        if data_dir is not None and Path(where).stat().st_size == 0:
            raise TaskDataError(f"{where}: the {split} split is empty (0 rows)") from None
        raise TaskDataError(f"{where}: could not be read: {type(exc).__name__}: {exc}") from None
    if any("." in column for column in task.columns):
        rows = rows.flatten()
    if len(rows) == 0:
        raise TaskDataError(f"{where}: the {split} split is empty (0 rows)")
    missing = [c for c in task.columns if c not in rows.column_names]
    if missing:
        raise TaskDataError(
            f"{where}: missing column(s) {missing} that task {task.name} needs; found {rows.column_names}"
        )
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    return rows


def _check_not_null(values: list[Any], column: str, where: str) -> None:
    nulls = [i for i, v in enumerate(values) if v is None]
    if nulls:
        raise TaskDataError(
            f"{where}: column {column!r} is null in {len(nulls)} row(s), first at row {nulls[0]}"
        )


def _targets(task: TaskSpec, values: list[Any], where: str) -> list[Any]:
    """Class ids, floats or target strings from the raw label column, refusing unknown labels."""
    _check_not_null(values, task.label_field, where)
    if task.kind == "classification":
        ids = {str(label): i for i, label in enumerate(task.labels)}
        unknown = sorted({str(v) for v in values} - ids.keys())
        if unknown:
            count = sum(str(v) not in ids for v in values)
            raise TaskDataError(
                f"{where}: label(s) {unknown[:10]} in column {task.label_field!r} ({count} rows) are outside "
                f"task {task.name}'s label set {list(task.labels)}"
            )
        return [ids[str(v)] for v in values]
    if task.kind == "regression":
        try:
            return [float(v) for v in values]
        except (TypeError, ValueError):
            bad = sorted({repr(v) for v in values if not _is_number(v)})[:10]
            raise TaskDataError(
                f"{where}: non-numeric value(s) {bad} in regression target {task.label_field!r}"
            ) from None
    return [str(v) for v in values]


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def encode(
    task: TaskSpec,
    rows: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    max_target_length: int = 64,
    where: str = "",
) -> Encoded:
    """Tokenize a split (truncated to ``max_length``, unpadded: batches pad dynamically)."""
    where = where or f"task {task.name}"
    texts = [list(rows[field]) for field in task.text_fields]
    for field, values in zip(task.text_fields, texts, strict=True):
        _check_not_null(values, field, where)
    if task.source_prefix:
        texts[0] = [task.source_prefix + t for t in texts[0]]
    targets = _targets(task, list(rows[task.label_field]), where)
    if task.kind == "causal_lm":
        return _encode_causal_lm(task, texts[0], targets, tokenizer, max_length, max_target_length)
    enc = tokenizer(*texts, truncation=True, max_length=max_length)
    if task.kind == "seq2seq":
        ids = tokenizer(text_target=targets, truncation=True, max_length=max_target_length)["input_ids"]
        return Encoded(enc["input_ids"], None, list(ids), targets)
    return Encoded(enc["input_ids"], enc.get("token_type_ids"), targets, targets)


def _encode_causal_lm(
    task: TaskSpec,
    prompts: list[str],
    responses: list[str],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    max_target_length: int,
) -> Encoded:
    """Prompt + response tokens, labels -100 over the prompt (``deltaspace.trainers.sft``)."""
    from .sft import encode_pair

    pairs = [
        encode_pair(tokenizer, p, r, task.chat_template, max_length, max_target_length)
        for p, r in zip(prompts, responses, strict=True)
    ]
    input_ids = [p + r for p, r in pairs]
    labels = [[-100] * len(p) + r for p, r in pairs]
    return Encoded(input_ids, None, labels, responses, prompts=[p for p, _ in pairs])


# Tokenized splits kept for the next trial of this process, newest last.
_ENCODED: OrderedDict[tuple[Any, ...], Encoded] = OrderedDict()
_ENCODED_KEEP = 4


def encode_cached(
    task: TaskSpec,
    split: Split,
    data_dir: str | Path | None,
    rows: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    max_target_length: int = 64,
    where: str = "",
) -> Encoded:
    """`encode`, remembered for the next trial in this process (read-only: nothing downstream
    changes an `Encoded`). A worker that runs many trials on one task tokenizes it once: the 67k
    SST-2 training sentences take about 5 s, a fifth of a 100-step MiniLM trial. The key holds
    the task, the file's path, size and mtime, the rows' fingerprint, the tokenizer's vocabulary
    and the lengths, so changed data or another tokenizer is tokenized afresh."""
    key = (
        task.model_dump_json(),
        split,
        _file_stamp(task, split, data_dir),
        len(rows),
        getattr(rows, "_fingerprint", None),
        type(tokenizer).__name__,
        tokenizer.name_or_path,
        tokenizer.truncation_side,
        _vocabulary_hash(tokenizer),
        max_length,
        max_target_length,
    )
    if key in _ENCODED:
        _ENCODED.move_to_end(key)
        return _ENCODED[key]
    encoded = encode(task, rows, tokenizer, max_length, max_target_length, where)
    _ENCODED[key] = encoded
    while len(_ENCODED) > _ENCODED_KEEP:
        _ENCODED.popitem(last=False)
    return encoded


_VOCABULARY_HASHES: dict[int, tuple[Any, int, int]] = {}


def _vocabulary_hash(tokenizer: PreTrainedTokenizerBase) -> int:
    """A hash of the tokenizer's vocabulary, computed once per tokenizer object (sorting 30k
    entries took ~30 ms of every trial; a worker reuses one tokenizer across its trials)."""
    kept = _VOCABULARY_HASHES.get(id(tokenizer))
    if kept is None or kept[0] is not tokenizer or kept[1] != len(tokenizer):  # added tokens: afresh
        kept = (tokenizer, len(tokenizer), hash(tuple(sorted(tokenizer.get_vocab().items()))))
        _VOCABULARY_HASHES.clear()  # one tokenizer at a time: the entry keeps it alive
        _VOCABULARY_HASHES[id(tokenizer)] = kept
    return kept[2]


def _file_stamp(task: TaskSpec, split: Split, data_dir: str | Path | None) -> tuple[str, int, int] | None:
    if data_dir is None:
        return None
    path = Path(data_dir) / getattr(task.splits, split)
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns
