"""Decoder supervised fine-tuning (causal_lm tasks): response-only labels with and without a chat
template, left-padded generation, exact counts on language-model heads, and a trial end to end
through ``deltaspace train`` and through a study, on tiny GPT-2 and Llama models saved with a
tokenizer, over an instruction data set generated here."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from search_support import make_sst2, study_dict
from transformers import AutoModelForCausalLM, AutoTokenizer

from deltaspace.methods import apply_method, load_backbone, model_dims, resolve_model
from deltaspace.space import HeadSpec, SpecError, preset
from deltaspace.space.accounting import count_method
from deltaspace.testing.tiny_models import tiny_config
from deltaspace.trainers import TrainSettings
from deltaspace.trainers.data import encode
from deltaspace.trainers.metrics import compute_metrics
from deltaspace.trainers.sft import generate_responses
from deltaspace.trainers.tasks import TaskSpec, load_task_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} [SEP]{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def instructions(n: int, seed: int) -> list[dict[str, str]]:
    """Small arithmetic instructions with one-word answers (generated, never downloaded)."""
    rows = []
    for i in range(n):
        a, b = (seed + 3 * i) % 5, (seed + 7 * i) % 5
        rows.append({"prompt": f"what is {WORDS[a]} plus {WORDS[b]} ?", "response": WORDS[a + b]})
    return rows


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model("minilm"))


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("instructions")
    for split, (n, seed) in {"train": (48, 0), "validation": (12, 1)}.items():
        rows = instructions(n, seed)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {"name": "arithmetic", "kind": "causal_lm", "text_fields": ["prompt"], "label_field": "response",
            "metrics": ["exact_match", "rougeL"], "primary_metric": "rougeL"}  # fmt: skip
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(task))
    return path


def _save(family: str, folder: Path, tokenizer) -> Path:
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_config(family, vocab_size=tokenizer.vocab_size)).save_pretrained(
        folder
    )
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_decoders(tmp_path_factory: pytest.TempPathFactory, tokenizer) -> dict[str, Path]:
    return {f: _save(f, tmp_path_factory.mktemp(f"tiny-{f}"), tokenizer) for f in ("gpt2", "llama")}


def _rows(task: TaskSpec, folder: Path):
    from deltaspace.trainers.data import load_split

    return load_split(task, "validation", folder)


def test_labels_cover_the_response_only(task_file: Path, tokenizer) -> None:
    task = load_task_file(task_file)
    enc = encode(task, _rows(task, task_file.parent), tokenizer, max_length=64, max_target_length=8)
    first = instructions(12, 1)[0]
    prompt = tokenizer(first["prompt"])["input_ids"]
    response = tokenizer(first["response"], add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    assert enc.prompts[0] == prompt and enc.input_ids[0] == prompt + response
    assert enc.targets[0] == [-100] * len(prompt) + response
    assert enc.references[0] == first["response"]
    short = encode(task, _rows(task, task_file.parent), tokenizer, max_length=4, max_target_length=1)
    assert short.prompts[0] == prompt[-4:] and short.targets[0] == [-100] * 4 + response[:1]


def test_a_chat_template_wraps_prompt_and_response(task_file: Path, tokenizer) -> None:
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = TEMPLATE
    task = load_task_file(task_file)
    enc = encode(task, _rows(task, task_file.parent), chat, max_length=64, max_target_length=16)
    first = instructions(12, 1)[0]
    user = chat(f"<|user|> {first['prompt']} [SEP]<|assistant|>", add_special_tokens=False)["input_ids"]
    answer = chat(f" {first['response']} [SEP]", add_special_tokens=False)["input_ids"]
    assert enc.prompts[0] == user and enc.input_ids[0] == user + answer  # the template's end token learned
    plain = encode(
        task.model_copy(update={"chat_template": False}), _rows(task, task_file.parent), chat, 64, 16
    )
    assert plain.prompts[0] == chat(first["prompt"])["input_ids"]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("method", ["lora", "prefix", "prompt", "mam"])
def test_left_padded_generation_equals_one_prompt_at_a_time(family: str, method: str) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config(family)).eval()
    apply_method(model, preset(method))
    with torch.no_grad():  # non-zero deltas, so that they shape what is generated
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.3)
    prompts = [[5, 9, 17, 33, 4, 8], [7, 3], [40, 41, 42, 43]]

    class Ids:  # a tokenizer stand-in: decoding keeps the ids, so sequences compare exactly
        eos_token_id, sep_token_id = 2, None

        def batch_decode(self, rows, skip_special_tokens):
            return [" ".join(str(int(t)) for t in row if int(t) != 0) for row in rows]

    args = (Ids(), 0, torch.device("cpu"), 6, 1)
    together = generate_responses(model, args[0], prompts, *args[1:])
    alone = [generate_responses(model, args[0], [p], *args[1:])[0] for p in prompts]
    assert together == alone and all(together)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("name", ["lora", "prefix", "mam", "ia3", "bitfit", "ln_tuning", "full"])
def test_counts_on_a_language_model_head(family: str, name: str) -> None:
    config = tiny_config(family)
    if family == "llama":
        config.tie_word_embeddings = False  # an output projection of its own, part of the backbone
    model, _ = load_backbone(config, HeadSpec(kind="causal_lm"))
    applied = apply_method(model, preset(name))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    dims = model_dims(config, HeadSpec(kind="causal_lm"))
    assert dims.head_params == 0 and applied.counts.trainable_params == trainable
    assert count_method(preset(name), dims).trainable_params == trainable
    assert not model.get_output_embeddings().weight.requires_grad or name == "full"


def test_causal_lm_needs_a_decoder_only_model(task_file: Path) -> None:
    with pytest.raises(SpecError, match="needs a decoder-only model"):
        load_backbone(tiny_config("bert"), HeadSpec(kind="causal_lm"))
    with pytest.raises(ValueError, match="one text field, the prompt"):
        TaskSpec(name="x", kind="causal_lm", text_fields=("a", "b"), label_field="y", metrics=("rougeL",),
                 primary_metric="rougeL")  # fmt: skip


def test_exact_match() -> None:
    predictions, references = (
        ["four", " seven ", "two  words", "Four"],
        ["four", "seven", "two words", "four"],
    )
    assert compute_metrics(["exact_match"], predictions, references)["exact_match"] == 0.75


SMALL = {"max_length": 32, "threads": 1, "progress": False}


def test_decoder_sft_through_deltaspace_train(tiny_decoders, task_file: Path, capsys) -> None:
    from deltaspace.trainers.cli_train import train_command

    code = train_command("lora", str(tiny_decoders["gpt2"]), str(task_file), None, max_steps=3, lr=1e-2,
                         json_out=True, batch_size=8, **SMALL)  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "complete", out.get("failure_reason")
    assert set(out["metrics"]) == {"exact_match", "rougeL"} and out["primary_metric"] == "rougeL"
    assert out["head_params"] == 0 and out["delta_params"] > 0


def test_decoder_sft_through_a_study(tiny_decoders, task_file: Path, tmp_path: Path) -> None:
    from deltaspace.search.executors import ExecutorOptions
    from deltaspace.search.study_runner import run_study
    from deltaspace.space.study import study_from_mapping
    from deltaspace.storage import Storage

    url = f"sqlite:///{tmp_path / 'ds.db'}"
    study = study_dict("sft", tiny_decoders["llama"], None, task=str(task_file),
                       budget={"max_steps": 3, "n_trials": 2, "max_memory_mb": 4000},
                       search={"sampler": "grid"}, methods={"lora": {"size": [2]}, "prefix": {"size": [2]}},
                       training={"batch_size": 8, "eval_batch_size": 12, "max_length": 32, "max_target_length": 4,
                                 "latency_batches": 1, "lr": 1e-2, "precision": "bf16"})  # fmt: skip
    run_study(study_from_mapping(study), url, options=ExecutorOptions())
    trials = Storage(url).list_trials("sft")
    assert sorted(t.status for t in trials) == ["complete", "complete"], [t.failure_reason for t in trials]
    assert all("exact_match" in t.metrics and t.score is not None for t in trials)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_classification_with_decoders_keeps_working(family: str, tokenizer, tmp_path: Path) -> None:
    from deltaspace.trainers.trial import run_trial

    config = tiny_config(family, vocab_size=tokenizer.vocab_size)
    settings = TrainSettings(max_steps=2, batch_size=8, eval_batch_size=16, latency_batches=0, **SMALL)
    result = run_trial(config, "lora", "sst2", make_sst2(tmp_path / "sst2"), settings, tokenizer=tokenizer)
    assert result.status == "complete" and result.head_params > 0, result.failure_reason
