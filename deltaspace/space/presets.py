"""Published methods as points of the design space (DESIGN.md's presets table).

Defaults follow the papers, scaled to nothing: sizes are the published ones. Each preset's source
(paper and table/section, or script) is given once, where it is registered (``register_preset(...,
source=...)``), and ``deltaspace methods`` lists it; a test keeps one row below per preset.

| preset | choice, and why |
|---|---|
| houlsby | r=64 relu bottleneck after attention and FFN, layer norms trainable (Houlsby et al. 2019) |
| pfeiffer | r=64 relu bottleneck after the FFN only (Pfeiffer et al. 2021); same r as houlsby so the pair isolates position |
| prefix | l=30 at every attention's heads, no reparameterisation MLP (He et al. 2022 use l=30 in MAM): self-attention everywhere and, on encoder-decoders, the decoder's cross-attention too, as He et al. prefix BART (36 sites on BART-large: 2·l·1024 each, 14,745,600 at their l=200, 3.63% of its 406.3M parameters, their 3.6%); a `where_present` delta, absent on encoder-only and decoder-only models |
| prompt | l=20 prompt vectors at the input embeddings (Lester et al. 2021 use 20-100) |
| lora | r=8, α=16 so s=α/r=2, on W_q and W_v, no dropout (peft's default) |
| parallel_adapter | r=64 relu bottleneck in parallel with attention and FFN; *_attn / *_ffn variants for the ablation |
| parallel_adapter_attn | the same r=64 parallel adapter at attention only (the position ablation) |
| parallel_adapter_ffn | the same r=64 parallel adapter at the FFN only |
| mh_parallel_adapter | r=30 per head on the query of each head: f(q_i W_down) W_up, the same size as prefix l=30 |
| scaled_parallel_adapter | r=512 at the FFN, s=4 (He et al. 2022, the MAM's FFN half) |
| mam | prefix l=30 at attention heads (cross-attention too, as `prefix`) + scaled PA r=512, s=4 at the FFN |
| mam_glue | MAM at He et al.'s GLUE size: prefix l=16 (cross-attention too) + scaled PA r=16, s=2 at the FFN |
| unipelt | LoRA r=8 + prefix l=10 (cross-attention too, as `prefix`) + sequential adapter r=48 (Mao et al. 2022); LoRA and adapter behind learned sigmoid gates, prefix behind its own λ(x) |
| ia3 | scaling vectors on keys, values and the FFN inner activation (Liu et al. 2022) |
| bitfit | every bias term of the backbone (attention, FFN, layer norms, pooler) plus the task head (Ben Zaken et al. 2022); Llama has no biases, so there it is the head alone |
| full | every parameter trainable: the full fine-tuning reference |
| ln_tuning | the layer norms' weights and biases plus the head (Zhao et al. 2024, "Tuning LayerNorm in Attention", ICLR; peft's LNTuning) |
| rslora | LoRA's r=8, α=16 on W_q, W_v with rank-stabilised scaling s = α/√r = 16/√8 (Kalajdzievski 2023, eq. 4) |
| pissa | LoRA r=8 on W_q, W_v initialised from W's top-8 singular triplets, W keeping the residual; s = 1 (α = r, as Meng et al. 2024 run PiSSA) |
| olora | LoRA r=8, s=2 on W_q, W_v initialised from W's QR factors, W keeping the residual (Büyükakyüz 2024); the lora preset's r, s and targets, so the pair isolates the initialisation |
| loha | LoHa r=8, s=1 on W_q, W_v (peft's defaults r = α = 8; Hyeon-Woo et al. 2022 / LyCORIS) |
| lokr | LoKr r=8, s=1 on W_q, W_v: ΔW = W1 ⊗ W2, dimensions split as LyCORIS splits them, W2 at rank 8 where r < max(b, d)/2 (peft's defaults r = α = 8; LyCORIS, Yeh et al. 2024) |
| vera | VeRA r=256 on W_q, W_v, λ_d from 0.1, shared random A, B from seed 0 (Kopiczko et al. 2024, §4.1: r=256 on RoBERTa-large for GLUE) |
| oft | OFT with 32×32 orthogonal blocks (peft's default block size) on W_o and W_2, the projections no family fuses (Qiu et al. 2023) |
| compacter | Compacter: sequential relu bottlenecks r=24 after attention and FFN (Houlsby placement) whose projections are PHM layers, n=4, rank-one B_i, A_i shared by all layers, layer norms trainable (Karimi Mahabadi et al. 2021, NeurIPS; GLUE on T5-base: n=4 and reduction factor 32, r = 768/32 = 24) |
| compacter_pp | Compacter++: the same r=24, n=4 PHM bottleneck after the FFN only (Karimi Mahabadi et al. 2021) |
| dora | LoRA's r=8, s=2 on W_q, W_v composed by DoRA's weight decomposition (Liu et al. 2024, ICML, eq. 5; §5.1 compares DoRA and LoRA at one rank and target set); adds one magnitude per output row |
| diff_pruning | l0_diff on W_q, W_k, W_v, W_o, W_1, W_2: hard-concrete gates (β = 2/3, stretch (-0.1, 1.1), Louizos et al. 2018), L0 weight λ = 1.25e-7 and a 0.5% target (Guo et al. 2021); trains 2·|W| (w and log α); two thirds into training the top 0.5% of z ⊙ w becomes a fixed mask whose entries alone train on (Guo et al.'s second phase), and are stored |
| pafi | magnitude_mask on the same six matrices: their 0.5% smallest-magnitude entries train (Liao et al. 2023); 0.5% matches diff pruning's target and, on MiniLM, is close to LoRA r=8's parameters |
| lt_sft | lottery_mask on the same six matrices, 0.5% per matrix, chosen by a short full fine-tuning (Ansell et al. 2022; ``methods.sparse.select_lottery_mask``) |
| hiwi | weight_adapter r=4 relu on W_1 and W_2, the FFN (Liao et al. 2023 apply HiWi to the FFN); r=4 keeps it near LoRA r=8's size on small models |
| intrinsic | one d=1000 subspace projected by Fastfood onto the six matrices of every layer (Aghajanyan et al. 2021; d=1000 is within their d90 range for GLUE-sized tasks) |
| intrinsic_said | the same subspace, structure-aware: d=1000 counts one learned λ per weight matrix |
"""

from __future__ import annotations

from collections.abc import Callable

from .delta import DeltaSpec
from .errors import SpecError, UnknownNameError
from .method import MethodSpec

_PRESETS: dict[str, Callable[[], MethodSpec]] = {}
_SOURCES: dict[str, str] = {}


def register_preset(
    name: str, *, source: str = ""
) -> Callable[[Callable[[], MethodSpec]], Callable[[], MethodSpec]]:
    """Register a preset factory with its ``source`` (paper and table/section, or script: where its
    configuration is published); refuses non-lowercase names and duplicates. The source is kept
    beside the method, not in it, so it never enters the method hash; a test fails on a preset
    registered without one."""

    def wrap(factory: Callable[[], MethodSpec]) -> Callable[[], MethodSpec]:
        if name != name.lower() or not name.replace("_", "").isalnum():
            raise SpecError(f"preset name {name!r} must be lowercase letters, digits and '_'")
        if name in _PRESETS:
            raise SpecError(f"preset {name!r} is already registered")
        _PRESETS[name] = factory
        _SOURCES[name] = source
        return factory

    return wrap


def preset(name: str) -> MethodSpec:
    """The MethodSpec of a published method, by preset name."""
    if name not in _PRESETS:
        raise UnknownNameError(f"unknown preset {name!r}; known presets: {', '.join(preset_names())}")
    return _PRESETS[name]()


def preset_names() -> list[str]:
    return list(_PRESETS)


def preset_source(name: str) -> str:
    """Where a preset's configuration is published (paper and table/section, or script)."""
    preset(name)  # an unknown name raises the usual error
    return _SOURCES[name]


def _adapter(position: str, insertion: str, size: int, **kw: object) -> DeltaSpec:
    return DeltaSpec(form="bottleneck", position=position, insertion=insertion, size=size, **kw)  # type: ignore[arg-type]


@register_preset(
    "houlsby", source="Houlsby et al. 2019, ICML, §2.1 and Fig. 2 (adapters after attention and FFN)"
)
def _houlsby() -> MethodSpec:
    return MethodSpec(
        name="houlsby",
        deltas=(_adapter("attn_output", "sequential", 64), _adapter("ffn_output", "sequential", 64)),
        trainable=("head", "layer_norms"),
        description="Houlsby adapter: sequential relu bottlenecks after attention and FFN",
    )


@register_preset(
    "pfeiffer", source="Pfeiffer et al. 2021, EACL (AdapterFusion), §3: one adapter after the FFN"
)
def _pfeiffer() -> MethodSpec:
    return MethodSpec(
        name="pfeiffer",
        deltas=(_adapter("ffn_output", "sequential", 64),),
        description="Pfeiffer adapter: one sequential relu bottleneck after the FFN",
    )


def _cross_prefix(size: int) -> DeltaSpec:
    """Prefix tuning's decoder cross-attention prefix (He et al. 2022 prefix every attention of an
    encoder-decoder: encoder self, decoder self and decoder cross); absent, not an error, on models
    without cross-attention. Listed after a preset's other deltas, so their indices stay put."""
    return DeltaSpec(form="prefix", position="cross_attn_heads", size=size, where_present=True)


@register_preset(
    "prefix", source="Li & Liang 2021, ACL; placement and gate as He et al. 2022, ICLR, §2.1 eq. 5, on BART"
)
def _prefix() -> MethodSpec:
    return MethodSpec(
        name="prefix",
        deltas=(DeltaSpec(form="prefix", position="attn_heads", size=30), _cross_prefix(30)),
        description="Prefix tuning: learned keys/values at every attention head, gated by λ(x)",
    )


@register_preset("prompt", source="Lester et al. 2021, EMNLP: prompt lengths 20-100, l=20 the shortest")
def _prompt() -> MethodSpec:
    return MethodSpec(
        name="prompt",
        deltas=(DeltaSpec(form="prefix", position="embeddings", size=20),),
        description="Prompt tuning: learned vectors prepended to the input embeddings",
    )


@register_preset(
    "lora", source="Hu et al. 2022, ICLR, §7.1 (W_q and W_v); r=8, α=16 as peft's LoraConfig defaults"
)
def _lora() -> MethodSpec:
    def lr(position: str) -> DeltaSpec:
        return DeltaSpec(form="low_rank", position=position, size=8, scale=2.0)  # type: ignore[arg-type]

    return MethodSpec(
        name="lora",
        deltas=(lr("query"), lr("value")),
        description="LoRA: parallel low-rank updates of W_q and W_v, scaled by α/r = 16/8",
    )


@register_preset(
    "parallel_adapter",
    source="He et al. 2022, ICLR, §3.3 (parallel adapter) and §4.3-4.4 (insertion, position)",
)
def _pa() -> MethodSpec:
    return MethodSpec(
        name="parallel_adapter",
        deltas=(_adapter("attn_output", "parallel", 64), _adapter("ffn_output", "parallel", 64)),
        description="Parallel adapter at attention and FFN (He et al. 2022)",
    )


@register_preset(
    "parallel_adapter_attn", source="He et al. 2022, ICLR, §4.4: the parallel adapter at attention only"
)
def _pa_attn() -> MethodSpec:
    return MethodSpec(
        name="parallel_adapter_attn",
        deltas=(_adapter("attn_output", "parallel", 64),),
        description="Parallel adapter at the attention sublayer only",
    )


@register_preset(
    "parallel_adapter_ffn", source="He et al. 2022, ICLR, §4.4: the parallel adapter at the FFN only"
)
def _pa_ffn() -> MethodSpec:
    return MethodSpec(
        name="parallel_adapter_ffn",
        deltas=(_adapter("ffn_output", "parallel", 64),),
        description="Parallel adapter at the FFN sublayer only",
    )


@register_preset(
    "mh_parallel_adapter", source="He et al. 2022, ICLR, §4.3: the multi-head parallel adapter (MH PA)"
)
def _mh_pa() -> MethodSpec:
    return MethodSpec(
        name="mh_parallel_adapter",
        deltas=(_adapter("attn_heads", "parallel", 30),),
        description="Multi-head parallel adapter: one bottleneck per attention head",
    )


def _scaled_pa(size: int = 512) -> DeltaSpec:
    return _adapter("ffn_output", "parallel", size, composition="scaled", scale=4.0)


@register_preset(
    "scaled_parallel_adapter", source="He et al. 2022, ICLR, §4.5: scaled parallel adapter at the FFN, s=4"
)
def _scaled_pa_preset() -> MethodSpec:
    return MethodSpec(
        name="scaled_parallel_adapter",
        deltas=(_scaled_pa(),),
        description="Scaled parallel adapter at the FFN, s = 4",
    )


@register_preset(
    "mam", source="He et al. 2022, ICLR, Table 4 (XSum): MAM adapter, prefix l=30 + scaled PA r=512"
)
def _mam() -> MethodSpec:
    return MethodSpec(
        name="mam",
        deltas=(DeltaSpec(form="prefix", position="attn_heads", size=30), _scaled_pa(), _cross_prefix(30)),
        description=(
            "Mix-and-match adapter as He et al. ran it on XSum (Table 4): prefix l=30 at heads + "
            "scaled PA r=512, s=4 at FFN; `mam_glue` is their GLUE size"
        ),
    )


@register_preset(
    "mam_glue",
    source="He et al. 2022, ICLR, GLUE runs: exps/run_glue.sh in jxhe/unify-parameter-efficient-tuning",
)
def _mam_glue() -> MethodSpec:
    return MethodSpec(
        name="mam_glue",
        deltas=(
            DeltaSpec(form="prefix", position="attn_heads", size=16),
            _adapter("ffn_output", "parallel", 16, composition="scaled", scale=2.0),
            _cross_prefix(16),
        ),
        description=(
            "MAM adapter as He et al. ran it on GLUE: prefix l=16 at heads + scaled PA r=16, s=2 at "
            "FFN (exps/run_glue.sh, jxhe/unify-parameter-efficient-tuning); `mam` is their XSum size"
        ),
    )


@register_preset(
    "unipelt",
    source="Mao et al. 2022, ACL (UniPELT), §3 and its appendix hyper-parameters (LoRA r=8, l=10, r=48)",
)
def _unipelt() -> MethodSpec:
    def gated_lora(position: str) -> DeltaSpec:
        return DeltaSpec(form="low_rank", position=position, size=8, composition="gated", gate="learned")  # type: ignore[arg-type]

    return MethodSpec(
        name="unipelt",
        deltas=(
            gated_lora("query"),
            gated_lora("value"),
            DeltaSpec(form="prefix", position="attn_heads", size=10),
            _adapter("ffn_output", "sequential", 48, composition="gated", gate="learned"),
            _cross_prefix(10),
        ),
        description="UniPELT: gated LoRA + prefix + gated sequential adapter",
    )


@register_preset(
    "ia3", source="Liu et al. 2022, NeurIPS (T-Few), §3.3: IA3 scales keys, values and the FFN activation"
)
def _ia3() -> MethodSpec:
    return MethodSpec(
        name="ia3",
        deltas=tuple(DeltaSpec(form="scaling", position=p) for p in ("key", "value", "ffn_hidden")),  # type: ignore[arg-type]
        description="IA3: learned scaling of keys, values and the FFN inner activation",
    )


@register_preset("bitfit", source="Ben Zaken et al. 2022, ACL (BitFit), §2: every bias term")
def _bitfit() -> MethodSpec:
    return MethodSpec(name="bitfit", trainable=("head", "biases"), description="BitFit: all bias terms")


@register_preset(
    "full",
    source="Devlin et al. 2019, NAACL (BERT), §3.2: every parameter fine-tuned; the reference of every paper above",
)
def _full() -> MethodSpec:
    return MethodSpec(name="full", trainable=("all",), description="Full fine-tuning (reference)")


@register_preset(
    "ln_tuning", source="Zhao et al. 2024, ICLR (Tuning LayerNorm in Attention); peft's LNTuning"
)
def _ln_tuning() -> MethodSpec:
    return MethodSpec(
        name="ln_tuning",
        trainable=("head", "layer_norms"),
        description="LN tuning: only the layer norms (and the head) train (Zhao et al. 2024)",
    )


WEIGHT_POSITIONS = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")


def _every_weight(form: str, **fields: object) -> tuple[DeltaSpec, ...]:
    return tuple(DeltaSpec(form=form, position=p, **fields) for p in WEIGHT_POSITIONS)  # type: ignore[arg-type]


@register_preset(
    "diff_pruning", source="Guo et al. 2021, ACL (diff pruning): L0 gates of Louizos et al. 2018, 0.5% target"
)
def _diff_pruning() -> MethodSpec:
    return MethodSpec(
        name="diff_pruning",
        deltas=_every_weight("l0_diff", fraction=0.005, penalty=1.25e-7),
        description="Diff pruning: an L0-gated difference vector on every projection, 0.5% of it stored",
    )


@register_preset("pafi", source="Liao et al. 2023, NeurIPS (PaFi): the smallest-magnitude entries train")
def _pafi() -> MethodSpec:
    return MethodSpec(
        name="pafi",
        deltas=_every_weight("magnitude_mask", fraction=0.005),
        description="PaFi: the 0.5% smallest-magnitude entries of every projection train",
    )


@register_preset(
    "lt_sft",
    source="Ansell et al. 2022, ACL (LT-SFT): the entries that moved most in a short full fine-tuning",
)
def _lt_sft() -> MethodSpec:
    return MethodSpec(
        name="lt_sft",
        deltas=_every_weight("lottery_mask", fraction=0.005),
        description="LT-SFT: the 0.5% entries of every projection that moved most in a short full fine-tuning",
    )


@register_preset(
    "hiwi", source="Liao et al. 2023, NeurIPS (HiWi): an adapter on the FFN weights, merged after training"
)
def _hiwi() -> MethodSpec:
    return MethodSpec(
        name="hiwi",
        deltas=tuple(DeltaSpec(form="weight_adapter", position=p, size=4) for p in ("ffn_in", "ffn_out")),  # type: ignore[arg-type]
        description="HiWi: a relu adapter applied to the FFN weights, merged after training",
    )


@register_preset(
    "intrinsic", source="Aghajanyan et al. 2021, ACL (intrinsic dimensionality), Fastfood projection, d=1000"
)
def _intrinsic() -> MethodSpec:
    return MethodSpec(
        name="intrinsic",
        deltas=_every_weight("intrinsic", size=1000, projection="fastfood"),
        description="Intrinsic-dimension tuning: one d=1000 subspace, Fastfood-projected onto every projection",
    )


@register_preset(
    "intrinsic_said", source="Aghajanyan et al. 2021, ACL: SAID, one learned scale per weight matrix"
)
def _intrinsic_said() -> MethodSpec:
    return MethodSpec(
        name="intrinsic_said",
        deltas=_every_weight("intrinsic", size=1000, projection="fastfood", structured=True),
        description="Structure-aware intrinsic tuning (SAID): d=1000 with one learned scale per matrix",
    )


def _lora_like(**fields: object) -> tuple[DeltaSpec, ...]:
    return tuple(
        DeltaSpec(form="low_rank", position=p, size=8, **fields)  # type: ignore[arg-type]
        for p in ("query", "value")
    )


@register_preset(
    "dora", source="Liu et al. 2024, ICML (DoRA), eq. 5; §5.1 compares DoRA and LoRA at one rank"
)
def _dora() -> MethodSpec:
    return MethodSpec(
        name="dora",
        deltas=_lora_like(composition="decomposed", scale=2.0),
        description="DoRA: LoRA r=8, s=2 on W_q, W_v with a learned magnitude per output row (Liu et al. 2024)",
    )


@register_preset("rslora", source="Kalajdzievski 2023 (rsLoRA), eq. 4: s = α/√r")
def _rslora() -> MethodSpec:
    return MethodSpec(
        name="rslora",
        deltas=_lora_like(scale=16 / 8**0.5),
        description="rsLoRA: LoRA r=8, α=16 on W_q, W_v scaled by α/√r (Kalajdzievski 2023)",
    )


@register_preset("pissa", source="Meng et al. 2024 (PiSSA): W's top-r singular triplets, α = r")
def _pissa() -> MethodSpec:
    return MethodSpec(
        name="pissa",
        deltas=_lora_like(init="pissa", composition="add"),
        description="PiSSA: LoRA r=8 on W_q, W_v from W's principal singular triplets (Meng et al. 2024)",
    )


@register_preset("olora", source="Büyükakyüz 2024 (OLoRA): factors from W's QR decomposition")
def _olora() -> MethodSpec:
    return MethodSpec(
        name="olora",
        deltas=_lora_like(init="olora", scale=2.0),
        description="OLoRA: LoRA r=8, s=2 on W_q, W_v from W's QR factors (Büyükakyüz 2024)",
    )


@register_preset(
    "loha", source="Hyeon-Woo et al. 2022, ICLR (FedPara) / LyCORIS; r = α = 8 as peft's LoHaConfig defaults"
)
def _loha() -> MethodSpec:
    return MethodSpec(
        name="loha",
        deltas=tuple(
            DeltaSpec(form="loha", position=p, size=8, composition="add")  # type: ignore[arg-type]
            for p in ("query", "value")
        ),
        description="LoHa: ΔW = (W1a W1b) ⊙ (W2a W2b), r=8, on W_q, W_v (Hyeon-Woo et al. 2022)",
    )


@register_preset("lokr", source="LyCORIS (Yeh et al. 2024, ICLR); r = α = 8 as peft's LoKrConfig defaults")
def _lokr() -> MethodSpec:
    return MethodSpec(
        name="lokr",
        deltas=tuple(
            DeltaSpec(form="lokr", position=p, size=8, composition="add")  # type: ignore[arg-type]
            for p in ("query", "value")
        ),
        description="LoKr: ΔW = W1 ⊗ (W2a W2b), r=8, α=8, on W_q, W_v (LyCORIS; Yeh et al. 2024, "
        "'Navigating Text-To-Image Customization: From LyCORIS Fine-Tuning to Model Evaluation', ICLR)",
    )


@register_preset("vera", source="Kopiczko et al. 2024, ICLR (VeRA), §4.1: r=256 on RoBERTa-large for GLUE")
def _vera() -> MethodSpec:
    return MethodSpec(
        name="vera",
        deltas=tuple(DeltaSpec(form="vera", position=p, size=256) for p in ("query", "value")),  # type: ignore[arg-type]
        description="VeRA: shared frozen random A, B and trained scaling vectors, r=256, on W_q, W_v (Kopiczko et al. 2024)",
    )


@register_preset("oft", source="Qiu et al. 2023, NeurIPS (OFT); 32×32 blocks as peft's OFTConfig default")
def _oft() -> MethodSpec:
    return MethodSpec(
        name="oft",
        deltas=tuple(DeltaSpec(form="oft", position=p, size=32) for p in ("attn_out", "ffn_out")),  # type: ignore[arg-type]
        description="OFT: W' = W Rᵀ with 32×32 orthogonal (Cayley) blocks on W_o and W_2 (Qiu et al. 2023)",
    )


def _compacter(position: str) -> DeltaSpec:
    return DeltaSpec(form="compacter", position=position, size=24, phm_dim=4)  # type: ignore[arg-type]


@register_preset(
    "compacter",
    source="Karimi Mahabadi et al. 2021, NeurIPS (Compacter): GLUE on T5-base, n=4, reduction factor 32",
)
def _compacter_preset() -> MethodSpec:
    return MethodSpec(
        name="compacter",
        deltas=(_compacter("attn_output"), _compacter("ffn_output")),
        trainable=("head", "layer_norms"),
        description="Compacter: PHM bottlenecks (W = Σ A_i ⊗ s_i t_iᵀ, n=4, A_i shared) r=24 after attention "
        "and FFN, as on GLUE with T5-base (reduction factor 32) (Karimi Mahabadi et al. 2021, NeurIPS)",
    )


@register_preset(
    "compacter_pp", source="Karimi Mahabadi et al. 2021, NeurIPS: Compacter++, after the FFN only"
)
def _compacter_pp() -> MethodSpec:
    return MethodSpec(
        name="compacter_pp",
        deltas=(_compacter("ffn_output"),),
        trainable=("head", "layer_norms"),
        description="Compacter++: the r=24, n=4 PHM bottleneck after the FFN only (Karimi Mahabadi et al. 2021)",
    )
