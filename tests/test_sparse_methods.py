"""Sparse fine-tuning on tiny models: BitFit, PaFi, LT-SFT and diff pruning.

Masks are checked against torch.sort, the L0 penalty against its formula written out, and
"bit-identical outside the mask" on the effective weights W' = W + ΔW after AdamW with weight decay.
"""

from __future__ import annotations

import math

import pytest
import torch

from deltaspace.methods import apply_method
from deltaspace.methods.forms import L0Diff, LotteryMask, SparseDelta
from deltaspace.methods.sparse import fix_diff_masks, regularization_loss, select_lottery_mask
from deltaspace.space import DeltaspaceError, SpecError, method_from_mapping, preset
from deltaspace.testing.tiny_models import FAMILIES, tiny_batch
from deltaspace.testing.weight_level import tiny_model, train_steps, weight_sites


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
    train_steps(applied, family)
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
    train_steps(applied, "gpt2")
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
    train_steps(applied, family, penalty=True)
    for (weight, delta), w0 in zip(weight_sites(model), before, strict=True):
        assert isinstance(delta, L0Diff) and torch.equal(weight, w0)
        changed = int(((weight + delta.merged_delta()[0]) != w0).sum())
        assert 0 < changed <= delta.keep == max(1, round(0.005 * w0.numel()))
    # second phase: the projected mask is fixed and only its entries keep training
    projected = [delta.merged_delta()[0].clone() for _, delta in weight_sites(model)]
    assert fix_diff_masks(model) == len(before)
    assert float(regularization_loss(model)) == 0.0
    train_steps(applied, family)
    for (weight, delta), w0, first in zip(weight_sites(model), before, projected, strict=True):
        assert torch.equal(delta.sparse()[0], first.flatten().nonzero().flatten())
        moved = ((weight + delta.merged_delta()[0]) != w0).flatten().nonzero().flatten()
        assert set(moved.tolist()) <= set(delta.sparse()[0].tolist())
        assert not torch.equal(delta.merged_delta()[0], first)


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
        train_steps(applied, family, steps=1)
