"""Weight-level methods (diff pruning, PaFi, LT-SFT, HiWi, intrinsic dimension) and BitFit on tiny models.

Every check is against an independent computation: masks against torch.sort, Fastfood against the
explicit product with scipy's Hadamard matrix, the L0 penalty against its formula written out.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from scipy.linalg import hadamard
from transformers import AutoModelForSequenceClassification

from deltaspace.methods import apply_method
from deltaspace.methods.forms import L0Diff, LotteryMask, SparseDelta, WeightDelta
from deltaspace.methods.forms.projections import DenseProjection, Fastfood, SparseProjection, walsh_hadamard
from deltaspace.methods.sites import DeltaLinear
from deltaspace.methods.sparse import regularization_loss, select_lottery_mask
from deltaspace.space import DeltaspaceError, SpecError, count_method, method_from_mapping, preset
from deltaspace.space.accounting import ModelDims, StackDims
from deltaspace.testing.tiny_models import FAMILIES, tiny_batch, tiny_config

NEW_PRESETS = ["diff_pruning", "pafi", "lt_sft", "hiwi", "intrinsic", "intrinsic_said"]
TRAINABLE_NOW = [p for p in NEW_PRESETS if p != "lt_sft"]  # lt_sft needs its selection first


def tiny_model(family: str):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config(family)).eval()


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


def weight_sites(model) -> list[tuple[torch.Tensor, WeightDelta]]:
    """(frozen W slice in (out, in) layout, its weight-level delta) for every weight-level site."""
    out = []
    for linear in [m for m in model.modules() if isinstance(m, DeltaLinear)]:
        for attachment in linear.outputs:
            if isinstance(attachment.delta, WeightDelta):
                a, b = attachment.out_slice or (0, linear.weight_out_in().shape[0])
                out.append((linear.weight_out_in()[a:b], attachment.delta))
    return out


def train(applied, family: str, steps: int = 3, penalty: bool = False) -> None:
    """A few AdamW steps (weight decay 0.01) on the trainable parameters only."""
    model = applied.model.train()
    optimizer = torch.optim.AdamW(applied.trainable_parameters(), lr=1e-2, weight_decay=0.01)
    batch, labels = tiny_batch(family), torch.tensor([0, 1])
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        if penalty:
            loss = loss + regularization_loss(model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@pytest.mark.parametrize("family", FAMILIES)
def test_bitfit_trains_every_bias_and_the_task_head(family: str) -> None:
    model = tiny_model(family)
    applied = apply_method(model, preset("bitfit"))
    backbone = {id(p) for p in model.base_model.parameters()}
    biases = {
        id(m.bias)
        for m in model.base_model.modules()
        if isinstance(getattr(m, "bias", None), torch.nn.Parameter)
    }
    head = {id(p) for p in model.parameters() if id(p) not in backbone}
    assert {id(p) for p in applied.trainable_parameters()} == biases | head
    assert applied.counts.stored_params == applied.counts.trainable_params


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


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_pafi_mask_is_exactly_the_smallest_magnitude_fraction(family: str) -> None:
    spec = method_from_mapping({"preset": "pafi", "deltas": {i: {"fraction": 0.07} for i in range(6)}})
    model = tiny_model(family)
    apply_method(model, spec)
    sites = weight_sites(model)
    assert len(sites) == 6 * 2
    for weight, delta in sites:
        assert isinstance(delta, SparseDelta)
        magnitudes = weight.detach().abs().flatten()
        k = max(1, round(0.07 * magnitudes.numel()))
        chosen = torch.zeros_like(magnitudes, dtype=torch.bool)
        chosen[delta.indices] = True
        assert chosen.sum() == k == delta.indices.unique().numel()
        threshold = torch.sort(magnitudes).values[k - 1]
        assert magnitudes[chosen].max() <= threshold <= magnitudes[~chosen].min()


@pytest.mark.parametrize("family", ["bert", "gpt2", "bart"])
def test_pafi_training_leaves_entries_outside_the_mask_bit_identical(family: str) -> None:
    model = tiny_model(family)
    applied = apply_method(model, method_from_mapping({"preset": "pafi", "deltas": {0: {"fraction": 0.2}}}))
    before = [w.detach().clone() for w, _ in weight_sites(model)]
    others = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    train(applied, family)
    for (weight, delta), w0 in zip(weight_sites(model), before, strict=True):
        effective = (weight + delta.merged_delta()[0]).flatten()
        outside = torch.ones_like(effective, dtype=torch.bool)
        outside[delta.indices] = False
        assert torch.equal(weight, w0)
        assert torch.equal(effective[outside], w0.flatten()[outside])
        assert not torch.equal(effective[~outside], w0.flatten()[~outside])
    assert all(torch.equal(p, others[n]) for n, p in model.named_parameters() if n in others)


def test_lottery_mask_keeps_the_entries_that_moved_most_and_resets_everything() -> None:
    model = tiny_model("gpt2")
    applied = apply_method(
        model, method_from_mapping({"preset": "lt_sft", "deltas": {0: {"fraction": 0.05}}})
    )
    with pytest.raises(DeltaspaceError, match="select_lottery_mask"):
        model(**tiny_batch("gpt2"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    torch.manual_seed(1)
    bumps = [torch.randn_like(w) for w, _ in weight_sites(model)]

    def step() -> None:  # a synthetic "full fine-tuning step": moves every frozen weight by a known bump
        with torch.no_grad():
            for (weight, _), bump in zip(weight_sites(model), bumps, strict=True):
                weight.add_(bump)
            for p in model.parameters():
                if p.requires_grad and p.ndim == 1:
                    p.add_(1.0)

    select_lottery_mask(applied, step, steps=2)
    for (_, delta), bump in zip(weight_sites(model), bumps, strict=True):
        assert isinstance(delta, LotteryMask)
        k = delta.values.numel()
        want = torch.sort(bump.abs().flatten(), descending=True).indices[:k]
        assert set(delta.indices.tolist()) == set(want.tolist())
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], v) and after[n].requires_grad == flags[n] for n, v in before.items())
    train(applied, "gpt2")
    for _, delta in weight_sites(model):
        changed = (delta.merged_delta()[0] != 0).flatten().nonzero().flatten()
        assert set(changed.tolist()) <= set(delta.indices.tolist()) and len(changed) > 0


def test_lottery_selection_runs_a_real_full_fine_tuning_step() -> None:
    model = tiny_model("bert").train()
    applied = apply_method(model, preset("lt_sft"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = tiny_batch("bert")

    def step() -> None:
        model(**batch, labels=torch.tensor([0, 1])).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    chosen = select_lottery_mask(applied, step, steps=2)
    assert len(chosen) == 12 and sum(len(v) for v in chosen.values()) == applied.counts.delta_params
    with torch.no_grad():
        model(**batch)
    with pytest.raises(SpecError, match="no lottery_mask delta"):
        select_lottery_mask(apply_method(tiny_model("bert"), preset("pafi")), step, steps=1)


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_diff_pruning_trains_with_its_penalty_and_stores_a_sparse_vector(family: str) -> None:
    model = tiny_model(family)
    applied = apply_method(model, preset("diff_pruning"))
    before = [w.detach().clone() for w, _ in weight_sites(model)]
    train(applied, family, penalty=True)
    for (weight, delta), w0 in zip(weight_sites(model), before, strict=True):
        assert isinstance(delta, L0Diff) and torch.equal(weight, w0)
        changed = int(((weight + delta.merged_delta()[0]) != w0).sum())
        assert 0 < changed <= delta.keep == max(1, round(0.005 * w0.numel()))


def test_the_l0_penalty_is_the_expected_number_of_open_gates() -> None:
    model = tiny_model("bert")
    apply_method(model, preset("diff_pruning"))
    gates = [d for _, d in weight_sites(model)]
    torch.manual_seed(2)
    with torch.no_grad():
        for d in gates:
            d.log_alpha.normal_()
    beta, low, high = 2 / 3, -0.1, 1.1
    want = sum(torch.sigmoid(d.log_alpha - beta * math.log(-low / high)).sum() for d in gates) * 1.25e-7
    assert torch.allclose(regularization_loss(model), want)
    assert float(regularization_loss(apply_method(tiny_model("bert"), preset("pafi")).model)) == 0.0


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
    train(applied, family, steps=2)
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
        train(applied, "bert")
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


def test_a_pafi_mask_combines_with_prefix_tuning() -> None:
    spec = method_from_mapping(
        {
            "name": "pafi_prefix",
            "deltas": [
                {"form": "magnitude_mask", "position": "value", "fraction": 0.1},
                {"form": "prefix", "position": "attn_heads", "size": 4},
            ],
        }
    )
    for family in ("bert", "bart"):
        applied = apply_method(tiny_model(family), spec)
        assert applied.counts.trainable_params == applied.trainable_numel()
        train(applied, family, steps=1)


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
