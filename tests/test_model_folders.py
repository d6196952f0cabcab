"""A local model folder that is itself a fine-tuned classifier with another number of labels (an
MNLI checkpoint as the start of RTE): the backbone loads from it, the head is initialised anew."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from search_support import make_tiny_model

from deltaspace.methods import load_backbone
from deltaspace.methods import weights_cache
from deltaspace.space import HeadSpec


@pytest.fixture
def three_label_folder(tmp_path: Path) -> Path:
    from transformers import AutoModelForSequenceClassification

    base = make_tiny_model(tmp_path / "base")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=3)
    with torch.no_grad():  # "fine-tuned": backbone weights the base does not have
        model.bert.encoder.layer[0].attention.self.query.weight.add_(0.5)
    folder = tmp_path / "mnli-tuned"
    model.save_pretrained(folder)
    for f in base.iterdir():
        if not (folder / f.name).exists():
            shutil.copy(f, folder / f.name)
    return folder


@pytest.mark.parametrize("reuse", [False, True])
def test_a_folder_with_a_three_label_head_starts_a_two_label_task(three_label_folder: Path, reuse: bool) -> None:
    from safetensors.torch import load_file

    weights_cache.forget()
    saved = load_file(str(three_label_folder / "model.safetensors"))
    assert saved["classifier.weight"].shape[0] == 3
    runs = []
    for _ in range(2):  # the second load comes from memory when reuse is on
        torch.manual_seed(1)
        model, _ = load_backbone(str(three_label_folder), HeadSpec(num_labels=2), reuse_weights=reuse)
        runs.append(model.state_dict())
    state = runs[0]
    assert state["classifier.weight"].shape == (2, 32)  # a new head of the task's size
    for key, value in saved.items():
        if not key.startswith("classifier."):  # the whole backbone is the folder's, the tuned layer too
            assert torch.equal(state[key], value), key
    for key in state:  # loaded twice under one seed: the same model, the new head included
        assert torch.equal(state[key], runs[1][key]), key
    torch.manual_seed(2)  # another seed: another new head (never one kept from an earlier load)
    other, _ = load_backbone(str(three_label_folder), HeadSpec(num_labels=2), reuse_weights=reuse)
    assert not torch.equal(other.state_dict()["classifier.weight"], state["classifier.weight"])
    weights_cache.forget()
