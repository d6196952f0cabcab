"""Quantised backbones: refused on CPU (and for methods that write the frozen weights) in one line
before anything loads; the bitsandbytes configuration; dense views of quantised weights.

The CUDA path itself (bitsandbytes loading a 4-bit or 8-bit model) needs a GPU: bench/gpu_check.py."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from deltaspace.methods.quantized import dense_weight, input_dtype
from deltaspace.methods.sites import DeltaLinear
from deltaspace.space import preset
from deltaspace.testing.tiny_models import tiny_config
from deltaspace.trainers import TrainSettings
from deltaspace.trainers.cli_train import train_command
from deltaspace.trainers.quantization import quantization_config, quantization_problem
from deltaspace.trainers.trial import run_trial


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("deltaspace.methods.load_backbone", never)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("setting", ["nf4", "int8"])
def test_quantization_on_cpu_fails_the_trial_before_loading(setting: str, no_loading, tmp_path) -> None:
    settings = TrainSettings(max_steps=1, progress=False, quantization=setting)
    result = run_trial("minilm", "lora", "sst2", tmp_path, settings)
    assert result.status == "failed"
    assert result.failure_reason.startswith(
        f"quantization {setting}: bitsandbytes' quantised layers need a CUDA GPU"
    )


def test_the_train_command_says_why_in_one_line(no_loading, capsys: pytest.CaptureFixture[str]) -> None:
    code = train_command("lora", "minilm", "sst2", None, max_steps=1, quantization="nf4", progress=False)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "error: quantization nf4: bitsandbytes' quantised layers need a CUDA GPU" in err


def test_what_cannot_be_quantised_where_cuda_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a)
    )
    assert "pip install bitsandbytes" in quantization_problem("nf4", preset("lora"), "minilm")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "bitsandbytes" else real(name, *a)
    )
    assert quantization_problem("nf4", preset("lora"), "minilm") is None
    assert quantization_problem("none", preset("pissa"), tiny_config("llama")) is None
    assert "needs pretrained weights" in quantization_problem("int8", preset("lora"), tiny_config("llama"))
    for name, culprit in [("pissa", "init pissa"), ("lt_sft", "lottery_mask"), ("full", "trainable: all")]:
        problem = quantization_problem("nf4", preset(name), "minilm")
        assert "writes the frozen weights" in problem and culprit in problem


def test_bitsandbytes_configuration() -> None:
    nf4 = quantization_config("nf4", torch.bfloat16)
    assert nf4.load_in_4bit and nf4.bnb_4bit_quant_type == "nf4" and nf4.bnb_4bit_use_double_quant
    assert nf4.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config("int8", torch.bfloat16).load_in_8bit
    assert quantization_config("none", torch.bfloat16) is None


def test_an_8bit_weight_reads_as_its_dense_rows() -> None:
    """LLM.int8() keeps int8 rows q and one scale per row: w = q · SCB / 127."""
    layer = nn.Linear(3, 2, bias=False)
    q = torch.tensor([[127, -64, 0], [10, 20, -127]], dtype=torch.int8)
    layer.weight = nn.Parameter(q, requires_grad=False)
    layer.weight.SCB = torch.tensor([2.0, 0.5])
    expected = torch.tensor([[2.0, -128 / 127, 0.0], [5 / 127, 10 / 127, -0.5]])
    assert torch.allclose(dense_weight(layer), expected)
    assert DeltaLinear(layer).weight_out_in().shape == (2, 3) and input_dtype(layer) == torch.bfloat16
    plain = nn.Linear(3, 2)
    assert dense_weight(plain) is plain.weight and input_dtype(plain) == torch.float32
