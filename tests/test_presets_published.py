"""Published points at their published configuration: MAM at its XSum and its GLUE size; prefix
tuning at every attention of an encoder-decoder (encoder self, decoder self, decoder cross)."""

from __future__ import annotations

import re

import pytest

from deltaspace.space import (
    HeadSpec,
    SpecError,
    count_method,
    method_from_mapping,
    preset,
    preset_names,
    preset_source,
)


def roberta_base():
    from transformers import RobertaConfig

    return RobertaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                         vocab_size=50265, max_position_embeddings=514, type_vocab_size=1)  # fmt: skip


def test_mam_glue_counts_as_written_out_on_roberta_base() -> None:
    from deltaspace.methods import model_dims

    dims = model_dims(roberta_base(), HeadSpec())
    hidden, layers = 768, 12
    prefix = 2 * 16 * hidden * layers  # keys and values of l=16 at every layer
    adapter = (hidden * 16 + 16 + 16 * hidden + hidden) * layers  # r=16 down/up with biases
    assert count_method(preset("mam_glue"), dims).delta_params == prefix + adapter == 599_232
    xsum = 2 * 30 * hidden * layers + (hidden * 512 + 512 + 512 * hidden + hidden) * layers
    assert count_method(preset("mam"), dims).delta_params == xsum


def bart_large():
    from transformers import BartConfig

    return BartConfig(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                      decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, vocab_size=50265,
                      max_position_embeddings=1024)  # fmt: skip


def test_prefix_counts_every_attention_of_bart_large() -> None:
    """He et al. 2022 prefix BART-large's 12 encoder self-, 12 decoder self- and 12 decoder
    cross-attentions: 36 sites of P_k, P_v (l × 1024 each); l=200 is their 3.6% on XSum."""
    from deltaspace.methods import model_dims

    dims = model_dims(bart_large(), HeadSpec(kind="seq2seq"))
    hidden, sites = 1024, 12 + 12 + 12
    assert count_method(preset("prefix"), dims).delta_params == sites * 2 * 30 * hidden == 2_211_840
    l200 = method_from_mapping({"preset": "prefix", "deltas": {0: {"size": 200}, 1: {"size": 200}}})
    counts = count_method(l200, dims)
    assert [b.sites for b in counts.breakdown] == [24, 12]
    assert counts.delta_params == sites * 2 * 200 * hidden == 14_745_600
    assert dims.backbone_params == 406_291_456 and round(counts.percent, 1) == 3.6
    adapter = (hidden * 512 + 512 + 512 * hidden + hidden) * (12 + 12)  # the FFN of every layer
    assert count_method(preset("mam"), dims).delta_params == sites * 2 * 30 * hidden + adapter


def test_prefix_stays_self_attention_on_roberta_base() -> None:
    from deltaspace.methods import model_dims

    dims = model_dims(roberta_base(), HeadSpec())
    counts = count_method(preset("prefix"), dims)
    assert [b.sites for b in counts.breakdown] == [12, 0]  # no cross-attention: absent, not an error
    assert counts.delta_params == 12 * 2 * 30 * 768 == 552_960


def test_a_method_whose_deltas_are_all_absent_is_an_error() -> None:
    from deltaspace.methods import model_dims

    cross = preset("prefix").deltas[1].model_dump()
    only_cross = method_from_mapping({"preset": "prefix", "deltas": [cross]})
    with pytest.raises(SpecError, match="none of method 'prefix'.s deltas exists in a roberta model"):
        count_method(only_cross, model_dims(roberta_base(), HeadSpec()))


def test_count_command_on_bart_large(tmp_path) -> None:
    from typer.testing import CliRunner

    from deltaspace.cli import app

    bart_large().save_pretrained(tmp_path / "bart-large")
    method = tmp_path / "prefix_l200.yaml"
    method.write_text("preset: prefix\nname: prefix_l200\ndeltas: {0: {size: 200}, 1: {size: 200}}\n")
    result = CliRunner().invoke(app, ["count", str(method), "--model", str(tmp_path / "bart-large"),
                                      "--head", "seq2seq"], terminal_width=200)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "delta parameters: 14,745,600 (3.6293% of the backbone's 406,291,456 parameters" in result.output


def test_mam_presets_name_their_source_and_scale() -> None:
    glue, xsum = preset("mam_glue"), preset("mam")
    assert [(d.form, d.position, d.size) for d in glue.deltas] == [
        ("prefix", "attn_heads", 16),
        ("bottleneck", "ffn_output", 16),
        ("prefix", "cross_attn_heads", 16),
    ]
    assert glue.deltas[2].where_present and xsum.deltas[2].where_present
    assert glue.deltas[1].composition == "scaled" and glue.deltas[1].scale == 2.0
    assert glue.deltas[1].insertion == "parallel" and glue.deltas[1].position == "ffn_output"
    assert "GLUE" in glue.description and "run_glue.sh" in glue.description
    assert "XSum" in xsum.description and xsum.deltas[1].size == 512 and xsum.deltas[1].scale == 4.0


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_names_its_source(name: str) -> None:
    """A published point names where it is published: a paper (with its table or section) or a
    script. The source stays out of the method, so it never changes a method hash."""
    source = preset_source(name)
    assert len(source) >= 10 and any(ch.isdigit() for ch in source), f"preset {name!r} has no source"
    assert source not in preset(name).canonical_json()


def test_the_presets_table_has_one_row_per_registered_preset() -> None:
    from deltaspace.space import presets

    rows = re.findall(r"^\| (\w+) \|", presets.__doc__ or "", re.M)[1:]  # after the header row
    assert sorted(rows) == sorted(preset_names())


def test_methods_command_shows_each_source() -> None:
    import json

    from typer.testing import CliRunner

    from deltaspace.cli import app

    listed = json.loads(CliRunner().invoke(app, ["methods", "--json"]).stdout)
    assert {m["name"]: m["source"] for m in listed} == {n: preset_source(n) for n in preset_names()}
    header = CliRunner().invoke(app, ["methods"]).output.splitlines()[:5]
    assert any("source" in line for line in header)
