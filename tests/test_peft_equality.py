"""deltaspace's built model equals peft's own implementation on the same weights, to 1e-5.

For each preset with a peft twin, one tiny backbone is copied: deltaspace builds the preset into
one copy, peft its own config into the other. Data-driven initialisations (PiSSA, OLoRA) must
produce peft's factors and residual W; then every trained tensor is moved off its init in
deltaspace, copied into peft, and the two models must agree.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model

from deltaspace.methods import apply_method, family_for
from deltaspace.methods.forms import LowRank
from deltaspace.methods.sites import DeltaLinear
from deltaspace.space import preset
from deltaspace.testing.tiny_models import tiny_batch
from deltaspace.testing.weight_level import tiny_model

TWINS: dict[str, dict[str, Any]] = {
    "lora": {"r": 8, "lora_alpha": 16},
    "rslora": {"r": 8, "lora_alpha": 16, "use_rslora": True},
    "dora": {"r": 8, "lora_alpha": 16, "use_dora": True},
    "pissa": {"r": 8, "lora_alpha": 8, "init_lora_weights": "pissa"},
    "olora": {"r": 8, "lora_alpha": 16, "init_lora_weights": "olora"},
}
FAMILIES = (
    "bert",
    "llama",
    "qwen2",
    "mistral",
    "bart",
)  # nn.Linear projections (peft's OLoRA ignores GPT-2's Conv1D layout)


def twins(family: str, name: str, spec: Any = None) -> tuple[Any, Any]:
    ours = tiny_model(family)
    theirs = copy.deepcopy(ours)
    apply_method(ours, spec or preset(name))
    weights = family_for(ours.config).weights
    targets = [weights["query"], weights["value"]]
    config = LoraConfig(task_type="SEQ_CLS", target_modules=targets, lora_dropout=0.0, **TWINS[name])
    return ours.eval(), get_peft_model(theirs, config).eval()


def low_rank_sites(ours: Any, theirs: Any) -> list[tuple[Any, Any, Any]]:
    """(deltaspace DeltaLinear, its attachment, the peft LoRA layer at the same path)."""
    out = []
    for name, module in ours.named_modules():
        if isinstance(module, DeltaLinear):
            for attachment in module.outputs:
                if isinstance(attachment.delta, LowRank):
                    out.append((module, attachment, theirs.base_model.model.get_submodule(name)))
    assert out
    return out


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", list(TWINS))
def test_built_model_equals_peft_on_the_same_weights(family: str, name: str) -> None:
    ours, theirs = twins(family, name)
    sites = low_rank_sites(ours, theirs)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module, attachment, layer in sites:
            low = attachment.delta
            # the initialisation: peft's factors and its residual W (PiSSA, OLoRA), its magnitude (DoRA)
            if preset(name).deltas[0].init != "zero":
                torch.testing.assert_close(low.down.weight, layer.lora_A["default"].weight, atol=1e-5, rtol=0)
                torch.testing.assert_close(low.up.weight, layer.lora_B["default"].weight, atol=1e-5, rtol=0)
                torch.testing.assert_close(module.base.weight, layer.base_layer.weight, atol=1e-5, rtol=0)
            if name == "dora":
                magnitude = layer.lora_magnitude_vector["default"].weight
                torch.testing.assert_close(attachment.composition.magnitude, magnitude, atol=1e-5, rtol=0)
            for mine, peft_tensor in [
                (low.down.weight, layer.lora_A["default"].weight),
                (low.up.weight, layer.lora_B["default"].weight),
            ] + (
                [(attachment.composition.magnitude, layer.lora_magnitude_vector["default"].weight)]
                if name == "dora"
                else []
            ):
                mine.add_(0.3 * torch.randn(mine.shape, generator=generator))
                peft_tensor.copy_(mine)
        mine_params = dict(ours.named_parameters())
        for n, p in theirs.named_parameters():  # the head: peft's trained copy of it
            if "modules_to_save.default." in n:
                p.copy_(
                    mine_params[n.replace("base_model.model.", "").replace("modules_to_save.default.", "")]
                )
        batch = tiny_batch(family)
        mine_out, peft_out = ours(**batch).logits, theirs(**batch).logits
    assert not torch.allclose(mine_out, tiny_model(family)(**batch).logits, atol=1e-4)  # the deltas act
    torch.testing.assert_close(mine_out, peft_out, atol=1e-5, rtol=0)


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_data_driven_inits_divide_by_the_scale_as_peft_does(init: str) -> None:
    """PiSSA at s = α/r = 2: A, B are √(S/s)-weighted, W keeps W - s·B A, as peft computes them."""
    spec = preset("lora").model_copy(
        update={"deltas": tuple(d.model_copy(update={"init": init}) for d in preset("lora").deltas)}
    )
    TWINS[f"{init}_s2"] = {"r": 8, "lora_alpha": 16, "init_lora_weights": init}
    try:
        ours, theirs = twins("bert", f"{init}_s2", spec)
    finally:
        del TWINS[f"{init}_s2"]
    for module, attachment, layer in low_rank_sites(ours, theirs):
        torch.testing.assert_close(
            attachment.delta.down.weight, layer.lora_A["default"].weight, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            attachment.delta.up.weight, layer.lora_B["default"].weight, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(module.base.weight, layer.base_layer.weight, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_vera_draws_peft_s_random_matrices(family: str) -> None:
    """Same seed, same A and B as peft's VeRA (so only λ_b and λ_d need storing)."""
    from peft import VeraConfig

    ours = tiny_model(family)
    theirs = copy.deepcopy(ours)
    apply_method(ours, preset("vera"))
    weights = family_for(ours.config).weights
    config = VeraConfig(task_type="SEQ_CLS", r=256, target_modules=[weights["query"], weights["value"]])
    peft_model = get_peft_model(theirs, config)
    shared = next(iter(ours.ds_shared.values()))
    torch.testing.assert_close(shared.a, peft_model.base_model.vera_A["default"], atol=0, rtol=0)
    torch.testing.assert_close(shared.b, peft_model.base_model.vera_B["default"], atol=0, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("rank", "scale"), [(8, 1.0), (2, 1.5)])  # W2 full / W2 = W2a W2b (r < max(b, d)/2)
def test_lokr_equals_peft_s_lokr_on_the_same_weights(family: str, rank: int, scale: float) -> None:
    """The same factor shapes and zero W1 as peft's LoKr (r, α = s·r, its default factorisation),
    then, with every factor moved off its init and copied into peft, the same outputs."""
    from peft import LoKrConfig

    from deltaspace.methods.forms import LoKr
    from deltaspace.space import DeltaSpec, MethodSpec

    deltas = tuple(DeltaSpec(form="lokr", position=p, size=rank, scale=scale) for p in ("query", "value"))
    ours = tiny_model(family)
    theirs = copy.deepcopy(ours)
    apply_method(ours, MethodSpec(name="lokr", deltas=deltas))
    weights = family_for(ours.config).weights
    targets = [weights["query"], weights["value"]]
    config = LoKrConfig(task_type="SEQ_CLS", r=rank, alpha=scale * rank, target_modules=targets)
    theirs = get_peft_model(theirs, config).eval()
    generator = torch.Generator().manual_seed(5)
    sites = 0
    with torch.no_grad():
        for name, module in ours.named_modules():
            if not isinstance(module, DeltaLinear):
                continue
            lokr = next(a.delta for a in module.outputs if isinstance(a.delta, LoKr))
            layer = theirs.base_model.model.get_submodule(name)
            names = ("lokr_w2_a", "lokr_w2_b") if len(lokr.w2) == 2 else ("lokr_w2",)
            assert set(names) <= {n for n in layer.adapter_layer_names if "default" in getattr(layer, n)}
            assert not lokr.w1.any() and not layer.lokr_w1["default"].any()  # ΔW = 0 at the start
            for mine, part in [(lokr.w1, "lokr_w1"), *zip(lokr.w2, names, strict=True)]:
                peft_tensor = getattr(layer, part)["default"]
                assert mine.shape == peft_tensor.shape
                mine.add_(0.3 * torch.randn(mine.shape, generator=generator))
                peft_tensor.copy_(mine)
            sites += 1
        assert sites == sum(1 for m in theirs.modules() if hasattr(m, "lokr_w1")) > 0
        mine_params = dict(ours.named_parameters())
        for n, p in theirs.named_parameters():  # the head: peft's trained copy of it
            if "modules_to_save.default." in n:
                p.copy_(
                    mine_params[n.replace("base_model.model.", "").replace("modules_to_save.default.", "")]
                )
        batch = tiny_batch(family)
        mine_out, peft_out = ours.eval()(**batch).logits, theirs(**batch).logits
    assert not torch.allclose(mine_out, tiny_model(family)(**batch).logits, atol=1e-4)  # the deltas act
    torch.testing.assert_close(mine_out, peft_out, atol=1e-5, rtol=0)


def test_lokr_splits_dimensions_as_peft_does() -> None:
    """deltaspace's accounting splits out/in without peft: the same pairs as peft's factorization."""
    from peft.tuners.lokr.layer import factorization as peft_factorization

    from deltaspace.space.forms.lokr import factorization

    assert all(factorization(d) == peft_factorization(d) for d in range(1, 4097))
