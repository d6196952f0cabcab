"""An independent numeric oracle for every form × site × insertion × composition the space accepts.

Each case builds one delta into a one-layer BERT, moves every trainable tensor to random non-zero
values, runs one unit of the model (the projection, the sublayer, the attention heads or the
whole model for a prompt) and compares the result with the formula written out below from the same
tensors, to 1e-5. The formulas are the papers', not the code's:

* parallel insertion: h + s·f(x W_down + b_down) W_up + b_up from the site's *input* x;
  sequential: the same from its *output* h;
* add: h + Δh;  scaled: h + s·Δh;  gated (learned, UniPELT): h + σ(src w_g + b_g)·Δh, src what Δh read;
  multiply: h ⊙ l;  weight-level forms: (W + ΔW) x + b + Δb.

The cases are enumerated from the registries, so a new form, insertion or composition fails here
(no formula for it) until its formula is written.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification

from deltaspace.methods import apply_method
from deltaspace.methods.sites import Attachment, DeltaLinear, InputAttachment
from deltaspace.space import DeltaSpec, MethodSpec
from deltaspace.space.compositions import COMPOSITIONS, GATES
from deltaspace.space.forms import FORMS
from deltaspace.testing.tiny_models import tiny_config

# one position per kind of site in BERT (two sublayers: attention and FFN)
POSITIONS_TRIED = {
    "weight": ("value",),
    "sublayer": ("attn_output", "ffn_output"),
    "heads": ("attn_heads",),
    "hidden": ("ffn_hidden",),
    "embeddings": ("embeddings",),
}
ACTIVATION = {"relu": torch.relu, "gelu": lambda t: F.gelu(t), "tanh": torch.tanh, "identity": lambda t: t}
TOL = 1e-5


def _fields(form: str) -> dict[str, Any]:
    """The form's own fields from its example (size, fraction, projection ...), without position."""
    return {k: v for k, v in FORMS[form].example.items() if k != "position"}


def accepted_cases() -> list[DeltaSpec]:
    """Every delta the validator accepts over forms × positions × insertions × compositions × gates
    (× learned scale, × non-relu activation where the form reads one)."""
    cases: dict[str, DeltaSpec] = {}
    for form, info in FORMS.items():
        positions = [p for kind in info.sites for p in POSITIONS_TRIED[kind]]
        insertions = info.insertions or (None,)
        for position, insertion, composition in itertools.product(positions, insertions, COMPOSITIONS):
            gates = list(GATES) if composition == "gated" else [None]
            learned = [False, True] if COMPOSITIONS[composition].scaled else [False]
            activations = ["relu", "tanh"] if "activation" in info.reads else ["relu"]
            for gate, learn, activation in itertools.product(gates, learned, activations):
                fields = {**_fields(form), "position": position, "insertion": insertion}
                fields.update(composition=composition, gate=gate, activation=activation)
                if COMPOSITIONS[composition].scaled:
                    fields.update(scale=1.7, learn_scale=learn)
                if position == "attn_heads":
                    fields["heads"] = "multi"
                try:
                    delta = DeltaSpec(form=form, **fields)
                except ValueError:
                    continue
                cases[delta.model_dump_json()] = delta
    return list(cases.values())


def case_id(d: DeltaSpec) -> str:
    parts = [d.form, d.position, d.insertion or "-", d.composition]
    parts += [d.gate] if d.gate else []
    parts += ["learned"] if d.learn_scale else []
    parts += [d.activation] if d.activation != "relu" else []
    return "/".join(parts)


CASES = accepted_cases()


def one_layer_bert(delta: DeltaSpec) -> tuple[Any, Any]:
    torch.manual_seed(0)
    config = tiny_config("bert")
    config.num_hidden_layers = 1
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():  # frozen biases start at 0: move them, so formulas that read b are exercised
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))))
    applied = apply_method(model, MethodSpec(name="oracle", deltas=(delta,), trainable=()))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in applied.trainable_parameters():  # non-zero everywhere, away from any identity init
            p.copy_(0.5 * torch.randn(p.shape, generator=generator) + (1.0 if p.ndim == 0 else 0.0))
        for module in model.modules():
            if hasattr(module, "choose") and hasattr(module, "selected"):  # LT-SFT: a random mask
                k = module.indices.numel()
                module.choose(torch.randperm(module.shape[0] * module.shape[1], generator=generator)[:k])
                module.values.copy_(torch.randn(k, generator=generator))
    return model.eval(), applied


# ---- the forms' Δh (or ΔW), written out --------------------------------------------------------


def delta_of(delta: DeltaSpec, m: Any, source: torch.Tensor, frozen: torch.nn.Linear | None) -> torch.Tensor:
    """Δh of ``delta``'s module ``m`` reading ``source`` (frozen: the site's projection, W (out, in))."""
    f = ACTIVATION[delta.activation]
    if delta.form == "bottleneck":
        return f(source @ m.down.weight.T + m.down.bias) @ m.up.weight.T + m.up.bias
    if delta.form == "low_rank":
        return source @ m.down.weight.T @ m.up.weight.T
    if delta.form == "compacter":  # the bottleneck above with W = Σ_i A_i ⊗ (s_i t_iᵀ), A_i shared
        rules = m.rules.module
        w_down, w_up = (
            sum(torch.kron(a[i], torch.outer(s_[i], t[i])) for i in range(delta.phm_dim))
            for a, s_, t in ((rules.down, m.down_s, m.down_t), (rules.up, m.up_s, m.up_t))
        )
        return f(source @ w_down.T + m.down_bias) @ w_up.T + m.up_bias
    if delta.form in ("loha", "lokr", "vera"):
        return source @ weight_update_of(delta, m).T
    if delta.form in ("scaling", "bias"):
        return m.vector
    delta_w, delta_b = weight_delta_of(delta, m, frozen)
    return source @ delta_w.T + (0 if delta_b is None else delta_b)


def weight_update_of(delta: DeltaSpec, m: Any) -> torch.Tensor:
    """ΔW (out, in) of the forms that update a projection through explicit factors."""
    if delta.form == "low_rank":  # LoRA: B A
        return m.up.weight @ m.down.weight
    if delta.form == "loha":  # (W1a W1b) ⊙ (W2a W2b)
        return (m.w1a @ m.w1b) * (m.w2a @ m.w2b)
    if delta.form == "lokr":  # W1 ⊗ W2: entry (i·b + k, j·d + l) is W1[i, j]·W2[k, l]
        w2 = m.w2[0] @ m.w2[1] if len(m.w2) == 2 else m.w2[0]
        (a, c), (b, d) = m.w1.shape, w2.shape
        return torch.einsum("ij,kl->ikjl", m.w1, w2).reshape(a * b, c * d)
    if delta.form == "vera":  # diag(λ_b) B diag(λ_d) A, top-left blocks of the shared A, B
        out_dim, in_dim = m.shape
        a, b = m.projections.module.a[:, :in_dim], m.projections.module.b[:out_dim]
        return torch.diag(m.lambda_b) @ b @ torch.diag(m.lambda_d) @ a
    raise KeyError(f"no oracle formula for the ΔW of form {delta.form!r}")


def weight_delta_of(delta: DeltaSpec, m: Any, frozen: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """ΔW (out, in) and Δb of the weight-level forms, from their papers."""
    w, b = frozen.weight, frozen.bias
    out_dim, in_dim = w.shape
    if delta.form == "weight_adapter":  # HiWi, in the paper's (in, out) layout: ΔWᵀ = f(Wᵀ W_down) W_up
        f = ACTIVATION[delta.activation]
        return (f(w.T @ m.down) @ m.up).T, f(b @ m.down) @ m.up
    if delta.form in ("magnitude_mask", "lottery_mask"):
        dense = torch.zeros(out_dim * in_dim)
        dense[m.indices] = m.values
        return dense.view(out_dim, in_dim), None
    if delta.form == "l0_diff":  # inference gates z = clip(σ(log α)(ζ - γ) + γ, 0, 1), top-k of |z ⊙ w|
        z = (torch.sigmoid(m.log_alpha) * 1.2 - 0.1).clamp(0, 1)
        full = (z * m.diff).flatten()
        keep = torch.topk(full.abs(), m.keep).indices
        dense = torch.zeros_like(full)
        dense[keep] = full[keep]
        return dense.view(out_dim, in_dim), None
    if delta.form == "intrinsic":  # dense projection: ΔW = (M θ) as (out, in), λ·(M θ) when structured
        theta = m.subspace.module.theta
        flat = m.projection.matrix @ theta
        return (flat * (m.scale if m.scale is not None else 1)).view(out_dim, in_dim), None
    raise KeyError(f"no oracle formula for form {delta.form!r}: write it here")


def compose(
    delta: DeltaSpec, comp: Any, h: torch.Tensor, dh: torch.Tensor, source: torch.Tensor, site: Any = None
) -> torch.Tensor:
    """The composition, written out (gate reads what the delta read); ``site``: (frozen projection,
    the form's module) for the weight-level compositions."""
    if delta.composition == "add":
        return h + dh
    if delta.composition == "scaled":
        s = comp.scale if delta.learn_scale else delta.scale
        return h + s * dh
    if delta.composition == "multiply":
        return h * dh
    if delta.composition == "gated" and delta.gate == "learned":
        return h + torch.sigmoid(source @ comp.gate.weight.T + comp.gate.bias) * dh
    if delta.composition == "decomposed":  # DoRA: m ⊙ (W + sΔW) x / ‖W + sΔW‖_row + b
        frozen, form = site
        s = comp.scale if delta.learn_scale else delta.scale
        delta_w = weight_update_of(delta, form)
        norm = torch.linalg.norm(frozen.weight + s * delta_w, dim=1)
        return comp.magnitude / norm * (h - frozen.bias + s * dh) + frozen.bias
    raise KeyError(f"no oracle formula for composition {delta.composition!r} ({delta.gate})")


# ---- the units of the model, written out -------------------------------------------------------


def attachment(model: Any, cls: type = Attachment) -> Any:
    found = [m for m in model.modules() if isinstance(m, cls)]
    assert len(found) == 1
    return found[0]


def linear(module: Any) -> torch.nn.Linear:
    return module.base if isinstance(module, DeltaLinear) else module


def layer_norm(ln: Any, t: torch.Tensor) -> torch.Tensor:
    mean, var = t.mean(-1, keepdim=True), t.var(-1, keepdim=True, unbiased=False)
    return (t - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def affine(module: Any, x: torch.Tensor) -> torch.Tensor:
    lin = linear(module)
    return x @ lin.weight.T + lin.bias


def heads_attention(attn: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-head queries, per-head outputs softmax(q kᵀ/√d) v), both (batch, heads, tokens, hd)."""
    heads, hd = attn.num_attention_heads, attn.attention_head_size

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(*t.shape[:2], heads, hd).transpose(1, 2)

    q, k, v = (split(affine(getattr(attn, n), x)) for n in ("query", "key", "value"))
    return q, torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v


def expected_and_got(delta: DeltaSpec, model: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    layer = model.bert.encoder.layer[0]
    attn, ffn_in, ffn_out = layer.attention, layer.intermediate, layer.output
    reads_input = delta.insertion in ("parallel", None)
    if delta.position == "value" and delta.form == "oft":  # h = W (x R) + b, R = blockdiag(Cayley(Q_k))
        m = attachment(model, InputAttachment).delta
        blocks = []
        for row in m.weight:
            upper = torch.zeros(delta.size, delta.size)
            upper[tuple(torch.triu_indices(delta.size, delta.size, 1))] = row
            q = upper - upper.T
            eye = torch.eye(delta.size)
            blocks.append((eye - q) @ torch.linalg.inv(eye + q))
        rotation = torch.block_diag(*blocks)
        assert torch.allclose(rotation @ rotation.T, torch.eye(32), atol=1e-5)  # orthogonal
        return affine(attn.self.value, x @ rotation), attn.self.value(x)
    if delta.position == "value":
        a = attachment(model)
        h = affine(attn.self.value, x)
        source = x if reads_input else h
        frozen = linear(attn.self.value)
        dh = delta_of(delta, a.delta, source, frozen)
        want = compose(delta, a.composition, h, dh, source, (frozen, a.delta))
        return want, attn.self.value(x)
    if delta.position == "ffn_output":
        a = attachment(model)
        h = affine(ffn_out.dense, F.gelu(affine(ffn_in.dense, x)))
        source = x if reads_input else h
        h = compose(delta, a.composition, h, delta_of(delta, a.delta, source, None), source)
        return layer_norm(ffn_out.LayerNorm, h + x), ffn_out(ffn_in(x), x)
    if delta.position == "attn_output":
        a = attachment(model)
        _, heads = heads_attention(attn.self, x)
        h = affine(attn.output.dense, heads.transpose(1, 2).reshape(x.shape))
        source = x if reads_input else h
        h = compose(delta, a.composition, h, delta_of(delta, a.delta, source, None), source)
        return layer_norm(attn.output.LayerNorm, h + x), attn(x)[0]
    if delta.position == "ffn_hidden":
        a = attachment(model, InputAttachment)
        g = F.gelu(affine(ffn_in.dense, x))
        g = compose(delta, a.composition, g, delta_of(delta, a.delta, g, None), g)
        return layer_norm(ffn_out.LayerNorm, affine(ffn_out.dense, g) + x), ffn_out(ffn_in(x), x)
    if delta.position == "attn_heads":
        q, heads = heads_attention(attn.self, x)
        if delta.form == "prefix":
            return prefix_attention(attn.self, x), attn.self(x)[0]
        hd = attn.self.ds_heads.bottlenecks[0]
        m = hd.bottleneck
        source = q if delta.insertion == "parallel" else heads
        f = ACTIVATION[delta.activation]
        dh = f(source @ m.down + m.down_bias) @ m.up + m.up_bias  # one bottleneck per head
        out = compose(delta, hd.composition, heads, dh, source)
        return out.transpose(1, 2).reshape(x.shape), attn.self(x)[0]
    raise KeyError(f"no oracle unit for position {delta.position!r}")


def prefix_attention(attn: Any, x: torch.Tensor) -> torch.Tensor:
    """softmax(q [P_k; K]ᵀ/√d) [P_v; V] per head: the prefix is attended like extra tokens."""
    heads, hd = attn.num_attention_heads, attn.attention_head_size
    prefix = attn.ds_heads.prefixes[0]

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(*t.shape[:2], heads, hd).transpose(1, 2)

    q, k, v = (split(affine(getattr(attn, n), x)) for n in ("query", "key", "value"))
    k = torch.cat([prefix.keys.unsqueeze(0).expand(x.shape[0], -1, -1, -1), k], dim=2)
    v = torch.cat([prefix.values.unsqueeze(0).expand(x.shape[0], -1, -1, -1), v], dim=2)
    out = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
    return out.transpose(1, 2).reshape(x.shape)


@pytest.mark.parametrize("delta", [d for d in CASES if d.position != "embeddings"], ids=case_id)
def test_every_accepted_delta_computes_its_formula(delta: DeltaSpec) -> None:
    model, _ = one_layer_bert(delta)
    x = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, got = expected_and_got(delta, model, x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=TOL), (got - want).abs().max()


def test_a_prompt_is_the_embeddings_of_extra_leading_tokens() -> None:
    """Prompt tuning: the model on ids equals the frozen model on [P; E(ids)] with the mask extended."""
    delta = next(d for d in CASES if d.position == "embeddings")
    model, applied = one_layer_bert(delta)
    ids = torch.randint(3, 128, (2, 6), generator=torch.Generator().manual_seed(3))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    prompt = model.ds_prompt.embedding
    with torch.no_grad():
        got = model(input_ids=ids, attention_mask=mask).logits
        for hook in applied.hooks:
            hook.remove()
        embeds = torch.cat(
            [prompt.unsqueeze(0).expand(2, -1, -1), model.bert.embeddings.word_embeddings(ids)], 1
        )
        full_mask = torch.cat([torch.ones(2, prompt.shape[0], dtype=torch.long), mask], 1)
        want = model(inputs_embeds=embeds, attention_mask=full_mask).logits
    assert torch.allclose(got, want, atol=TOL)


def test_the_oracle_covers_every_form_insertion_and_composition() -> None:
    assert {d.form for d in CASES} == set(FORMS)
    assert {d.insertion for d in CASES} >= {"sequential", "parallel", None}
    assert {d.composition for d in CASES} == set(COMPOSITIONS)
    assert {d.gate for d in CASES} == {None, *GATES}
    kinds = {(d.form, d.position) for d in CASES}
    for form, info in FORMS.items():
        assert {p for f, p in kinds if f == form} == {p for k in info.sites for p in POSITIONS_TRIED[k]}


def test_unipelt_gates_follow_their_input() -> None:
    """A learned gate is σ(x w + b) per token, not a constant: two tokens get two gates."""
    delta = DeltaSpec(form="low_rank", position="value", size=2, composition="gated", gate="learned")
    model, _ = one_layer_bert(delta)
    a = attachment(model)
    x = torch.randn(1, 4, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        gate = torch.sigmoid(a.composition.gate(x))
        got = model.bert.encoder.layer[0].attention.self.value(x)
        h = affine(model.bert.encoder.layer[0].attention.self.value, x)
        dh = a.delta(x)
    assert gate.std() > 1e-3
    assert torch.allclose(got, h + gate * dh, atol=TOL)
