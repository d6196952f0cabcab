"""DoRA (Liu et al. 2024) as a point of the space: the ``decomposed`` composition of a low-rank form,
combinable with everything else (a prefix beside a DoRA FFN), counted before it is built."""

from __future__ import annotations

import torch

from deltaspace.methods import apply_method
from deltaspace.search.space_sampling import enumerate_points
from deltaspace.space import SpecError, method_from_mapping
from deltaspace.space.study import study_from_mapping
from deltaspace.testing.tiny_models import tiny_batch
from deltaspace.testing.weight_level import tiny_model

STUDY = {
    "name": "dora_prefix",
    "model": "minilm",
    "task": "sst2",
    "budget": {"max_steps": 10, "n_trials": 4},
    "methods": {
        "free": {
            "slots": [
                {"form": "prefix", "position": "attn_heads", "size": 4},
                {
                    "form": "low_rank",
                    "position": "ffn_in",
                    "size": 8,
                    "composition": ["scaled", "decomposed"],
                },
            ]
        }
    },
}


def test_dora_at_the_ffn_plus_a_prefix_is_a_study_point() -> None:
    points = [p for _, p in enumerate_points(study_from_mapping(STUDY), limit=10)]
    dora = [p.method for p in points if p.method and p.method.deltas[1].composition == "decomposed"]
    assert len(dora) == 1 and all(p.problem is None for p in points)
    model = tiny_model("bert").train()
    applied = apply_method(model, dora[0])
    assert applied.counts.trainable_params == applied.trainable_numel()
    assert applied.counts.breakdown[1].per_site == 32 * 8 + 8 * 64 + 64  # A, B and one magnitude per row
    loss = model(**tiny_batch("bert"), labels=torch.tensor([0, 1])).loss
    loss.backward()
    magnitude = [p for n, p in model.named_parameters() if n.endswith("magnitude")]
    assert magnitude and all(p.grad is not None and p.grad.abs().sum() > 0 for p in magnitude)


def test_dora_needs_an_explicit_weight_update() -> None:
    for fields, why in [
        ({"form": "low_rank", "position": "ffn_output", "size": 2}, "explicit ΔW"),
        ({"form": "low_rank", "position": "ffn_in", "size": 2, "insertion": "sequential"}, "explicit ΔW"),
        ({"form": "bottleneck", "position": "ffn_in", "size": 2}, "explicit ΔW"),
    ]:
        try:
            method_from_mapping({"name": "m", "deltas": [{**fields, "composition": "decomposed"}]})
        except SpecError as err:
            assert why in str(err)
        else:
            raise AssertionError(f"{fields} was accepted")
