"""Specs: validation messages, YAML round trips, preset inheritance, accounting by hand."""

from __future__ import annotations

import pytest

from deltaspace.space import (
    DeltaSpec,
    MethodSpec,
    SpecError,
    count_method,
    load_method,
    method_from_mapping,
    preset,
    preset_names,
)
from deltaspace.space.accounting import ModelDims, StackDims


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_through_yaml(name: str) -> None:
    spec = preset(name)
    again = MethodSpec.from_yaml(spec.to_yaml())
    assert again == spec
    assert again.method_hash() == spec.method_hash()


def test_presets_carry_the_published_coordinates() -> None:
    lora = preset("lora")
    assert [(d.form, d.position, d.insertion, d.composition, d.size, d.scale) for d in lora.deltas] == [
        ("low_rank", "query", "parallel", "scaled", 8, 2.0),
        ("low_rank", "value", "parallel", "scaled", 8, 2.0),
    ]
    mam = preset("mam")
    assert (mam.deltas[0].form, mam.deltas[0].position, mam.deltas[0].size) == ("prefix", "attn_heads", 30)
    assert (mam.deltas[1].size, mam.deltas[1].scale, mam.deltas[1].insertion) == (512, 4.0, "parallel")
    assert preset("houlsby").deltas[0].insertion == "sequential"
    assert preset("bitfit").trainable == ("biases", "head")


def test_yaml_method_starts_from_a_preset_and_overrides_a_delta() -> None:
    spec = load_method("preset: mam\nname: mam_small\ndeltas:\n  1: {size: 128, scale: 2}\n")
    assert spec.name == "mam_small"
    assert spec.deltas[1].size == 128 and spec.deltas[1].scale == 2.0
    assert spec.deltas[0] == preset("mam").deltas[0]


def test_yaml_file_round_trip(tmp_path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(preset("unipelt").to_yaml())
    assert load_method(str(path)) == preset("unipelt")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"form": "prefix", "position": "ffn_output", "size": 4},
            "form='prefix' and position='ffn_output' clash",
        ),
        ({"form": "low_rank", "position": "query", "size": 0}, "size=0 must be a positive integer"),
        ({"form": "low_rank", "position": "query", "size": -3}, "size=-3 must be a positive integer"),
        (
            {"form": "scaling", "position": "key", "composition": "add"},
            "'multiply' is the composition of scaling",
        ),
        ({"form": "bottleneck", "position": "ffn_output", "size": 4, "composition": "gated"}, "needs gate"),
        (
            {"form": "prefix", "position": "attn_heads", "size": 4, "insertion": "sequential"},
            "reads x (parallel)",
        ),
        ({"form": "bias", "position": "key", "size": 3}, "a bias vector has no size"),
        (
            {"form": "low_rank", "position": "query", "size": 2, "activation": "gelu"},
            "only bottlenecks have f",
        ),
        (
            {"form": "prefix", "position": "embeddings", "size": 4, "layers": [0]},
            "the prompt sits at the input",
        ),
    ],
)
def test_clashing_fields_are_rejected_with_the_reason(fields: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        method_from_mapping({"name": "m", "deltas": [fields]})
    assert message in str(info.value)


def test_unknown_field_names_its_path() -> None:
    with pytest.raises(SpecError, match=r"deltas\.0\.rank: unknown field"):
        method_from_mapping({"name": "m", "deltas": [{"form": "low_rank", "position": "query", "rank": 4}]})


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(SpecError, match="known presets: houlsby"):
        preset("loraa")


def test_form_defaults_fill_unstated_fields() -> None:
    d = DeltaSpec(form="low_rank", position="value", size=4)
    assert (d.insertion, d.composition) == ("parallel", "scaled")
    p = DeltaSpec(form="prefix", position="attn_heads", size=4)
    assert (p.heads, p.gate) == ("multi", "prefix_softmax")


def _dims(**kw) -> ModelDims:
    base = dict(
        model_type="bert",
        family="bert",
        hidden=10,
        heads=2,
        kv_heads=2,
        head_dim=5,
        ffn=40,
        stacks=(StackDims(name="encoder", layers=3),),
        weight_shapes={
            "query": (10, 10),
            "key": (10, 10),
            "value": (10, 10),
            "attn_out": (10, 10),
            "ffn_in": (10, 40),
            "ffn_out": (40, 10),
        },
        backbone_params=1000,
        head_params=22,
        bias_params=100,
        layer_norm_weight_params=70,
    )
    base.update(kw)
    return ModelDims(**base)


def test_accounting_matches_hand_arithmetic() -> None:
    dims = _dims()
    # LoRA r=8 on q and v, 3 layers: 2 * 3 * (10*8 + 8*10)
    assert count_method(preset("lora"), dims).delta_params == 2 * 3 * 160
    # scaled PA r=4 at the FFN: 3 * (10*4 + 4 + 4*10 + 10)
    spa = method_from_mapping({"preset": "scaled_parallel_adapter", "deltas": {0: {"size": 4}}})
    assert count_method(spa, dims).delta_params == 3 * 94
    # prefix l=6: 3 layers * 2 (P_k, P_v) * 6 * 2 heads * 5
    pre = method_from_mapping({"preset": "prefix", "deltas": {0: {"size": 6}}})
    assert count_method(pre, dims).delta_params == 3 * 2 * 6 * 10
    # IA3: key (10) + value (10) + FFN hidden (40) per layer
    assert count_method(preset("ia3"), dims).delta_params == 3 * 60
    # layers subset and learned gate: 2 layers * (10*2 + 2*10 + (10 + 1))
    gated = method_from_mapping(
        {
            "name": "g",
            "deltas": [
                {
                    "form": "low_rank",
                    "position": "query",
                    "size": 2,
                    "composition": "gated",
                    "gate": "learned",
                    "layers": [0, 2],
                }
            ],
        }
    )
    assert count_method(gated, dims).delta_params == 2 * (40 + 11)
    bitfit = count_method(preset("bitfit"), dims)
    assert (bitfit.delta_params, bitfit.head_params, bitfit.percent) == (100, 22, 10.0)


def test_layer_beyond_the_model_is_an_error() -> None:
    spec = method_from_mapping(
        {"name": "m", "deltas": [{"form": "low_rank", "position": "query", "size": 2, "layers": [5]}]}
    )
    with pytest.raises(SpecError, match=r"layers \[5\] do not exist: the stack has 3 layers"):
        count_method(spec, _dims())


def test_cross_attention_position_on_an_encoder_is_an_error() -> None:
    spec = method_from_mapping(
        {"name": "m", "deltas": [{"form": "prefix", "position": "cross_attn_heads", "size": 2}]}
    )
    with pytest.raises(SpecError, match="does not exist in a bert model"):
        count_method(spec, _dims())


def test_where_present_deltas_count_nothing_where_the_model_lacks_their_sites() -> None:
    spec = method_from_mapping(
        {
            "name": "m",
            "deltas": [
                {"form": "low_rank", "position": "query", "size": 2},
                {"form": "prefix", "position": "cross_attn_heads", "size": 2, "where_present": True},
                {
                    "form": "low_rank",
                    "position": "value",
                    "size": 2,
                    "stack": "decoder",
                    "where_present": True,
                },
            ],
        }
    )
    counts = count_method(spec, _dims())
    assert [b.sites for b in counts.breakdown] == [3, 0, 0]
    assert counts.delta_params == 3 * (10 * 2 + 2 * 10)  # LoRA r=2 on the 10×10 W_q of 3 layers


def test_where_present_needs_a_site_some_model_lacks() -> None:
    with pytest.raises(ValueError, match="where_present=True and position='query' with stack='all' clash"):
        DeltaSpec(form="low_rank", position="query", size=2, where_present=True)
    DeltaSpec(form="low_rank", position="query", size=2, stack="decoder", where_present=True)


def test_where_present_stays_out_of_the_hash_of_methods_without_it() -> None:
    """Stored results are keyed by the method hash: the field, False by default, is left out of
    the canonical JSON, so every method written before it keeps its hash (lora's, pinned here)."""
    lora = preset("lora")
    assert "where_present" not in lora.canonical_json()
    assert lora.method_hash() == "5dfad3332499606bcc997ab5d8484e3a4259adacbb74a7787d2e95eca3d135dd"
    cross = MethodSpec(name="m", deltas=(DeltaSpec(form="prefix", position="cross_attn_heads", size=2,
                                                   where_present=True),))  # fmt: skip
    assert '"where_present":true' in cross.canonical_json()
    assert MethodSpec.from_yaml(cross.to_yaml()) == cross
