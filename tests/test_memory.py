"""Memory: the estimate's parts written out, the estimate against measured peaks on CPU for every
family, ``budget.max_memory_mb`` making points infeasible before any training, and gradient
checkpointing (same gradients, a trial that trains with it)."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from search_support import study_dict

from deltaspace.methods import apply_method, model_dims
from deltaspace.search.budget import check_point
from deltaspace.search.space_sampling import SampledPoint
from deltaspace.space import HeadSpec, SpecError, preset
from deltaspace.space.accounting import count_method
from deltaspace.space.memory import QUANTIZED_BYTES, estimate_memory
from deltaspace.space.study import Budget, study_from_mapping
from deltaspace.testing.tiny_models import tiny_batch, tiny_config
from deltaspace.trainers import TrainSettings

MB = 2**20


def test_estimate_parts_written_out() -> None:
    config = tiny_config("llama", vocab_size=1000)
    dims = model_dims(config, HeadSpec(num_labels=2))
    lora = count_method(preset("lora"), dims)
    h, f, layers, b, s = 32, 64, 2, 4, 100
    total = dims.backbone_params + dims.head_params  # every element of the model
    trainable = lora.trainable_params  # LoRA's factors and the head
    frozen = total - lora.head_params
    per_layer = (6.4 * h + 3.0 * f) * s  # Llama's profile, elements kept per sequence and layer

    fp32 = estimate_memory(dims, lora, batch_size=b, max_length=s)
    assert fp32.weights_mb * MB == pytest.approx(4 * frozen + 4 * trainable)
    assert fp32.gradients_mb * MB == pytest.approx(4 * trainable)
    assert fp32.optimizer_mb * MB == pytest.approx(8 * trainable)
    assert fp32.activations_mb * MB == pytest.approx(b * (layers + 1) * per_layer * 4)

    bf16 = estimate_memory(dims, lora, batch_size=b, max_length=s, precision="bf16")
    assert bf16.weights_mb * MB == pytest.approx(2 * frozen + 4 * trainable)  # float32 masters
    assert bf16.activations_mb * MB == pytest.approx(b * (layers + 1) * per_layer * 2.5)

    checkpointed = estimate_memory(dims, lora, batch_size=b, max_length=s, gradient_checkpointing=True)
    assert checkpointed.activations_mb * MB == pytest.approx(b * (layers * s * h + 2 * per_layer) * 4)

    nf4 = estimate_memory(dims, lora, batch_size=b, max_length=s, precision="bf16", quantization="nf4")
    embeddings = 1000 * h
    projections = frozen - embeddings - dims.bias_params - dims.layer_norm_weight_params
    quantised = projections * QUANTIZED_BYTES["nf4"] + (frozen - projections) * 2
    assert nf4.weights_mb * MB == pytest.approx(quantised + 4 * trainable)

    full = count_method(preset("full"), dims)
    assert estimate_memory(dims, full, batch_size=b, max_length=s).optimizer_mb * MB == 8 * total


def test_attention_scores_and_language_model_logits() -> None:
    dims = model_dims(tiny_config("bert", vocab_size=1000), HeadSpec(num_labels=2))
    count = count_method(preset("lora"), dims)
    assert dims.attention_dropout == 0.1 and dims.vocab_size == 1000
    unfused = estimate_memory(dims, count, batch_size=2, max_length=50)
    fused = estimate_memory(dims, count, batch_size=2, max_length=50, fused_attention=True)
    # three layers' worth (two kept, one in flight) of 12 bytes per score, 4 heads, 50 x 50 scores
    assert (unfused.activations_mb - fused.activations_mb) * MB == pytest.approx(2 * 3 * 12 * 4 * 50 * 50)
    lm = estimate_memory(dims, count, batch_size=2, max_length=50, head="causal_lm", fused_attention=True)
    assert (lm.activations_mb - fused.activations_mb) * MB == pytest.approx(2 * 50 * 1000 * 8)


@pytest.mark.slow  # six fresh processes, a few seconds each
@pytest.mark.parametrize(("family", "precision", "checkpointing"), [
    ("bert", "fp32", False), ("gpt2", "fp32", False), ("llama", "fp32", False), ("bart", "fp32", False),
    ("llama", "bf16", False), ("gpt2", "bf16", True),
])  # fmt: skip
def test_estimate_is_close_to_the_measured_peak(family: str, precision: str, checkpointing: bool) -> None:
    """Within a loose bound: measured / estimated in [0.6, 1.5], LoRA at batch 8 x 256 tokens on a
    4-layer, 256-wide model of each family (``deltaspace.testing.memory.measure_fresh``)."""
    from deltaspace.testing.memory import measure_fresh

    estimate, measured = measure_fresh(family, precision, checkpointing)
    assert 0.6 <= measured / estimate <= 1.5, f"measured {measured:.0f} MB, estimated {estimate:.0f} MB"


def _point(batch_size: int) -> SampledPoint:
    return SampledPoint("lora", {}, preset("lora"), {}, {"batch_size": batch_size})


def test_memory_budget_makes_points_infeasible_before_training() -> None:
    dims = model_dims(tiny_config("bert"), HeadSpec(num_labels=2))
    budget = Budget(max_steps=1, max_memory_mb=20.0)
    small = check_point(_point(2), dims, budget, TrainSettings(batch_size=2, precision="fp32"))
    big = check_point(_point(512), dims, budget, TrainSettings(batch_size=512, precision="fp32"))
    assert small.feasible and small.memory_mb is not None and small.memory_mb < 20
    assert not big.feasible and big.violation == pytest.approx(big.memory_mb / 20 - 1)
    assert "estimated training memory" in big.reason and "exceeds max_memory_mb=20" in big.reason
    assert check_point(_point(512), dims, Budget(max_steps=1)).memory_mb is None  # no limit: not estimated


def test_over_memory_points_are_recorded_infeasible_and_never_trained(tmp_path) -> None:
    from deltaspace.search.executors import ExecutorOptions
    from deltaspace.search.fake_trainer import FakeTrainer
    from deltaspace.search.study_runner import run_study
    from deltaspace.storage import Storage

    url = f"sqlite:///{tmp_path / 'ds.db'}"
    study = study_dict("memory", "minilm", None, budget={"n_trials": 2, "max_memory_mb": 1000},
                       search={"sampler": "grid"}, methods={"lora": {"size": [2]}},
                       training={"lr": 1e-3, "precision": "fp32", "batch_size": [8, 4096]})  # fmt: skip
    trainer = mock.Mock(wraps=FakeTrainer())
    run_study(study_from_mapping(study), url, options=ExecutorOptions(trainer=trainer))
    assert trainer.call_count == 1 and trainer.call_args.args[0].settings.batch_size == 8
    by_batch = {t.params["train.batch_size"]: t for t in Storage(url).list_trials("memory")}
    assert (
        by_batch[4096].status == "infeasible"
        and "exceeds max_memory_mb=1000" in by_batch[4096].failure_reason
    )
    assert by_batch[8].status == "complete"


def test_a_study_no_point_of_which_fits_in_memory_is_refused() -> None:
    from deltaspace.search.validate import check_study

    study = study_dict("tight", "minilm", None, budget={"n_trials": 2, "max_memory_mb": 10},
                       training={"precision": "fp32"})  # fmt: skip
    with pytest.raises(
        SpecError, match=r"budget: impossible: max_memory_mb=10, but the least memory .* MB on minilm"
    ):
        check_study(study_from_mapping(study))


def test_gradient_checkpointing_keeps_the_gradients() -> None:
    config = tiny_config("llama")
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_config(config)
        apply_method(model, preset("mam"))
        if checkpointing:
            from deltaspace.trainers.memory import enable_gradient_checkpointing

            enable_gradient_checkpointing(model)
        model.train()
        with torch.no_grad():  # non-zero deltas, so that their gradients reach earlier layers' deltas
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(0.05)
        model(**tiny_batch("llama"), labels=torch.tensor([0, 1])).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-6), name


def test_a_trial_trains_with_gradient_checkpointing(tmp_path) -> None:
    from search_support import make_sst2
    from transformers import AutoTokenizer

    from deltaspace.methods import resolve_model
    from deltaspace.trainers.trial import run_trial

    settings = TrainSettings(max_steps=2, batch_size=8, eval_batch_size=16, max_length=32, progress=False,
                             latency_batches=0, threads=1, gradient_checkpointing=True)  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    config = tiny_config("llama", vocab_size=tokenizer.vocab_size)
    result = run_trial(config, "lora", "sst2", make_sst2(tmp_path / "sst2"), settings, tokenizer=tokenizer)
    assert result.status == "complete", result.failure_reason
