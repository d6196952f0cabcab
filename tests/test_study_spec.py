"""StudySpec: parsing, errors that name the field and the allowed values, paths, and sampling."""

from __future__ import annotations

import optuna
import pytest
import yaml
from optuna.trial import FixedTrial

from deltaspace.search.space_sampling import enumerate_points, sample_point
from deltaspace.space import SpecError, StudySpec, load_study
from deltaspace.space.study import study_from_mapping
from deltaspace.space.forms import FORMS
from deltaspace.space.study_space import Choices, FloatRange, IntRange

FORMS_RATES = {name: info.learning_rate for name, info in FORMS.items()}

BASE = {
    "name": "s",
    "model": "minilm",
    "task": "sst2",
    "budget": {"max_steps": 10, "n_trials": 3},
    "methods": {"lora": {}},
}


def spec(**fields: object) -> StudySpec:
    return study_from_mapping({**BASE, **fields})


def test_dimensions_parse_into_fixed_choices_and_ranges() -> None:
    s = spec(
        training={"lr": {"low": "1e-4", "high": 3e-3, "log": True}, "batch_size": 16, "warmup_ratio": [0.0, 0.1]},
        methods={"free": {"slots": [{"form": ["bottleneck", "low_rank"], "size": {"low": 4, "high": 64, "log": True},
                                     "position": {"bottleneck": ["ffn_output", "attn_output"], "low_rank": "query"},
                                     "layers": {"choices": ["all", [0, 1]]}}]}},
    )  # fmt: skip
    assert s.training["lr"] == FloatRange(
        low=1e-4, high=3e-3, log=True
    )  # YAML's "1e-4" is text: still a float
    assert s.training["batch_size"] == 16 and s.training["warmup_ratio"] == Choices(choices=(0.0, 0.1))
    slot = s.methods["free"].slots[0]
    assert slot.size == IntRange(low=4, high=64, log=True)
    assert slot.dim_for("position", "low_rank") == ("query", "low_rank.position")
    assert slot.layers == Choices(choices=("all", [0, 1]))
    assert study_from_mapping(yaml.safe_load(s.to_yaml())) == s  # lossless round trip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"colour": "red"}, "unknown field 'colour'; allowed: name, description, model"),
        ({"budget": {"max_steps": "many", "n_trials": 2}}, "budget.max_steps: Input should be a valid integer"),
        ({"methods": {}}, "the search space is empty"),
        ({"methods": []}, "the search space is empty"),
        ({"methods": {"nope": {}}}, "methods.nope: not a preset"),
        ({"methods": {"x": {"slots": [{"form": "prefix", "position": "ffn"}]}}},
         "methods.x.slots.0.position: got 'ffn': input should be 'attn_heads'"),
        ({"methods": {"x": {"slots": [{"form": "bottleneck", "activation": {"low": 1, "high": 2}}]}}},
         "activation is categorical: list its values"),
        ({"methods": {"x": {"slots": [{"size": 4}]}}}, "a free slot needs a form"),
        ({"methods": {"mam": {"deltas": {5: {"size": 4}}}}}, "indices [5] do not exist"),
        ({"objectives": ["score", "speed"]}, "unknown objective(s) ['speed']; allowed: score, delta_params"),
        ({"budget": {"max_steps": 10}}, "give n_trials and/or timeout"),
        ({"budget": {"max_steps": 10, "n_trials": 2, "max_percent": 0}}, "budget.max_percent: Input should be greater"),
    ],
)  # fmt: skip
def test_errors_name_the_field_and_what_is_allowed(fields: dict, message: str) -> None:
    with pytest.raises(SpecError, match="^invalid study: ") as err:
        spec(**fields)
    assert message in str(err.value)


def test_relative_paths_resolve_against_the_study_file(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "studies").mkdir()
    path = tmp_path / "studies" / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "data_dir": "../data"}))
    assert load_study(path).data_dir == str((tmp_path / "data").resolve())
    path.write_text(yaml.safe_dump({**BASE, "data_dir": "../missing", "if_data_missing": "hub"}))
    loaded = load_study(path)
    assert loaded.data_dir.endswith("missing") and loaded.effective_data_dir is None


def test_sampling_is_conditional_on_the_form() -> None:
    s = spec(methods={"free": {"slots": [{"form": ["bottleneck", "low_rank", "prefix"], "size": [4, 8],
                                          "position": {"bottleneck": "ffn_output", "low_rank": "value", "prefix": "attn_heads"},
                                          "activation": ["relu", "gelu"], "composition": ["add", "scaled"]}]}})  # fmt: skip
    points = [p for _, p in enumerate_points(s, 1000)]
    by_form: dict[str, set[frozenset]] = {}
    for p in points:
        assert p.problem is None, p.problem
        by_form.setdefault(p.method.deltas[0].form, set()).add(frozenset(p.params))
    # bottlenecks have an activation; prefixes only a size (always parallel, gated by λ(x)); the
    # study names no learning rate, so each point draws one from its form's range by a quantile
    lr = "train.lr_quantile"
    assert by_form["bottleneck"] == {
        frozenset({"free.0.form", "free.0.composition", "free.0.activation", "free.0.size", lr})
    }
    assert by_form["low_rank"] == {frozenset({"free.0.form", "free.0.composition", "free.0.size", lr})}
    assert by_form["prefix"] == {frozenset({"free.0.form", "free.0.size", lr})}
    assert len(points) == 2 * 2 * 2 + 2 * 2 + 2  # bottleneck, low-rank, prefix
    scaled = [p for p in points if p.method.deltas[0].composition == "scaled"]
    assert scaled and all(p.method.deltas[0].scale == 4.0 for p in scaled)


def test_invalid_combination_carries_the_deltaspec_message() -> None:
    s = spec(
        methods={"x": {"slots": [{"form": ["prefix", "bottleneck"], "position": "ffn_output", "size": 4}]}}
    )
    points = {p.method_fields["deltas"][0]["form"]: p for _, p in enumerate_points(s, 10)}
    assert points["bottleneck"].problem is None
    assert (
        points["prefix"].method is None
        and "form='prefix' and position='ffn_output' clash" in points["prefix"].problem
    )


def test_presets_sizes_overrides_and_optional_slots() -> None:
    s = spec(training={"lr": 1e-3}, methods={"lora": {"size": [2, 16]}, "mam": {"deltas": {1: {"size": 64, "composition": ["add", "scaled"]}}},
                      "plus": {"slots": [{"form": "low_rank", "position": "query", "size": 4},
                                         {"optional": True, "form": "prefix", "position": "attn_heads", "size": 5}]}})  # fmt: skip
    lora = sample_point(FixedTrial({"method": "lora", "lora.size": 16}), s).method
    assert [d.size for d in lora.deltas] == [16, 16] and lora.deltas[
        0
    ].scale == 2.0  # both ranks move together
    mam = sample_point(FixedTrial({"method": "mam", "mam.1.composition": "add"}), s).method
    assert mam.deltas[0].size == 30 and mam.deltas[1].size == 64 and mam.deltas[1].composition == "add"
    assert mam.deltas[1].scale == 1.0  # the preset's s=4 is dropped with its scaled composition
    plus = [
        sample_point(FixedTrial({"method": "plus", "plus.1.present": v}), s).method for v in (True, False)
    ]
    assert [len(m.deltas) for m in plus] == [2, 1]


def test_optuna_trial_and_replay_agree() -> None:
    s = spec(training={"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
             methods={"lora": {"size": {"low": 2, "high": 32, "log": True}}, "free": {"slots": [
                 {"form": ["bottleneck", "low_rank"], "position": "ffn_output", "size": [4, 8],
                  "layers": {"choices": ["all", [0, 1]]}}]}})  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(6):
        trial = study.ask()
        point = sample_point(trial, s)
        replay = sample_point(FixedTrial(trial.params), s)
        assert replay.method == point.method and replay.training == point.training
        study.tell(trial, 0.0)


def test_slots_have_every_deltaspec_field() -> None:
    from deltaspace.space import DeltaSpec
    from deltaspace.space.study_space import Slot

    assert set(Slot.model_fields) - {"optional"} == set(DeltaSpec.model_fields)


def test_weight_level_forms_sample_their_own_fields() -> None:
    s = spec(training={"lr": 1e-3}, methods={"w": {"slots": [{"form": ["magnitude_mask", "low_rank", "weight_adapter"], "position": "query",
                                       "fraction": [0.01, 0.1], "size": [4], "activation": ["relu", "tanh"]}]}})  # fmt: skip
    points = [p for _, p in enumerate_points(s, 100)]
    assert all(p.problem is None for p in points), [p.problem for p in points]
    names = {p.method.deltas[0].form: set(p.params) for p in points}
    assert names["magnitude_mask"] == {"w.0.form", "w.0.fraction"}
    assert names["weight_adapter"] == {"w.0.form", "w.0.activation"}  # size fixed: not a parameter
    assert names["low_rank"] == {"w.0.form"}


def test_each_design_draws_its_rate_from_its_own_range() -> None:
    """A study that names no rate: a point's rate is the sampled quantile of its own form's
    log-uniform range (prefixes far above adapters); a pinned rate or a grid draws nothing."""
    import math

    from deltaspace.space.forms import FORMS

    s = spec(methods={"lora": {"size": [8]}, "prefix": {"size": [10]}})
    for q in (0.0, 0.3, 1.0):
        for arm, form in (("lora", "low_rank"), ("prefix", "prefix")):
            point = sample_point(FixedTrial({"method": arm, "train.lr_quantile": q}), s)
            rates = FORMS[form].learning_rate
            expected = math.exp(math.log(rates.low) * (1 - q) + math.log(rates.high) * q)
            assert point.training["lr"] == pytest.approx(expected, rel=1e-12)
    assert FORMS["prefix"].learning_rate.low > FORMS["low_rank"].learning_rate.low
    pinned = sample_point(FixedTrial({"method": "lora"}), spec(training={"lr": 1e-3}, methods={"lora": {}}))
    assert pinned.training["lr"] == 1e-3 and "train.lr_quantile" not in pinned.params
    grid = spec(search={"sampler": "grid"}, methods={"lora": {"size": [8]}})
    point = sample_point(FixedTrial({}), grid)
    assert point.training["lr"] == FORMS["low_rank"].learning_rate.default and not point.params


def test_a_grid_walks_each_designs_own_rates_at_the_listed_quantiles() -> None:
    """``lr_quantile: [0, 0.5, 1]`` in a grid study: each method at its own range's low end, log
    middle and high end (full fine-tuning's range, LoRA's form range); one value pins the quantile."""
    from deltaspace.search.validate import check_study

    full_low, full_high = 5e-6, 1e-4  # FULL_FINE_TUNING, written out
    lora = FORMS_RATES["low_rank"]
    s = spec(search={"sampler": "grid"}, training={"lr_quantile": [0.0, 0.5, 1.0]}, methods=["full", "lora"],
             budget={"max_steps": 10})  # fmt: skip
    rates = {(p.arm, round(p.params["train.lr_quantile"], 3)): p.training["lr"] for _, p in enumerate_points(s, 100)}
    assert rates == pytest.approx({
        ("full", 0.0): full_low, ("full", 0.5): (full_low * full_high) ** 0.5, ("full", 1.0): full_high,
        ("lora", 0.0): lora.low, ("lora", 0.5): (lora.low * lora.high) ** 0.5, ("lora", 1.0): lora.high,
    }, rel=1e-12)  # fmt: skip
    assert check_study(s).n_trials == 6
    fixed = sample_point(FixedTrial({"method": "lora"}), spec(training={"lr_quantile": 1.0}, methods={"lora": {}}))
    assert fixed.training["lr"] == pytest.approx(lora.high) and "lr_quantile" not in fixed.training


def test_moving_a_presets_cross_attention_prefix_drops_where_present() -> None:
    """``prefix``'s last delta is a cross-attention prefix that applies where a model has one; a study
    that moves it to another position (or stack) gets a plain delta there, not a refused point."""
    s = spec(training={"lr": 1e-3},
             methods={"prefix": {"deltas": {1: {"position": ["cross_attn_heads", "attn_heads"], "size": 5}}}})
    kept = sample_point(FixedTrial({"prefix.1.position": "cross_attn_heads"}), s)
    moved = sample_point(FixedTrial({"prefix.1.position": "attn_heads"}), s)
    assert kept.problem is None and kept.method.deltas[1].where_present
    assert moved.problem is None, moved.problem
    assert moved.method.deltas[1].position == "attn_heads" and not moved.method.deltas[1].where_present
