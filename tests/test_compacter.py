"""Compacter: the A_i are one block shared by every site and layer, counted once; the sizes the
Kronecker structure needs are refused with the fields named; the published presets counted by hand."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from deltaspace.methods import apply_method, model_dims
from deltaspace.methods.forms import Compacter, PhmRules
from deltaspace.space import DeltaSpec, HeadSpec, MethodSpec, SpecError, count_method, preset
from deltaspace.testing.tiny_models import tiny_config


def test_every_site_reads_one_shared_set_of_a_matrices() -> None:
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(tiny_config("bert"))
    applied = apply_method(model, preset("compacter"))
    rules = [m for m in model.modules() if isinstance(m, PhmRules)]
    sites = [m for m in model.modules() if isinstance(m, Compacter)]
    assert len(rules) == 1 and len(sites) == 4  # attention and FFN of two layers
    assert all(site.rules.module is rules[0] for site in sites)
    n = 4
    assert applied.counts.breakdown[0].shared == 2 * n**3 and applied.counts.breakdown[1].shared == 0
    assert applied.counts.trainable_params == applied.trainable_numel()


def test_sizes_the_kronecker_structure_cannot_take_are_refused() -> None:
    with pytest.raises(ValueError, match="size=6 and phm_dim=4 clash"):
        DeltaSpec(form="compacter", position="ffn_output", size=6)
    spec = MethodSpec(
        name="m", deltas=(DeltaSpec(form="compacter", position="ffn_output", size=6, phm_dim=3),)
    )
    with pytest.raises(SpecError, match="phm_dim=3 and a site of width 32"):  # BERT's hidden 32
        count_method(spec, model_dims(tiny_config("bert"), HeadSpec()))


def test_published_presets_count_as_written_out_on_a_768_wide_12_layer_encoder() -> None:
    from transformers import RobertaConfig

    config = RobertaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                           vocab_size=50265, max_position_embeddings=514, type_vocab_size=1)  # fmt: skip
    dims = model_dims(config, HeadSpec())
    d, r, n, layers = 768, 24, 4, 12
    site = (d + r) + r + (r + d) + d  # down: n·(d/n + r/n) rank-one factors and b_down; up likewise, b_up
    for name, per_layer in (("compacter", 2), ("compacter_pp", 1)):
        counts = count_method(preset(name), dims)
        assert sum(b.params for b in counts.breakdown) == site * per_layer * layers + 2 * n**3


def test_methods_without_phm_dim_keep_their_serialised_form() -> None:
    """phm_dim is written only when set, so stored method hashes from before the field still match."""
    assert "phm_dim" not in preset("lora").canonical_json()
    assert '"phm_dim":4' in preset("compacter").canonical_json()
    assert preset("compacter") == MethodSpec.from_yaml(preset("compacter").to_yaml())
