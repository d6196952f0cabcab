"""``--format peft``: an ``adapter_config.json`` and adapter weights that ``peft`` loads.

peft keeps one tuner per adapter directory. A method converts when every delta is one tuner's:

* LoRA: low-rank, parallel, at a projection, composed by add or scaled (s = lora_alpha / r);
  composed by DoRA's ``decomposed``, peft's LoRA with ``use_dora`` (the magnitudes copied);
  LoRA initialised by PiSSA or OLoRA becomes a plain LoRA of twice the rank against the original W,
  s·(B A - B₀ A₀), as peft itself converts it;
  several low-rank deltas on one projection (GPT-2's fused q/k/v) become one LoRA of the summed
  rank whose B is block-placed and carries each s (lora_alpha = r there);
* IA3: scaling vectors on a projection's output (key, value, ...) or on the FFN-out input
  (``ffn_hidden``, peft's feed-forward IA3);
* prefix tuning: P_k, P_v at every layer's self-attention heads (no reparameterisation MLP);
* prompt tuning: the prompt vectors at the input embeddings;
* OFT: the skew-symmetric blocks of each rotated projection (the exact Cayley transform);
* LoHa, LoKr: their factors at each projection (α = s·r; peft's LoKr splits W2 as deltaspace does);
  VeRA: λ_b, λ_d and the shared random A, B;
* LN tuning: a method that trains only the layer norms (and the head), as peft's LNTuning copies.

The task head and, for LoRA, trained biases go in as peft's ``modules_to_save`` and ``bias="all"``.
Everything else raises `PeftExportError` naming each reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltaspace.space.compositions import COMPOSITIONS
from deltaspace.space.delta import DeltaSpec
from deltaspace.space.dimensions import POSITIONS
from deltaspace.space.errors import DeltaspaceError
from deltaspace.space.forms import FORMS
from deltaspace.space.method import MethodSpec

from .peft_tensors import TENSOR_WRITERS, attached, head_modules, layer_norm_modules, lora_ranks, oft_blocks

PEFT_TASK_TYPE = {
    "sequence_classification": "SEQ_CLS",
    "regression": "SEQ_CLS",
    "seq2seq": "SEQ_2_SEQ_LM",
    "causal_lm": "CAUSAL_LM",
    "none": "FEATURE_EXTRACTION",
}


class PeftExportError(DeltaspaceError):
    """A method that no single peft tuner represents; the message says why."""


def delta_tuner(delta: DeltaSpec) -> tuple[str | None, str]:
    """(the peft tuner that represents ``delta``, or None, and why not): the form's export
    decision, changed by its composition where that has its own peft variant (DoRA)."""
    kind = POSITIONS[delta.position].kind
    tuner, why = FORMS[delta.form].peft(delta, kind)
    variant = COMPOSITIONS[delta.composition].peft_variant
    if tuner is None or variant is None:
        return tuner, why
    if tuner not in variant:
        return (
            None,
            f"{delta.form} at {delta.position}: peft has no {tuner} with a {delta.composition} composition",
        )
    return variant[tuner], ""


def peft_tuner(spec: MethodSpec, config: Any) -> str:
    """The one peft tuner that represents ``spec`` on a model with ``config``; raises otherwise."""
    problems = []
    tuners = set()
    for i, delta in enumerate(spec.deltas):
        tuner, why = delta_tuner(delta)
        if tuner is None:
            problems.append(f"delta {i} ({why})")
        else:
            tuners.add(tuner)
    if not spec.deltas and set(spec.trainable) in ({"layer_norms"}, {"head", "layer_norms"}):
        return "ln_tuning"  # LN tuning: peft trains copies of the layer norms
    if not spec.deltas:
        problems.append(
            "it has no delta modules (its trained parameters are backbone weights: use --format merged)"
        )
    if "all" in spec.trainable:
        problems.append("full fine-tuning trains the whole backbone (use --format merged)")
    if "layer_norms" in spec.trainable:
        problems.append("peft adapters do not store trained layer-norm weights")
    if "biases" in spec.trainable and tuners - {"lora", "dora"}:
        problems.append("only peft's LoRA stores trained biases (bias='all')")
    if len(tuners) > 1:
        problems.append(
            f"it combines {' and '.join(sorted(tuners))}, and one peft adapter directory holds one tuner"
        )
    if tuners & {"prefix", "prompt"} and getattr(config, "is_encoder_decoder", False):
        problems.append(
            "peft's prompt learning on encoder-decoder models feeds the decoder, deltaspace's the stacks it names"
        )
    if problems:
        raise PeftExportError(f"method {spec.name!r} has no peft equivalent: " + "; ".join(problems))
    return tuners.pop()


def peft_config(tuner: str, spec: MethodSpec, model: Any) -> Any:
    """The peft config of ``spec`` as built into ``model`` (a deltaspace model)."""
    import peft

    from deltaspace.methods import family_for, head_spec_of

    task_type = PEFT_TASK_TYPE[head_spec_of(model).kind]
    heads = head_modules(model) if "head" in spec.trainable else []
    lengths = sum(d.size or 0 for d in spec.deltas)
    if tuner == "prefix":
        return peft.PrefixTuningConfig(
            task_type=task_type, num_virtual_tokens=lengths, prefix_projection=False
        )
    if tuner == "prompt":
        return peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=lengths)
    if tuner == "oft":
        blocks = oft_blocks(model)
        if len(set(blocks.values())) != 1:
            raise PeftExportError("peft's OFT uses one block size for every module")
        return peft.OFTConfig(
            task_type=task_type,
            r=0,
            oft_block_size=next(iter(blocks.values())),
            target_modules=sorted(blocks),
            use_cayley_neumann=False,  # the exact Cayley transform, as deltaspace computes it
            module_dropout=0.0,
            modules_to_save=heads or None,
        )
    if tuner == "ln_tuning":
        return peft.LNTuningConfig(
            task_type=task_type, target_modules=layer_norm_modules(model), modules_to_save=heads or None
        )
    conv1d = family_for(model.config).conv1d
    if tuner == "ia3":
        targets, feedforward = _ia3_modules(model)
        return peft.IA3Config(
            task_type=task_type,
            target_modules=targets,
            feedforward_modules=feedforward,
            fan_in_fan_out=conv1d,
            modules_to_save=heads or None,
        )
    if tuner in LYCORIS:
        return _lycoris_config(tuner, model, task_type, heads, conv1d)
    ranks = lora_ranks(model)  # module -> (r, alpha)
    common_r, common_alpha = max(ranks.values(), key=list(ranks.values()).count)
    return peft.LoraConfig(
        use_dora=tuner == "dora",
        task_type=task_type,
        r=common_r,
        lora_alpha=common_alpha,
        target_modules=sorted(ranks),
        rank_pattern={m: r for m, (r, _) in ranks.items() if r != common_r},
        alpha_pattern={m: a for m, (_, a) in ranks.items() if a != common_alpha},
        lora_dropout=max(d.dropout for d in spec.deltas),
        fan_in_fan_out=conv1d,
        bias="all" if "biases" in spec.trainable else "none",
        modules_to_save=heads or None,
    )


LYCORIS = ("loha", "lokr", "vera")


def _lycoris_config(tuner: str, model: Any, task_type: str, heads: list[str], conv1d: bool) -> Any:
    """LoHa or LoKr (r, α = s·r per module) or VeRA (one r and seed; s folded into λ_b) of ``model``."""
    import peft

    from deltaspace.methods.forms import LoHa, LoKr, Vera

    if conv1d:
        raise PeftExportError(f"peft's {tuner} does not wrap GPT-2's Conv1D projections")
    try:
        found = attached(model, {"loha": LoHa, "lokr": LoKr, "vera": Vera}[tuner])
    except ValueError as err:
        raise PeftExportError(str(err)) from None
    if tuner == "vera":
        ranks = {v.lambda_d.numel() for v, _ in found.values()}
        seeds = {id(v.projections.module) for v, _ in found.values()}
        if len(ranks) > 1 or len(seeds) > 1:
            raise PeftExportError("peft's VeRA shares one pair of random matrices: one rank and seed")
        first = next(iter(found.values()))[0]
        return peft.VeraConfig(
            task_type=task_type,
            r=ranks.pop(),
            target_modules=sorted(found),
            projection_prng_key=first.seed,
            save_projection=True,
            modules_to_save=heads or None,
        )
    rank = {name: m.rank if tuner == "lokr" else m.w1b.shape[0] for name, (m, _) in found.items()}
    ranks = {name: (rank[name], scale * rank[name]) for name, (_, scale) in found.items()}
    common_r, common_alpha = max(ranks.values(), key=list(ranks.values()).count)
    return (peft.LoKrConfig if tuner == "lokr" else peft.LoHaConfig)(
        task_type=task_type,
        r=common_r,
        alpha=common_alpha,
        target_modules=sorted(found),
        rank_pattern={m: r for m, (r, _) in ranks.items() if r != common_r},
        alpha_pattern={m: a for m, (_, a) in ranks.items() if a != common_alpha},
        modules_to_save=heads or None,
    )


def _ia3_modules(model: Any) -> tuple[list[str], list[str]]:
    from deltaspace.methods.forms import ScalingVector
    from deltaspace.methods.sites import DeltaLinear

    targets, feedforward = [], []
    for name, module in model.named_modules():
        if isinstance(module, DeltaLinear):
            scales_in = any(isinstance(a.delta, ScalingVector) for a in module.inputs)
            scales_out = any(isinstance(a.delta, ScalingVector) for a in module.outputs)
            if scales_in and scales_out:
                raise PeftExportError(
                    f"{name} scales both its input and its output; peft's IA3 keeps one vector per module"
                )
            if scales_in or scales_out:
                targets.append(name)
            if scales_in:
                feedforward.append(name)
    return targets, feedforward


def position_note(tuner: str) -> str | None:
    """What a peft user must know for outputs to match, or None."""
    if tuner == "prefix":
        return (
            "peft's prefix tuning counts the prefix as past tokens and shifts position ids by "
            "num_virtual_tokens; deltaspace's prefix attention does not: pass the model's usual "
            "position_ids to get deltaspace's outputs"
        )
    return None


def export_peft(trained: Any, out_dir: Path) -> list[str]:
    """Write ``trained`` (a TrainedTrial) as a peft adapter directory; returns notes for the user."""
    import peft

    from .weights import plain_model

    model = trained.applied.model
    spec = trained.applied.on_model()  # the deltas this model has (where_present ones may be absent)
    tuner = peft_tuner(spec, model.config)
    config = peft_config(tuner, spec, model)
    wrapped = peft.get_peft_model(plain_model(model), config)
    TENSOR_WRITERS[tuner](model, wrapped)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(out_dir))
    note = position_note(tuner)
    return [note] if note else []
