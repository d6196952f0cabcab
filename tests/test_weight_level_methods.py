"""Weight-level methods as DeltaSpec points: counting, identity at init, merging, HiWi, intrinsic
dimension (Fastfood against the explicit product with scipy's Hadamard matrix), validation.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from scipy.linalg import hadamard

from deltaspace.methods import apply_method
from deltaspace.methods.forms import WeightDelta
from deltaspace.methods.forms.projections import DenseProjection, Fastfood, SparseProjection, walsh_hadamard
from deltaspace.methods.sites import DeltaLinear
from deltaspace.space import SpecError, count_method, method_from_mapping, preset
from deltaspace.space.accounting import ModelDims, StackDims
from deltaspace.testing.tiny_models import FAMILIES, tiny_batch
from deltaspace.testing.weight_level import tiny_model, train_steps, weight_sites

NEW_PRESETS = ["diff_pruning", "pafi", "lt_sft", "hiwi", "intrinsic", "intrinsic_said"]
TRAINABLE_NOW = [p for p in NEW_PRESETS if p != "lt_sft"]  # lt_sft needs its selection first


def hand_dims() -> ModelDims:
    """3 layers; q/k/v/o 10x10, FFN 10x40 and 40x10."""
    square = (10, 10)
    return ModelDims(
        model_type="bert",
        family="bert",
        hidden=10,
        heads=2,
        kv_heads=2,
        head_dim=5,
        ffn=40,
        stacks=(StackDims(name="encoder", layers=3),),
        weight_shapes={
            "query": square,
            "key": square,
            "value": square,
            "attn_out": square,
            "ffn_in": (10, 40),
            "ffn_out": (40, 10),
        },
        backbone_params=1000,
        head_params=22,
        bias_params=100,
        layer_norm_weight_params=70,
    )


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NEW_PRESETS)
def test_counts_match_the_built_model(family: str, name: str) -> None:
    model = tiny_model(family)
    applied = apply_method(model, preset(name))
    counts = applied.counts
    assert counts.trainable_params == sum(p.numel() for p in applied.trainable_parameters())
    stored = [t for _, delta in weight_sites(model) for t in delta.stored_state().values()]
    shared = sum(p.numel() for p in model.ds_shared.parameters()) if hasattr(model, "ds_shared") else 0
    values = sum(t.numel() for t in stored if t.is_floating_point()) + shared
    assert counts.stored_params == values + counts.head_params
    assert counts.stored_indices == sum(t.numel() for t in stored if not t.is_floating_point())
    assert counts.inference_extra_params == 0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", TRAINABLE_NOW)
def test_weight_level_methods_start_at_the_pretrained_function(family: str, name: str) -> None:
    model = tiny_model(family)
    frozen = copy.deepcopy(model)
    apply_method(model, preset(name))
    batch = tiny_batch(family)
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, frozen(**batch).logits, atol=1e-6)


MERGED = {
    "hiwi": preset("hiwi"),
    "diff_pruning": preset("diff_pruning"),
    "pafi": preset("pafi"),
    "intrinsic_said": preset("intrinsic_said"),
    "hiwi_gelu_on_attention": method_from_mapping(
        {
            "name": "h",
            "deltas": [
                {"form": "weight_adapter", "position": p, "size": 3, "activation": "gelu"}
                for p in ("query", "value")
            ],
        }
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", list(MERGED))
def test_weight_level_methods_merge_without_changing_outputs(family: str, name: str) -> None:
    model = tiny_model(family)
    names_before = {n for n, _ in model.named_parameters()}
    applied = apply_method(model, MERGED[name])
    train_steps(applied, family, steps=2)
    batch = tiny_batch(family)
    with torch.no_grad():
        before = model(**batch).logits
        merged = applied.merge()
        after = merged(**batch).logits
    assert torch.allclose(before, after, atol=1e-5)
    assert not any(isinstance(m, (DeltaLinear, WeightDelta)) for m in merged.modules())
    assert {n for n, _ in merged.named_parameters()} == names_before


def test_hiwi_and_intrinsic_leave_the_frozen_weights_untouched() -> None:
    for name in ("hiwi", "intrinsic"):
        model = tiny_model("bert")
        frozen = {
            n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("classifier")
        }
        applied = apply_method(model, preset(name))
        train_steps(applied, "bert")
        params = dict(model.named_parameters())
        for n, value in frozen.items():
            current = params.get(
                n, params.get(n.replace(".weight", ".base.weight").replace(".bias", ".base.bias"))
            )
            assert current is not None and torch.equal(current, value), n
        assert any(float(d.merged_delta()[0].detach().abs().sum()) > 0 for _, d in weight_sites(model))


@pytest.mark.parametrize(("d", "out_dim"), [(3, 5), (8, 8), (4, 13), (20, 6)])
def test_fastfood_equals_the_explicit_product(d: int, out_dim: int) -> None:
    fastfood = Fastfood(d, out_dim, torch.Generator().manual_seed(d * 100 + out_dim)).double()
    length = fastfood.length
    assert length >= max(d, out_dim) and length & (length - 1) == 0
    h = torch.tensor(hadamard(length), dtype=torch.float64)
    permutation = torch.zeros(length, length, dtype=torch.float64)
    permutation[torch.arange(length), fastfood.permutation] = 1.0  # (Π v)_i = v_{π(i)}
    matrix = h @ torch.diag(fastfood.gaussian) @ permutation @ h @ torch.diag(fastfood.signs)
    divisor = math.sqrt(length * float((fastfood.gaussian**2).sum())) * math.sqrt(out_dim / length)
    explicit = matrix[:out_dim, :d] / divisor
    theta = torch.randn(d, dtype=torch.float64, requires_grad=True)
    got = fastfood(theta)
    assert torch.allclose(got, explicit @ theta, atol=1e-10)
    upstream = torch.randn(out_dim, dtype=torch.float64)
    (grad,) = torch.autograd.grad(got, theta, upstream)
    assert torch.allclose(grad, explicit.T @ upstream, atol=1e-10)
    x = torch.randn(3, length, dtype=torch.float64)
    assert torch.allclose(walsh_hadamard(x), x @ h.T, atol=1e-10)


@pytest.mark.parametrize("projection", [DenseProjection, SparseProjection])
def test_random_projections_have_unit_columns_and_follow_their_seed(projection: type) -> None:
    p = projection(7, 300, torch.Generator().manual_seed(3))
    columns = torch.stack([p(torch.eye(7)[j]) for j in range(7)], dim=1)
    assert torch.allclose(columns.norm(dim=0), torch.ones(7), atol=1e-5)
    again = projection(7, 300, torch.Generator().manual_seed(3))
    assert torch.equal(again(torch.ones(7)), p(torch.ones(7)))


def test_one_intrinsic_subspace_spans_all_its_positions() -> None:
    model = tiny_model("bart")
    applied = apply_method(model, preset("intrinsic_said"))
    thetas = list(model.ds_shared.parameters())
    sites = weight_sites(model)
    assert len(thetas) == 1 and thetas[0].numel() == 1000 - len(sites)
    assert all(d.subspace.module.theta is thetas[0] for _, d in sites)
    assert applied.counts.trainable_params - applied.counts.head_params == 1000
    own = method_from_mapping(
        {
            "name": "two",
            "deltas": [
                {"form": "intrinsic", "position": "query", "size": 50},
                {"form": "intrinsic", "position": "value", "size": 50, "seed": 1, "projection": "sparse"},
            ],
        }
    )
    assert count_method(own, hand_dims()).delta_params == 100


def test_accounting_of_weight_level_forms_by_hand() -> None:
    dims = hand_dims()
    mask = method_from_mapping(
        {"name": "m", "deltas": [{"form": "magnitude_mask", "position": "query", "fraction": 0.1}]}
    )
    c = count_method(mask, dims)
    assert (c.delta_params, c.stored_params - c.head_params, c.stored_indices) == (30, 30, 30)
    diff = method_from_mapping(
        {"name": "d", "deltas": [{"form": "l0_diff", "position": "ffn_in", "fraction": 0.01}]}
    )
    c = count_method(diff, dims)
    assert (c.delta_params, c.stored_params - c.head_params, c.stored_indices) == (3 * 2 * 400, 3 * 4, 3 * 4)
    hiwi = method_from_mapping(
        {"name": "h", "deltas": [{"form": "weight_adapter", "position": "ffn_in", "size": 2}]}
    )
    assert count_method(hiwi, dims).delta_params == 3 * (40 * 2 + 2 * 40)
    said = method_from_mapping({"preset": "intrinsic_said", "deltas": {i: {"size": 40} for i in range(6)}})
    c = count_method(said, dims)
    assert (c.delta_params, c.breakdown[0].shared, c.breakdown[1].shared) == (40, 40 - 18, 0)
    assert (
        count_method(preset("mam"), dims).inference_extra_params
        == count_method(preset("mam"), dims).delta_params
    )
    assert count_method(preset("lora"), dims).inference_extra_params == 0
    with pytest.raises(SpecError, match="needs d > 18"):
        count_method(
            method_from_mapping({"preset": "intrinsic_said", "deltas": {i: {"size": 18} for i in range(6)}}),
            dims,
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"form": "magnitude_mask", "position": "query"}, "fraction is required for form='magnitude_mask'"),
        ({"form": "low_rank", "position": "query", "size": 2, "fraction": 0.1}, "fraction=0.1 clashes"),
        ({"form": "magnitude_mask", "position": "ffn_output", "fraction": 0.1}, "acts on weight sites"),
        (
            {"form": "weight_adapter", "position": "ffn_in"},
            "size is required for form='weight_adapter' (the adapter's r)",
        ),
        (
            {"form": "intrinsic", "position": "key", "size": 4, "insertion": "parallel"},
            "has no insertion form",
        ),
        (
            {"form": "low_rank", "position": "key", "size": 4, "projection": "dense"},
            "belongs to, and is required by, form='intrinsic'",
        ),
        (
            {"form": "lottery_mask", "position": "key", "fraction": 0.1, "penalty": 0.1},
            "required by, form='l0_diff'",
        ),
        ({"form": "pafi", "position": "key"}, "form: got 'pafi'"),
        (
            {"form": "l0_diff", "position": "key", "fraction": 0.1, "composition": "scaled", "scale": 2},
            "W' = W + ΔW",
        ),
        ({"form": "weight_adapter", "position": "key", "size": 2, "init": "normal"}, "starts at ΔW = 0"),
        ({"form": "magnitude_mask", "position": "key", "fraction": 1.5}, "fraction"),
    ],
)
def test_weight_level_fields_are_validated(fields: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        method_from_mapping({"name": "m", "deltas": [fields]})
    assert message in str(info.value)
