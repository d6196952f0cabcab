"""bench/gpu_check.py without a GPU: its help and import pull in no torch, its peft twins train
what deltaspace's presets train, and it refuses to run without CUDA."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_and_import_need_no_torch() -> None:
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['gpu_check.py', '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--study-steps" in out and "torch imported: False" in out


@pytest.mark.parametrize("dora", [False, True])
def test_peft_twins_train_what_the_presets_train(dora: bool) -> None:
    from transformers import AutoModelForCausalLM

    from deltaspace.methods import apply_method
    from deltaspace.space import preset
    from deltaspace.testing.tiny_models import tiny_config

    config = tiny_config("qwen2")
    ours = AutoModelForCausalLM.from_config(config)
    apply_method(ours, preset("dora" if dora else "lora"))
    theirs = _module().peft_twin(AutoModelForCausalLM.from_config(config), dora=dora)
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)  # noqa: E731
    assert count(ours) == count(theirs)


def test_it_refuses_to_run_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        _module().main([])
