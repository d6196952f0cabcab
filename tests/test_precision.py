"""Precision: every preset on a bf16 backbone of every family (forward, backward, an optimiser
step, outputs within bf16 tolerance of the float32 model), float32 master weights, the setting's
resolution per device, and a bf16 trial through the trainer."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from deltaspace.methods import apply_method
from deltaspace.methods.sparse import lottery_masks
from deltaspace.space import DeltaspaceError, preset, preset_names
from deltaspace.testing.tiny_models import tiny_batch, tiny_config
from deltaspace.trainers.precision import Precision, keep_master_weights, resolve_precision

MATRIX_FAMILIES = ("bert", "gpt2", "llama", "bart")
# transformers itself refuses inputs_embeds (which prompt tuning feeds) for BART classification
UNSUPPORTED = {("bart", "prompt")}


def _perturbed(model: torch.nn.Module, seed: int) -> None:
    """Move every trainable parameter off its (often identity) initialisation, deterministically."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g).to(p.dtype) * 0.05)


def _pick_masks(model: torch.nn.Module) -> None:
    """LT-SFT's mask, fixed by hand (the selection phase is the trainer's, tested elsewhere)."""
    for name, mask in sorted(lottery_masks(model).items()):
        n = mask.shape[0] * mask.shape[1]
        g = torch.Generator().manual_seed(len(name))
        mask.choose(torch.randperm(n, generator=g)[: mask.values.numel()])


def _pair(family: str, name: str, master_weights: bool = True) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(float32 model, bf16-backbone model) with the same method and the same trainable values."""
    torch.manual_seed(0)
    reference = AutoModelForSequenceClassification.from_config(tiny_config(family)).eval()
    low = copy.deepcopy(reference).to(torch.bfloat16)
    for model in (reference, low):
        torch.manual_seed(1)
        apply_method(model, preset(name))
        _pick_masks(model)
        model.eval()  # deltas are built in training mode (diff pruning would sample its gates)
    if master_weights:
        keep_master_weights(low)
    _perturbed(reference, 2)
    trained = dict(reference.named_parameters())
    with torch.no_grad():
        for n, p in low.named_parameters():
            if p.requires_grad:
                p.copy_(trained[n])
    return reference, low


def _close(low: torch.Tensor, reference: torch.Tensor) -> None:
    """Within bf16 tolerance: bf16 keeps 8 bits (0.4% per rounding); two layers of roundings stay
    under 4% of the largest logit on these models (measured: at most 2.8%)."""
    scale = reference.abs().max().item()
    error = (low.float() - reference).abs().max().item()
    assert error <= 0.04 * scale + 1e-3, f"max error {error:.4f} against max |logit| {scale:.4f}"


@pytest.mark.parametrize("family", MATRIX_FAMILIES)
@pytest.mark.parametrize("name", preset_names())
def test_bf16_backbone_trains_every_preset(family: str, name: str) -> None:
    if (family, name) in UNSUPPORTED:
        pytest.skip("transformers: BartForSequenceClassification takes no inputs_embeds")
    reference, low = _pair(family, name)
    batch = tiny_batch(family)
    labels = torch.tensor([0, 1])
    with torch.no_grad():
        expected = reference(**batch).logits
    trainable = {n: p for n, p in low.named_parameters() if p.requires_grad}
    assert {p.dtype for p in trainable.values()} == {torch.float32}  # master weights
    frozen = {p.dtype for p in low.parameters() if not p.requires_grad and p.ndim >= 2}
    assert frozen <= {torch.bfloat16}

    with Precision("bf16", "cpu").autocast():  # the trainer's path
        out = low(**batch, labels=labels)
    _close(out.logits, expected)
    out.loss.backward()
    for n, p in trainable.items():
        assert p.grad is not None and p.grad.dtype == torch.float32, n
        assert torch.isfinite(p.grad).all(), n
    before = {n: p.detach().clone() for n, p in trainable.items()}
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-3)
    optimizer.step()
    moved = [n for n, p in trainable.items() if not torch.equal(p, before[n])]
    assert moved and all(torch.isfinite(p).all() for p in trainable.values())


@pytest.mark.parametrize("family", ["gpt2", "llama"])  # a Conv1D family and a grouped-KV family
@pytest.mark.parametrize("name", preset_names())
def test_deltas_on_a_bf16_model_run_without_autocast(family: str, name: str) -> None:
    """The plain path a user takes: a bf16 checkpoint, ``apply_method``, a forward pass: the
    float32 deltas take bf16 activations and give bf16 back."""
    reference, low = _pair(family, name, master_weights=False)
    batch = tiny_batch(family)
    with torch.no_grad():
        expected = reference(**batch).logits
    logits = low(**batch).logits
    assert logits.dtype == torch.bfloat16
    _close(logits, expected)
    logits.float().sum().backward()


def test_precision_resolves_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == Precision("fp32", "cpu")
    assert resolve_precision("bf16", cpu).dtype == torch.bfloat16
    with pytest.raises(DeltaspaceError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", cuda) == Precision("bf16", "cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    assert resolve_precision("auto", cuda) == Precision("fp16", "cuda")
    with pytest.raises(DeltaspaceError, match="V100.*does not support bfloat16"):
        resolve_precision("bf16", cuda)


def test_autocast_and_scaler_follow_the_precision() -> None:
    with Precision("bf16", "cpu").autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with Precision("fp32", "cpu").autocast():
        assert not torch.is_autocast_enabled("cpu")
    assert not Precision("bf16", "cpu").scaler().is_enabled()
    assert Precision("fp16", "cuda").name == "fp16"  # its scaler is enabled (CUDA only: not built here)


def test_master_weights_cast_only_what_trains() -> None:
    model = AutoModelForSequenceClassification.from_config(tiny_config("llama"), dtype=torch.bfloat16)
    apply_method(model, preset("ln_tuning"))
    keep_master_weights(model)
    for n, p in model.named_parameters():
        assert p.dtype == (torch.float32 if p.requires_grad else torch.bfloat16), n
    model = AutoModelForSequenceClassification.from_config(tiny_config("bert"), dtype=torch.bfloat16)
    apply_method(model, preset("bitfit"))
    keep_master_weights(model)
    norm = model.bert.embeddings.LayerNorm
    assert norm.bias.requires_grad and not norm.weight.requires_grad
    assert norm.weight.dtype == norm.bias.dtype == torch.float32  # one dtype for layer_norm
    query = model.bert.encoder.layer[0].attention.self.query
    assert query.bias.dtype == torch.float32 and query.weight.dtype == torch.bfloat16


@pytest.fixture(scope="module")
def sst2(tmp_path_factory) -> object:
    import json

    path = tmp_path_factory.mktemp("sst2")
    words = ["a fine film", "dull and slow going", "the best of the year", "not good"]
    rows = "".join(json.dumps({"sentence": words[i % 4], "label": i % 2}) + "\n" for i in range(32))
    (path / "train.jsonl").write_text(rows)
    (path / "validation.jsonl").write_text(rows)
    return path


@pytest.mark.parametrize("method", ["lora", "mam", "bitfit", "ia3"])
def test_a_bf16_trial_trains_and_evaluates_on_cpu(method: str, sst2, monkeypatch) -> None:
    from transformers import AutoTokenizer

    from deltaspace.methods import loading
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    tokenizer = AutoTokenizer.from_pretrained(loading.resolve_model("minilm"))
    config = tiny_config("bert", vocab_size=tokenizer.vocab_size)
    loaded: list[torch.dtype] = []
    real = loading.load_backbone

    def spy(*args, **kwargs):
        model, tok = real(*args, **kwargs)
        loaded.append(next(model.parameters()).dtype)
        return model, tok

    monkeypatch.setattr(loading, "load_backbone", spy)
    monkeypatch.setattr("deltaspace.methods.load_backbone", spy)
    settings = TrainSettings(max_steps=2, batch_size=8, eval_batch_size=16, max_length=32, progress=False,
                             latency_batches=1, threads=1, precision="bf16")  # fmt: skip
    result = run_trial(config, method, "sst2", sst2, settings, tokenizer=tokenizer)
    assert result.status == "complete", result.failure_reason
    assert loaded == [torch.bfloat16] and result.score is not None and result.latency_ms_batch1


def test_fp16_on_cpu_fails_the_trial_before_loading(sst2, monkeypatch) -> None:
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    def never(*args, **kwargs):
        raise AssertionError("loaded a model")

    monkeypatch.setattr("deltaspace.methods.load_backbone", never)
    settings = TrainSettings(max_steps=1, progress=False, precision="fp16")
    result = run_trial(tiny_config("bert"), "lora", "sst2", sst2, settings)
    assert result.status == "failed" and "fp16 needs a CUDA GPU" in (result.failure_reason or "")
