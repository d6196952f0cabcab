"""Every registered form, insertion and composition has every piece: declaration, torch builder,
counter (equal to the built model), learning-rate range and export decision. The matrix is the
registry itself, so a new form is tested the moment it is registered."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest
import torch

from deltaspace.export.peft_format import delta_tuner
from deltaspace.export.peft_tensors import TENSOR_WRITERS
from deltaspace.methods import apply_method
from deltaspace.methods.composition import COMPOSITIONS as COMPOSITION_MODULES
from deltaspace.methods.composition import GATES as GATE_MODULES
from deltaspace.methods.forms import BUILDERS
from deltaspace.space import DeltaSpec, MethodSpec, preset
from deltaspace.space.compositions import COMPOSITIONS, GATES
from deltaspace.space.dimensions import POSITIONS, Composition, Form, Gate, Insertion
from deltaspace.space.forms import FORMS, register_form
from deltaspace.space.insertions import INSERTIONS
from deltaspace.space.learning_rates import FULL_FINE_TUNING, HEAD_ONLY, learning_rate_range
from deltaspace.testing.tiny_models import FAMILIES, tiny_batch, tiny_config
from deltaspace.trainers.settings import FORM_LEARNING_RATES, default_lr


def example(form: str) -> DeltaSpec:
    return DeltaSpec(form=form, **FORMS[form].example)


def test_literals_are_the_registries() -> None:
    assert get_args(Form) == tuple(FORMS)
    assert get_args(Insertion) == tuple(INSERTIONS)
    assert get_args(Composition) == tuple(COMPOSITIONS)
    assert get_args(Gate) == tuple(GATES)


def test_every_form_has_a_builder_and_every_builder_a_form() -> None:
    assert set(BUILDERS) == set(FORMS)


def test_every_composition_and_gate_has_a_module() -> None:
    assert set(COMPOSITION_MODULES) == set(COMPOSITIONS)
    assert set(GATE_MODULES) == set(GATES)
    assert {i.reads for i in INSERTIONS.values()} <= {"input", "output"}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_declares_a_learning_rate_range_used_by_the_trainer(form: str) -> None:
    rate = FORMS[form].learning_rate
    assert 0 < rate.low <= rate.default <= rate.high
    assert FORM_LEARNING_RATES[form] == rate.default
    spec = MethodSpec(name="m", deltas=(example(form),))
    assert learning_rate_range(spec) == rate and default_lr(spec) == rate.default


def test_learning_rates_are_ordered_as_the_forms_demand() -> None:
    rate = {name: f.learning_rate.default for name, f in FORMS.items()}
    assert rate["prefix"] > 10 * rate["bottleneck"]  # prefix forms far higher than adapters
    assert rate["magnitude_mask"] < rate["bottleneck"] < rate["low_rank"]
    assert FULL_FINE_TUNING.default < min(rate.values()) and HEAD_ONLY.default == default_lr(preset("bitfit"))
    assert default_lr(preset("full")) == FULL_FINE_TUNING.default


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_has_an_export_decision(form: str) -> None:
    tuner, why = delta_tuner(example(form))
    assert (tuner is None) == bool(why)
    assert tuner is None or tuner in TENSOR_WRITERS


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_counts_what_it_builds(family: str, form: str) -> None:
    """The example delta of every form, in every family: count == trainable elements, and it runs."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(tiny_config(family)).eval()
    spec = MethodSpec(name="m", deltas=(example(form),), trainable=())
    applied = apply_method(model, spec)
    assert applied.counts.trainable_params == applied.trainable_numel() > 0
    if form == "lottery_mask":
        return  # its mask is chosen by a short fine-tuning first (test_sparse_methods)
    with torch.no_grad():
        assert torch.isfinite(model(**tiny_batch(family)).logits).all()


def test_registration_checks_names_and_references() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_form(FORMS["bias"])
    with pytest.raises(ValueError, match="lowercase"):
        replace(FORMS["bias"], name="Bias")
    with pytest.raises(ValueError, match="unknown compositions"):
        register_form(replace(FORMS["bias"], name="bias2", compositions=("add", "frobnicate")))
    assert "bias2" not in FORMS


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_rejects_the_sites_it_does_not_declare(form: str) -> None:
    wrong = [p for p, info in POSITIONS.items() if info.kind not in FORMS[form].sites]
    fields = {**FORMS[form].example, "position": wrong[0]}
    with pytest.raises(ValueError, match="clash"):
        DeltaSpec(form=form, **fields)
