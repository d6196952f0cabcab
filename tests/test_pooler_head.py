"""A sentence-transformers checkpoint's [CLS] pooler trains with the task head.

Such a folder (``modules.json`` naming a ``Pooling`` module, as MiniLM's) was trained through mean
pooling, so its BERT pooler never trained; frozen, it would make every PEFT method classify from a
random projection. The rule is read from the folder's files, so counts need no weights; the same
folder without ``modules.json`` keeps the pooler frozen (a BERT pooler trained by pretraining).
Every count below is written out from the tiny model's sizes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from search_support import make_sst2, make_tiny_model, study_dict

from deltaspace.methods import apply_method, head_for_model, load_backbone, model_dims
from deltaspace.search.objective import training_identity
from deltaspace.search.space_sampling import SampledPoint
from deltaspace.search.validate import check_study
from deltaspace.space import HeadSpec, preset
from deltaspace.space.study import study_from_mapping
from deltaspace.trainers import TrainSettings
from deltaspace.trainers.trial import run_trial

HIDDEN, LABELS = 32, 2
POOLER = HIDDEN * HIDDEN + HIDDEN  # dense weight and bias
CLASSIFIER = HIDDEN * LABELS + LABELS
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plain BERT folder, the same weights as a sentence-transformers folder)."""
    plain = make_tiny_model(tmp_path_factory.mktemp("plain"))
    pooled = tmp_path_factory.mktemp("pooled") / "model"
    shutil.copytree(plain, pooled)
    (pooled / "modules.json").write_text(json.dumps(MODULES))
    return plain, pooled


def _trainable(model: torch.nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_the_head_rule_is_read_from_the_folder(folders) -> None:
    plain, pooled = folders
    assert not head_for_model(str(plain), HeadSpec()).pooler_trains
    assert head_for_model(str(pooled), HeadSpec()).pooler_trains
    assert not head_for_model(str(pooled), HeadSpec(kind="causal_lm")).pooler_trains  # no new head there


def test_counts_move_the_pooler_from_backbone_to_head(folders) -> None:
    plain, pooled = folders
    total = sum(p.numel() for p in load_backbone(str(plain), HeadSpec())[0].parameters())
    frozen, trained = model_dims(str(plain), HeadSpec()), model_dims(str(pooled), HeadSpec())
    assert frozen.head_params == CLASSIFIER and frozen.backbone_params == total - CLASSIFIER
    assert trained.head_params == CLASSIFIER + POOLER
    assert trained.backbone_params == total - CLASSIFIER - POOLER
    # BitFit's biases are the backbone's: the pooler's bias is counted once, with the head
    assert trained.bias_params == frozen.bias_params - HIDDEN


def test_lora_trains_the_pooler_only_where_it_was_never_trained(folders) -> None:
    plain, pooled = folders
    lora_names = lambda names: {n for n in names if "pooler" not in n and "classifier" not in n}  # noqa: E731
    frozen = apply_method(load_backbone(str(plain), HeadSpec())[0], preset("lora"))
    trained = apply_method(load_backbone(str(pooled), HeadSpec())[0], preset("lora"))
    assert not any("pooler" in n for n in _trainable(frozen.model))
    assert {n for n in _trainable(trained.model) if "pooler" in n} == {
        "bert.pooler.dense.weight", "bert.pooler.dense.bias"}  # fmt: skip
    assert lora_names(_trainable(frozen.model)) == lora_names(_trainable(trained.model))
    assert trained.counts.trainable_params - frozen.counts.trainable_params == POOLER


def test_a_trial_updates_and_keeps_the_pooler(folders, tmp_path) -> None:
    _, pooled = folders
    data = make_sst2(tmp_path / "sst2")
    settings = TrainSettings(max_steps=3, batch_size=8, max_length=16, lr=0.05, progress=False, latency_batches=1)
    kept = tmp_path / "weights.safetensors"
    result = run_trial(str(pooled), "lora", "sst2", data, settings, weights_path=kept)
    assert result.status == "complete", result.failure_reason
    before = load_backbone(str(pooled), HeadSpec())[0].bert.pooler.dense.weight.detach()
    with safe_open(str(kept), "pt") as f:
        after = f.get_tensor("bert.pooler.dense.weight")
    assert not torch.equal(before, after)


def test_the_trial_identity_says_the_pooler_trained(folders, tmp_path) -> None:
    plain, pooled = folders
    data = make_sst2(tmp_path / "sst2")
    identities = []
    for model in (plain, pooled):
        spec = study_from_mapping(study_dict("s", model, data, methods={"lora": {}}, training={"lr": 0.01}))
        plan = check_study(spec)
        identities.append(training_identity(plan, SampledPoint("lora", {}, preset("lora"), {}, {"lr": 0.01})))
    assert "pooler_trains" not in identities[0] and identities[1]["pooler_trains"] is True


def test_peft_export_carries_the_trained_pooler(folders, tmp_path) -> None:
    from peft import PeftModel

    from deltaspace.export.peft_format import export_peft
    from deltaspace.export.trained import TrainedTrial

    _, pooled = folders
    base, tokenizer = load_backbone(str(pooled), HeadSpec())
    applied = apply_method(base, preset("lora"))
    with torch.no_grad():  # move what trains: LoRA's B (zero at init), the pooler, the classifier
        for name, p in applied.model.named_parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    applied.model.eval()
    trained = TrainedTrial(trial=None, spec=preset("lora"), applied=applied, tokenizer=tokenizer,  # type: ignore[arg-type]
                           source=None)  # type: ignore[arg-type]  # fmt: skip
    export_peft(trained, tmp_path)
    fresh = load_backbone(str(pooled), HeadSpec())[0]
    loaded = PeftModel.from_pretrained(fresh, str(tmp_path)).eval()
    batch = tokenizer(["a fine film", "not good at all"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, applied.model(**batch).logits, atol=1e-5, rtol=0)
