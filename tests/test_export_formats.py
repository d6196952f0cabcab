"""Export formats on tiny random models: peft adapters load in peft with deltaspace's outputs,
merged models load with AutoModel* with the same outputs, and safetensors weights round-trip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from deltaspace.export.merged import MergeExportError, export_merged
from deltaspace.export.peft_format import PeftExportError, export_peft
from deltaspace.export.trained import TrainedTrial, TrialSource, rebuild
from deltaspace.export.weights import load_trainable, save_trainable
from deltaspace.space import DeltaSpec, MethodSpec, preset
from deltaspace.testing.tiny_models import tiny_batch, tiny_config
from deltaspace.trainers import TrainSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TWO_LORAS = MethodSpec(  # two ranks and scales on one module family: GPT-2's fused q/k/v
    name="two_loras",
    deltas=(
        DeltaSpec(form="low_rank", position="key", size=4, scale=3.0),
        DeltaSpec(form="low_rank", position="query", size=2, layers=(1,)),
    ),
)
PREFIXES = MethodSpec(  # two prefixes at every layer: one peft prefix of length 3 + 2
    name="prefixes",
    deltas=(
        DeltaSpec(form="prefix", position="attn_heads", size=3),
        DeltaSpec(form="prefix", position="attn_heads", size=2),
    ),
)
PROMPT = MethodSpec(name="prompt3", deltas=(DeltaSpec(form="prefix", position="embeddings", size=3),))
LOKR_LOW_RANK = MethodSpec(  # r=2 < max(b, d)/2: W2 = W2a W2b, two ranks and scales (rank/alpha patterns)
    name="lokr_low_rank",
    deltas=(
        DeltaSpec(form="lokr", position="query", size=2, scale=1.5),
        DeltaSpec(form="lokr", position="value", size=3),
    ),
)


def trained(family: str, spec: MethodSpec, seed: int = 0) -> TrainedTrial:
    """``spec`` built into a tiny random model, every trainable tensor moved off its init."""
    source = TrialSource(tiny_config(family), "sst2", None, TrainSettings(), seed)
    applied, tokenizer = rebuild(source, spec)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in applied.trainable_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
    applied.model.eval()
    return TrainedTrial(None, spec, applied, tokenizer, source)  # type: ignore[arg-type]


def fresh_backbone(family: str, seed: int = 0):
    import transformers

    from deltaspace.methods import load_backbone

    transformers.set_seed(seed)  # the same random backbone the trial was built on
    return load_backbone(tiny_config(family))[0].eval()


@torch.no_grad()
def logits(model, batch) -> torch.Tensor:
    return model(**batch).logits


@torch.no_grad()
def peft_prefix_logits(peft_model, batch, length: int) -> torch.Tensor:
    """peft's prefix-tuning forward, with the model's usual position ids.

    peft 0.21 looks for a ``past_key_values`` argument that transformers 5 renamed ``cache``, so its
    sequence-classification path refuses these models; this is that path, passing the prefix as
    ``cache`` and the positions explicitly (see ``position_note``).
    """
    ids, mask = batch["input_ids"], batch["attention_mask"]
    prefix_mask = torch.cat([torch.ones(ids.shape[0], length, dtype=mask.dtype), mask], dim=1)
    positions = torch.arange(ids.shape[1]).expand(ids.shape[0], -1)
    cache = peft_model.get_prompt(ids.shape[0])
    return peft_model.base_model(
        input_ids=ids, attention_mask=prefix_mask, cache=cache, position_ids=positions
    ).logits


@pytest.mark.parametrize(
    ("family", "spec"),
    [
        ("bert", preset("lora")),
        ("gpt2", TWO_LORAS),
        ("llama", preset("lora")),
        ("bart", preset("lora")),
        ("bert", preset("dora")),
        ("gpt2", preset("dora")),
        ("llama", preset("dora")),
        ("bert", preset("pissa")),
        ("llama", preset("olora")),
        ("bert", preset("rslora")),
        ("bert", preset("loha")),
        ("llama", preset("loha")),
        ("bert", preset("lokr")),
        ("llama", preset("lokr")),
        ("llama", LOKR_LOW_RANK),
        ("bert", preset("vera")),
        ("qwen2", preset("vera")),
        ("bert", preset("ln_tuning")),
        ("bert", preset("oft")),
        ("llama", preset("oft")),
        ("llama", preset("ln_tuning")),
        ("bert", preset("ia3")),
        ("gpt2", preset("ia3")),
        ("bert", PREFIXES),
        ("llama", PREFIXES),
        ("bert", preset("prefix")),  # its cross-attention prefix is absent here: one peft prefix, l=30
        ("bert", PROMPT),
        ("gpt2", PROMPT),
    ],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_peft_export_loads_in_peft_with_same_outputs(family: str, spec: MethodSpec, tmp_path: Path) -> None:
    import json

    from peft import PeftModel

    model = trained(family, spec)
    notes = export_peft(model, tmp_path)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    batch = tiny_batch(family)
    loaded = PeftModel.from_pretrained(fresh_backbone(family), str(tmp_path)).eval()
    if config["peft_type"] == "PREFIX_TUNING":
        assert notes and "position" in notes[0]
        theirs = peft_prefix_logits(loaded, batch, config["num_virtual_tokens"])
    else:
        theirs = logits(loaded, batch)
    ours = logits(model.model, batch)
    assert not torch.allclose(ours, logits(fresh_backbone(family), batch), atol=1e-4)  # the deltas act
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (preset("houlsby"), "bottleneck"),
        (preset("compacter_pp"), "no Compacter"),
        (preset("mam"), "bottleneck"),
        (preset("full"), "full fine-tuning"),
        (preset("bitfit"), "merged"),
        (preset("unipelt"), "gated"),
        *[
            (MethodSpec(name=f"gated_{f}", deltas=(
                DeltaSpec(form=f, position="value", size=2, composition="gated", gate="learned"),)),
             "has no gated composition")
            for f in ("loha", "lokr", "vera")
        ],  # fmt: skip
        (MethodSpec(name="mix", deltas=(*preset("lora").deltas, *preset("ia3").deltas)), "one tuner"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_peft_export_says_why_a_method_does_not_convert(
    spec: MethodSpec, reason: str, tmp_path: Path
) -> None:
    with pytest.raises(PeftExportError, match=reason):
        export_peft(trained("bert", spec), tmp_path)
    assert not (tmp_path / "adapter_config.json").exists()


@pytest.mark.parametrize(
    ("family", "name"), [("bert", "lora"), ("gpt2", "ia3"), ("llama", "lora"), ("bert", "bitfit")]
)
def test_merged_export_is_a_plain_model_with_same_outputs(family: str, name: str, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    model = trained(family, preset(name))
    batch = tiny_batch(family)
    ours = logits(model.model, batch)
    export_merged(model, tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    plain = fresh_backbone(family)
    assert {k: v.shape for k, v in loaded.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    assert [type(m) for m in loaded.modules()] == [type(m) for m in plain.modules()]  # no extra modules
    torch.testing.assert_close(logits(loaded, batch), ours, atol=1e-5, rtol=0)


def test_merged_export_refuses_unmergeable_deltas(tmp_path: Path) -> None:
    with pytest.raises(MergeExportError, match="prefix at attn_heads"):
        export_merged(trained("bert", preset("mam")), tmp_path)


@pytest.mark.parametrize("name", ["mam", "bitfit"])
def test_weights_round_trip_into_a_rebuilt_model(name: str, tmp_path: Path) -> None:
    model = trained("bert", preset(name))
    path = save_trainable(model.model, tmp_path / "delta.safetensors", {"method": name})
    rebuilt, _ = rebuild(model.source, model.spec)
    batch = tiny_batch("bert")
    assert not torch.allclose(logits(rebuilt.model.eval(), batch), logits(model.model, batch))
    load_trainable(rebuilt.model, path)
    torch.testing.assert_close(logits(rebuilt.model, batch), logits(model.model, batch), atol=0, rtol=0)
    other, _ = rebuild(model.source, preset("lora"))
    with pytest.raises(Exception, match="does not fit"):
        load_trainable(other.model, path)
