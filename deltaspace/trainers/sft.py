"""Supervised fine-tuning of decoder language models: prompt/response pairs, loss on the response.

A ``causal_lm`` task's rows hold a prompt (its one text field) and a response (its label field).
Each example is the prompt's tokens followed by the response's; the labels are -100 over the
prompt, so that only the response is learned (the model still reads the prompt). With a chat
template (the tokenizer's, when it has one and the task keeps ``chat_template: true``) the prompt
is a user turn plus the assistant's generation prompt and the response is the rest of the
two-turn conversation (the template's end-of-turn tokens included, so that the model learns to
stop); without one, the prompt is tokenized as written and the response ends with the
end-of-sequence token. Prompts keep their last ``max_length`` tokens, responses their first
``max_target_length``.

Evaluation generates from the prompts alone, left-padded (a decoder continues from the right
edge), greedily or with ``num_beams``, for at most ``max_target_length`` new tokens, and decodes
only the new tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def end_token_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The token that ends a response: end-of-sequence, else the separator (BERT-style vocabularies)."""
    eos = tokenizer.eos_token_id
    return eos if eos is not None else tokenizer.sep_token_id


def uses_chat_template(tokenizer: PreTrainedTokenizerBase, wanted: bool) -> bool:
    return wanted and bool(getattr(tokenizer, "chat_template", None))


def _chat(
    tokenizer: PreTrainedTokenizerBase, turns: list[dict[str, str]], generation_prompt: bool
) -> list[int]:
    out = tokenizer.apply_chat_template(
        turns, add_generation_prompt=generation_prompt, tokenize=True, return_dict=True
    )
    return list(out["input_ids"])


def encode_pair(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    response: str,
    chat_template: bool,
    max_length: int,
    max_target_length: int,
) -> tuple[list[int], list[int]]:
    """(prompt token ids, response token ids) of one example (see the module doc)."""
    if uses_chat_template(tokenizer, chat_template):
        user = [{"role": "user", "content": prompt}]
        prompt_ids = _chat(tokenizer, user, generation_prompt=True)
        full = _chat(tokenizer, [*user, {"role": "assistant", "content": response}], generation_prompt=False)
        if full[: len(prompt_ids)] == prompt_ids:
            response_ids = full[len(prompt_ids) :]
        else:  # a template that rewrites the user turn once answered: the response as plain text
            response_ids = _plain_response(tokenizer, response)
    else:
        prompt_ids = list(tokenizer(prompt)["input_ids"])
        response_ids = _plain_response(tokenizer, response)
    return prompt_ids[-max_length:], response_ids[:max_target_length]


def _plain_response(tokenizer: PreTrainedTokenizerBase, response: str) -> list[int]:
    ids = list(tokenizer(response, add_special_tokens=False)["input_ids"])
    end = end_token_id(tokenizer)
    return ids + ([end] if end is not None else [])


def generate_responses(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    pad_id: int,
    device: torch.device,
    max_new_tokens: int,
    num_beams: int,
) -> list[str]:
    """The decoded continuation of each prompt (new tokens only, special tokens dropped, stripped)."""
    import torch

    width = max(map(len, prompts))
    ids = np.full((len(prompts), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=np.int64)
    for i, row in enumerate(prompts):  # left padding
        ids[i, width - len(row) :] = row
        mask[i, width - len(row) :] = 1
    generated = model.generate(
        input_ids=torch.from_numpy(ids).to(device),
        attention_mask=torch.from_numpy(mask).to(device),
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=False,
        pad_token_id=pad_id,
        eos_token_id=end_token_id(tokenizer),
        # a prompt-tuning hook rewrites every forward's inputs, which a key-value cache would skip
        use_cache=getattr(model, "ds_prompt", None) is None,
    )
    texts = tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)
    return [t.strip() for t in texts]
