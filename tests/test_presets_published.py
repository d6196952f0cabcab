"""Published points at their published configuration: MAM at its XSum and its GLUE size."""

from __future__ import annotations

from deltaspace.space import HeadSpec, count_method, preset


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


def test_mam_presets_name_their_source_and_scale() -> None:
    glue, xsum = preset("mam_glue"), preset("mam")
    assert [(d.form, d.size) for d in glue.deltas] == [("prefix", 16), ("bottleneck", 16)]
    assert glue.deltas[1].composition == "scaled" and glue.deltas[1].scale == 2.0
    assert glue.deltas[1].insertion == "parallel" and glue.deltas[1].position == "ffn_output"
    assert "GLUE" in glue.description and "run_glue.sh" in glue.description
    assert "XSum" in xsum.description and xsum.deltas[1].size == 512 and xsum.deltas[1].scale == 4.0
