"""The method builder on tiny random models of every family: counts, identities, merging, grads."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from deltaspace.methods import apply_method
from deltaspace.methods.sites import DeltaLinear
from deltaspace.space import (
    DeltaSpec,
    MethodSpec,
    SpecError,
    UnsupportedModelError,
    method_from_mapping,
    preset,
    preset_names,
)
from deltaspace.testing.tiny_models import FAMILIES, tiny_batch, tiny_config

# presets whose published initialisation is an identity (Δh = 0 before training)
IDENTITY_PRESETS = [
    "houlsby",
    "pfeiffer",
    "compacter",
    "compacter_pp",
    "lora",
    "parallel_adapter",
    "parallel_adapter_attn",
    "parallel_adapter_ffn",
    "mh_parallel_adapter",
    "scaled_parallel_adapter",
    "ia3",
    "bitfit",
    "full",
]


def tiny_model(family: str, **kw):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config(family), **kw).eval()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", preset_names())
def test_count_from_config_equals_trainable_elements(family: str, name: str) -> None:
    model = tiny_model(family)
    applied = apply_method(model, preset(name))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert applied.counts.trainable_params == trainable


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", IDENTITY_PRESETS)
def test_identity_init_keeps_the_frozen_outputs(family: str, name: str) -> None:
    model = tiny_model(family)
    frozen = copy.deepcopy(model)
    batch = tiny_batch(family)
    apply_method(model, preset(name))
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, frozen(**batch).logits, atol=1e-6)


def _prefix_identity_reference(attn, x, prefix, mask_keep):
    """(1-λ)·Attn(xW_q, CW_k, CW_v) + λ·softmax(xW_q P_kᵀ)P_v, written out head by head."""
    heads, hd = attn.num_attention_heads, attn.attention_head_size
    q = (x @ attn.query.weight.T + attn.query.bias).view(*x.shape[:2], heads, hd).transpose(1, 2)
    k = (x @ attn.key.weight.T + attn.key.bias).view(*x.shape[:2], heads, hd).transpose(1, 2)
    v = (x @ attn.value.weight.T + attn.value.bias).view(*x.shape[:2], heads, hd).transpose(1, 2)
    scale = 1 / math.sqrt(hd)
    s_std = (q @ k.transpose(-1, -2)) * scale  # (B, H, T, T)
    s_pre = (q @ prefix.keys.transpose(-1, -2).unsqueeze(0)) * scale  # (B, H, T, l)
    e_std = torch.exp(s_std) * mask_keep[:, None, None, :]
    e_pre = torch.exp(s_pre)
    lam = e_pre.sum(-1, keepdim=True) / (e_pre.sum(-1, keepdim=True) + e_std.sum(-1, keepdim=True))
    standard = (e_std / e_std.sum(-1, keepdim=True)) @ v
    prefix_attention = (e_pre / e_pre.sum(-1, keepdim=True)) @ prefix.values.unsqueeze(0)
    out = (1 - lam) * standard + lam * prefix_attention
    return out.transpose(1, 2).reshape(*x.shape[:2], heads * hd)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("masked", [False, True])
def test_prefix_tuning_satisfies_the_unified_view_identity(implementation: str, masked: bool) -> None:
    model = tiny_model("bert", attn_implementation=implementation)
    apply_method(model, preset("prefix"))
    attn = model.bert.encoder.layer[0].attention.self
    prefix = attn.ds_heads.prefixes[0]
    torch.manual_seed(1)
    x = torch.randn(2, 7, 32)
    keep = torch.ones(2, 7)
    if masked:
        keep[1, 4:] = 0
    if implementation == "sdpa":
        mask = keep.bool()[:, None, None, :].expand(2, 1, 7, 7)
    else:
        mask = ((1 - keep) * torch.finfo(torch.float32).min)[:, None, None, :].expand(2, 1, 7, 7)
    with torch.no_grad():
        got, _ = attn(x, attention_mask=mask)
        want = _prefix_identity_reference(attn, x, prefix, keep)
    rows = keep.bool()  # padded query rows are irrelevant
    assert torch.allclose(got[rows], want[rows], atol=1e-5)


def _cross_prefix_identity_reference(attn, h, enc, prefix, enc_keep):
    """BART's cross-attention with a prefix, in the unified view's form, head by head:
    out_proj((1-λ)·Attn(hW_q, CW_k, CW_v) + λ·softmax(hW_q P_kᵀ)P_v), C the encoder states."""
    heads, hd = attn.num_heads, attn.head_dim

    def split(t):
        return t.view(*t.shape[:2], heads, hd).transpose(1, 2)

    q = split(h @ attn.q_proj.weight.T + attn.q_proj.bias)
    k = split(enc @ attn.k_proj.weight.T + attn.k_proj.bias)
    v = split(enc @ attn.v_proj.weight.T + attn.v_proj.bias)
    e_std = torch.exp((q @ k.transpose(-1, -2)) / math.sqrt(hd)) * enc_keep[:, None, None, :]
    e_pre = torch.exp((q @ prefix.keys.transpose(-1, -2).unsqueeze(0)) / math.sqrt(hd))
    lam = e_pre.sum(-1, keepdim=True) / (e_pre.sum(-1, keepdim=True) + e_std.sum(-1, keepdim=True))
    standard = (e_std / e_std.sum(-1, keepdim=True)) @ v
    prefix_attention = (e_pre / e_pre.sum(-1, keepdim=True)) @ prefix.values.unsqueeze(0)
    out = ((1 - lam) * standard + lam * prefix_attention).transpose(1, 2).reshape(*h.shape[:2], heads * hd)
    return out @ attn.out_proj.weight.T + attn.out_proj.bias, lam


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("masked", [False, True])
def test_prefix_attends_at_the_decoder_cross_attention(implementation: str, masked: bool) -> None:
    """The prefix preset on BART prefixes the decoder's cross-attention too (He et al. 2022), and
    the queries attend to it: the identity holds there with λ > 0."""
    model = tiny_model("bart", attn_implementation=implementation)
    applied = apply_method(model, preset("prefix"))
    assert [b.sites for b in applied.counts.breakdown] == [2 + 2, 2]  # encoder+decoder self, decoder cross
    assert applied.trainable_numel() == applied.counts.trainable_params
    attn = model.model.decoder.layers[0].encoder_attn
    (prefix,) = attn.ds_heads.prefixes
    assert prefix.keys.requires_grad and prefix.length == 30
    torch.manual_seed(1)
    h, enc = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    keep = torch.ones(2, 7)
    if masked:
        keep[1, 4:] = 0
    if implementation == "sdpa":
        mask = keep.bool()[:, None, None, :].expand(2, 1, 5, 7)
    else:
        mask = ((1 - keep) * torch.finfo(torch.float32).min)[:, None, None, :].expand(2, 1, 5, 7)
    with torch.no_grad():
        got, _ = attn(h, key_value_states=enc, attention_mask=mask)
        want, lam = _cross_prefix_identity_reference(attn, h, enc, prefix, keep)
    assert torch.allclose(got, want, atol=1e-5)
    assert lam.min() > 0.01  # the prefix carries weight: dropping it would change the output


def test_prefix_on_a_causal_decoder_keeps_causality() -> None:
    model = tiny_model("gpt2")
    apply_method(model, preset("prefix"))
    base = model.transformer
    ids = torch.randint(3, 128, (1, 8))
    with torch.no_grad():
        full = base(input_ids=ids).last_hidden_state
        prefix_only = base(input_ids=ids[:, :5]).last_hidden_state
    assert torch.allclose(full[:, :5], prefix_only, atol=1e-5)  # later tokens never leak backwards


MERGEABLE = {
    "lora": preset("lora"),
    "dora": preset("dora"),
    "pissa": preset("pissa"),
    "loha": preset("loha"),
    "lokr": preset("lokr"),
    "vera": preset("vera"),
    "oft": preset("oft"),
    "ia3": preset("ia3"),
    "vectors_and_ranks": method_from_mapping(
        {
            "name": "mix",
            "deltas": [
                {"form": "low_rank", "position": "query", "size": 3, "scale": 0.5, "init": "normal"},
                {"form": "scaling", "position": "ffn_hidden", "init": "normal"},
                {"form": "bias", "position": "ffn_hidden", "init": "normal"},
                {"form": "low_rank", "position": "ffn_out", "size": 2, "init": "normal"},
                {"form": "scaling", "position": "attn_out", "init": "normal"},
                {"form": "bias", "position": "value", "init": "normal"},
            ],
        }
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", list(MERGEABLE))
def test_merging_keeps_outputs_and_removes_the_modules(family: str, name: str) -> None:
    model = tiny_model(family)
    names_before = {n for n, _ in model.named_parameters()}
    applied = apply_method(model, MERGEABLE[name])
    with torch.no_grad():  # move away from the identity so the merge has something to fold
        for p in applied.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    batch = tiny_batch(family)
    with torch.no_grad():
        before = model(**batch).logits
        merged = applied.merge()
        after = merged(**batch).logits
    assert torch.allclose(before, after, atol=1e-5)
    assert not any(isinstance(m, DeltaLinear) for m in merged.modules())
    assert {n for n, _ in merged.named_parameters()} <= names_before | {
        n for n, _ in merged.named_parameters() if n.endswith(".bias")
    }


def test_unmergeable_methods_say_why() -> None:
    applied = apply_method(tiny_model("bert"), preset("mam"))
    with pytest.raises(SpecError, match="cannot be merged: delta 0 \\(prefix at attn_heads\\)"):
        applied.merge()


def test_a_where_present_delta_blocks_merging_only_where_it_is_present() -> None:
    cross_prefix = DeltaSpec(form="prefix", position="cross_attn_heads", size=4, where_present=True)
    spec = MethodSpec(name="lora_cross_prefix", deltas=(*preset("lora").deltas, cross_prefix))
    merged = apply_method(tiny_model("bert"), spec).merge()  # no cross-attention: LoRA alone
    assert not any(isinstance(m, DeltaLinear) for m in merged.modules())
    with pytest.raises(SpecError, match="cannot be merged: delta 2 \\(prefix at cross_attn_heads\\)"):
        apply_method(tiny_model("bart"), spec).merge()


@pytest.mark.parametrize("family", ["bert", "gpt2", "bart"])
@pytest.mark.parametrize("name", ["houlsby", "lora", "mam", "unipelt", "ia3", "bitfit", "prefix"])
def test_only_delta_and_declared_parameters_change(family: str, name: str) -> None:
    model = tiny_model(family).train()
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    applied = apply_method(model, preset(name))
    trainable = applied.trainable_parameters()
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    batch = tiny_batch(family)
    loss = model(**batch, labels=torch.tensor([0, 1])).loss
    loss.backward()
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, n
    optimizer.step()
    after = dict(model.named_parameters())
    for n, before in frozen_before.items():
        current = after.get(n) if n in after else after[_wrapped_name(n, after)]
        if not current.requires_grad:
            assert torch.equal(current, before), f"{n} changed"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)


def _wrapped_name(name: str, params: dict) -> str:
    """A frozen weight's name once its projection is wrapped (…query.weight → …query.base.weight)."""
    module, _, leaf = name.rpartition(".")
    wrapped = f"{module}.base.{leaf}"
    assert wrapped in params, name
    return wrapped


def test_declared_trainables_follow_the_spec() -> None:
    model = tiny_model("bert")
    apply_method(model, preset("bitfit"))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.endswith("bias") or n.startswith("classifier") for n in names)
    assert "bert.encoder.layer.0.attention.output.LayerNorm.bias" in names


def test_unsupported_model_names_the_supported_ones() -> None:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model = DistilBertForSequenceClassification(
        DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64)
    )
    with pytest.raises(
        UnsupportedModelError, match="'distilbert' is not supported; supported model types: bart"
    ):
        apply_method(model, preset("lora"))


def test_a_position_the_model_lacks_is_an_error() -> None:
    spec = method_from_mapping(
        {"name": "x", "deltas": [{"form": "prefix", "position": "cross_attn_heads", "size": 2}]}
    )
    with pytest.raises(SpecError, match="cross_attn_heads"):
        apply_method(tiny_model("bert"), spec)


def test_cross_attention_positions_exist_in_bart() -> None:
    spec = method_from_mapping(
        {
            "name": "x",
            "deltas": [
                {"form": "prefix", "position": "cross_attn_heads", "size": 3},
                {"form": "bottleneck", "position": "cross_attn_output", "insertion": "parallel", "size": 4},
                {"form": "low_rank", "position": "cross_value", "size": 2},
            ],
        }
    )
    model = tiny_model("bart")
    applied = apply_method(model, spec)
    assert applied.counts.trainable_params == sum(p.numel() for p in applied.trainable_parameters())
    assert applied.counts.breakdown[0].sites == 2  # decoder layers only
    with torch.no_grad():
        model(**tiny_batch("bart"))
