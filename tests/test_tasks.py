"""Tasks: the registry, TaskSpec validation, GLUE tasks on slices of the real data, YAML file tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deltaspace.space.errors import SpecError, UnknownNameError
from deltaspace.trainers import TrainSettings
from deltaspace.trainers.tasks import TaskSpec, get_task, load_task_file, register_task, task_names

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
QUICK = TrainSettings(max_steps=3, batch_size=8, eval_batch_size=16, max_length=32, max_train_examples=48,
                      max_eval_examples=24, progress=False, latency_batches=1, threads=1)  # fmt: skip


def trial(tiny_bert, tokenizer, task, data_dir, method: str = "lora", **settings):
    from deltaspace.trainers.trial import run_trial

    return run_trial(
        tiny_bert, method, task, data_dir, QUICK.model_copy(update=settings), tokenizer=tokenizer
    )


def test_glue_and_seq2seq_tasks_registered() -> None:
    assert {"sst2", "mnli", "qnli", "rte", "mrpc", "cola", "stsb", "qqp", "xsum", "wmt16_en_ro"} <= set(
        task_names()
    )
    assert get_task("cola").primary_metric == "matthews"
    assert get_task("stsb").kind == "regression" and get_task("stsb").num_labels == 1
    assert get_task("mnli").num_labels == 3 and "train_subset_heldout" in get_task("mnli").description
    assert get_task("mrpc").metrics == ("f1", "accuracy") and get_task("mrpc").primary_metric == "combined"


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    with pytest.raises(SpecError, match="already registered"):
        register_task(get_task("sst2"))
    with pytest.raises(UnknownNameError, match="known: .*sst2"):
        get_task("sst3")
    with pytest.raises(ValueError, match="pattern"):
        TaskSpec(name="SST", kind="classification", text_fields=("s",), labels=(0, 1), metrics=("accuracy",),
                 primary_metric="accuracy")  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"labels": (0,)}, "at least 2 labels"),
        ({"primary_metric": "f1"}, "primary_metric"),
        ({"metrics": ("accuracy", "blue")}, "unknown"),
        ({"labels": (0, 1, 2), "metrics": ("f1",), "primary_metric": "f1"}, "f1_macro"),
        ({"kind": "regression"}, "no label set"),
    ],
)
def test_task_spec_validation(fields: dict, message: str) -> None:
    base = {"name": "t", "kind": "classification", "text_fields": ("s",), "labels": (0, 1),
            "metrics": ("accuracy",), "primary_metric": "accuracy"}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        TaskSpec(**{**base, **fields})


@pytest.mark.parametrize("name", ["sst2", "rte", "mrpc", "cola", "qnli", "mnli"])
def test_glue_task_trains_on_real_data(name: str, tiny_bert, tokenizer) -> None:
    if not (DATA / name).is_dir():
        pytest.skip(f"no {DATA / name}")
    result = trial(tiny_bert, tokenizer, name, DATA / name)
    task = get_task(name)
    assert result.status == "complete", result.failure_reason
    assert result.steps == 3 and set(result.metrics) == {*task.metrics, task.primary_metric}
    assert result.score == result.metrics[task.primary_metric]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("name", ["stsb", "qqp"])
def test_glue_task_on_synthetic_data(name: str, tmp_path: Path, tiny_bert, tokenizer) -> None:
    words = ["a cat sat", "the dog ran far", "birds sing at dawn", "a cat ran"]
    fields = get_task(name).text_fields
    rows = [
        {
            fields[0]: words[i % 4],
            fields[1]: words[(i * 3) % 4],
            "label": (i % 6) * 1.0 if name == "stsb" else i % 2,
        }
        for i in range(40)
    ]
    _write_jsonl(tmp_path / "train.jsonl", rows)
    _write_jsonl(tmp_path / "validation.jsonl", rows[:20])
    result = trial(tiny_bert, tokenizer, name, tmp_path)
    assert result.status == "complete", result.failure_reason
    expected = {"pearson", "spearman"} if name == "stsb" else {"f1", "accuracy"}
    assert set(result.metrics) == expected | {"combined"}


TASK_YAML = """
name: reviews
kind: classification
text_fields: [title, body]
label_field: verdict
labels: [bad, good]
metrics: [accuracy, f1]
primary_metric: f1
splits: {{train: train.{ext}, validation: dev.{ext}}}
"""


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_yaml_file_task(ext: str, tmp_path: Path, tiny_bert, tokenizer) -> None:
    import pandas as pd

    rows = pd.DataFrame(
        {
            "title": [f"title {i}" for i in range(40)],
            "body": ["great fun film" if i % 2 else "dull and slow" for i in range(40)],
            "verdict": ["good" if i % 2 else "bad" for i in range(40)],
        }
    )
    for split, part in (("train", rows), ("dev", rows[:16])):
        path = tmp_path / f"{split}.{ext}"
        if ext == "parquet":
            part.to_parquet(path)
        elif ext == "jsonl":
            part.to_json(path, orient="records", lines=True)
        else:
            part.to_csv(path, index=False, sep="\t" if ext == "tsv" else ",")
    (tmp_path / "task.yaml").write_text(TASK_YAML.format(ext=ext))
    spec = load_task_file(tmp_path / "task.yaml")
    assert spec.labels == ("bad", "good") and spec.num_labels == 2
    result = trial(tiny_bert, tokenizer, str(tmp_path / "task.yaml"), None)  # data dir: the YAML's folder
    assert result.status == "complete", result.failure_reason
    assert result.task == "reviews" and set(result.metrics) == {"accuracy", "f1"}


def test_yaml_task_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\nkind: classification\ntext_fields: [t]\nlabels: [a, b]\nmetrics: [acc]\nprimary_metric: acc\n"
    )
    with pytest.raises(SpecError, match="unknown \\['acc'\\]"):
        load_task_file(path)
