"""Pretrained weights kept in memory between trials of one process.

A worker runs many short trials on one backbone. Reading it from disk each time (and building
its tokenizer) cost a second or more of a trial that trains for twenty. The first load keeps the
checkpoint's tensors (those the checkpoint provided, never the newly initialised task head) and the
tokenizer; later trials build a fresh model from a copy of them through the same
``from_pretrained`` path, so the head is initialised from the same random stream and a trial's
result is bit-identical to one that loaded from disk (tested).

One backbone is kept (the last one used): a search uses one model, and a second copy of a large
model's weights in memory is a cost a user did not ask for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_KEPT: dict[tuple[Any, ...], tuple[type, dict[str, Any], Any]] = {}


def _stamp(path: str) -> tuple[tuple[str, int, int], ...] | None:
    """Name, size and mtime of the weight files in a local folder (None for a hub id)."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def pretrained(
    cls: Any, path: str, config: Any, tokenizer: Any, class_key: str, dtype: Any = None
) -> tuple[Any, Any]:
    """(model, tokenizer) as ``cls.from_pretrained(path, config=config, dtype=dtype)`` gives them,
    served from memory when this process loaded the same weights in the same dtype before."""
    from transformers import AutoTokenizer

    kw = {} if dtype is None else {"dtype": dtype}
    key = (path, _stamp(path), class_key, str(dtype), os.environ.get("HF_HUB_OFFLINE"))
    kept = _KEPT.get(key)
    if kept is not None:
        model_class, state, kept_tokenizer = kept  # the concrete class: Auto classes need a path
        copy = {k: v.clone() for k, v in state.items()}
        model = model_class.from_pretrained(None, config=config, state_dict=copy, **kw)
        return model, tokenizer or kept_tokenizer
    model, info = cls.from_pretrained(path, config=config, output_loading_info=True, ignore_mismatched_sizes=True, **kw)
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
    # initialised here, not read from the checkpoint: absent, or a head of another size
    fresh = set(info.get("missing_keys", ())) | {key for key, *_ in info.get("mismatched_keys", ())}
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k not in fresh}
    _KEPT.clear()
    _KEPT[key] = (type(model), state, tokenizer)
    return model, tokenizer


def forget() -> None:
    """Drop the kept weights (tests; a process done with its backbone)."""
    _KEPT.clear()
