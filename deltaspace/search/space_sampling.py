"""Define-by-run sampling: a study's space walked with an Optuna trial gives one point.

Parameter names say where a value goes: ``method`` (the arm, when there are several),
``<arm>.size`` (every sized delta of a preset), ``<arm>.<i>.<field>`` (a delta slot; a per-form
dimension is ``<arm>.<i>.<form>.<field>``), ``<arm>.<i>.present`` (an optional slot) and
``train.<field>``. A field is only sampled where the sampled form reads it: bottlenecks have an
activation, sized forms (bottleneck, low-rank, prefix) a size, only ``scaled`` compositions a scale
and only ``gated`` ones a gate; prefix attention is always parallel and gated by λ(x). A
combination the DeltaSpec validator still refuses (a prefix at an FFN position, say) is returned
with its message as ``problem``: the caller records it infeasible, without training.

The same function replays a stored point (``optuna.trial.FixedTrial(params)``) and enumerates a
whole space (``enumerate_points``: a depth-first walk over every categorical decision).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from ..space.conditions import APPLIES, composition_of
from ..space.delta import DeltaSpec
from ..space.dimensions import SIZED_FORMS
from ..space.forms import LearningRate
from ..space.learning_rates import learning_rate_range
from ..space.method import MethodSpec
from ..space.presets import preset
from ..space.study import StudySpec
from ..space.study_space import Choices, Dim, FloatRange, IntRange, Slot
from ..space.yaml_io import format_validation_error

# Slot fields in sampling order, DeltaSpec's own: a condition reads only fields before it.
FIELD_ORDER = tuple(name for name in DeltaSpec.model_fields if name != "form")
# Fields that a changed value of the key makes stale, when they came from a preset's delta.
_DERIVED = {
    "form": ("insertion", "composition", "gate", "init", "scale", "learn_scale", "activation"),
    "position": ("heads", "where_present"),  # a preset's "where present" holds for its own site only
    "stack": ("where_present",),
}
SCALE_DEFAULT = 4.0  # He et al. (2022)'s scaled parallel adapter, when a slot names no scale


# When a field means something, given the fields sampled before it: derived from the registries.
def _applies(name: str, fields: dict[str, Any]) -> bool:
    return APPLIES[name](fields) if name in APPLIES else True


class TrialLike(Protocol):
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...


@dataclass(frozen=True)
class SampledPoint:
    """One point: the sampled values, the method (None if invalid) and its training settings."""

    arm: str
    params: dict[str, Any]
    method: MethodSpec | None
    method_fields: dict[str, Any]
    training: dict[str, Any]
    problem: str | None = None


@dataclass
class _Suggester:
    trial: TrialLike
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, name: str, dim: Dim) -> Any:
        if isinstance(dim, Choices):
            if len(dim.choices) == 1:
                return dim.choices[0]
            encoded = [_encode(c) for c in dim.choices]
            value = _decode(self.trial.suggest_categorical(name, encoded))
        elif isinstance(dim, IntRange):
            value = self.trial.suggest_int(name, dim.low, dim.high, step=dim.step, log=dim.log)
        elif isinstance(dim, FloatRange):
            value = self.trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        else:
            return dim
        self.params[name] = value
        return value


def _encode(value: Any) -> Any:
    """Optuna's categorical choices are scalars: lists and mappings travel as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, list | tuple | dict) else value


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def sample_point(trial: TrialLike, spec: StudySpec) -> SampledPoint:
    """Walk ``spec``'s space with ``trial`` (an Optuna trial, a FixedTrial, or a script)."""
    suggest = _Suggester(trial)
    arms = list(spec.methods)
    arm_name = suggest("method", Choices(choices=tuple(arms))) if len(arms) > 1 else arms[0]
    arm = spec.methods[arm_name]
    deltas: list[dict[str, Any]] = []
    if arm.slots:
        for i, slot in enumerate(arm.slots):
            deltas += _sample_slot(suggest, f"{arm_name}.{i}", slot, {})
        trainable: Any = ("head",)
    else:
        base = preset(spec.arm_preset(arm_name) or arm_name)
        trainable = base.trainable
        size = suggest(f"{arm_name}.size", arm.size) if arm.size is not None else None
        for i, delta in enumerate(base.model_dump(mode="json")["deltas"]):
            if size is not None and delta["form"] in SIZED_FORMS:
                delta["size"] = size
            deltas += _sample_slot(suggest, f"{arm_name}.{i}", arm.deltas.get(i, Slot()), delta)
    if arm.trainable is not None:
        trainable = suggest(f"{arm_name}.trainable", arm.trainable)
    training = {
        name: suggest(f"train.{name}", dim) for name, dim in spec.training.items() if name != LR_QUANTILE_SETTING
    }
    # No rate in the study: each design gets one from its own range (space.learning_rates), drawn
    # log-uniformly through a quantile the sampler learns across forms (0.5: the range's middle),
    # or taken from the study's ``lr_quantile`` (a value, or listed values a grid walks).
    # A grid study without ``lr_quantile`` takes each design's default rate (it cannot enumerate a range).
    own_rate = "lr" not in spec.training
    grid = spec.search.sampler.name == "grid"
    quantile_dim = spec.training.get(LR_QUANTILE_SETTING, None if grid else FloatRange(low=0.0, high=1.0))
    quantile = suggest(LR_QUANTILE, quantile_dim) if own_rate and quantile_dim is not None else None
    fields = {"name": arm_name, "deltas": deltas, "trainable": list(trainable)}
    try:
        method = MethodSpec.model_validate(fields)
    except ValidationError as exc:
        problem = format_validation_error(exc, "method").removeprefix("invalid method: ")
        return SampledPoint(arm_name, suggest.params, None, fields, training, problem)
    if own_rate:
        rates = learning_rate_range(method)
        training["lr"] = rates.default if quantile is None else rate_at_quantile(rates, quantile)
    return SampledPoint(arm_name, suggest.params, method, fields, training)


LR_QUANTILE_SETTING = "lr_quantile"
LR_QUANTILE = f"train.{LR_QUANTILE_SETTING}"


def rate_at_quantile(rates: LearningRate, quantile: float) -> float:
    """The rate ``quantile`` of the way through ``rates`` on a log scale (0: low, 1: high)."""
    return float(math.exp(math.log(rates.low) + quantile * (math.log(rates.high) - math.log(rates.low))))


def _sample_slot(suggest: _Suggester, prefix: str, slot: Slot, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The slot's delta fields (an empty list for an absent optional slot)."""
    if slot.optional and not suggest(f"{prefix}.present", Choices(choices=(True, False))):
        return []
    fields = dict(base)
    if slot.form is not None:
        form = suggest(f"{prefix}.form", slot.form)
        if form != fields.get("form"):
            fields = {k: v for k, v in fields.items() if k not in _DERIVED["form"]}
        fields["form"] = form
    for name in FIELD_ORDER:
        dim, suffix = slot.dim_for(name, fields["form"])
        if dim is None or not _applies(name, fields):
            continue
        value = suggest(f"{prefix}.{suffix}", dim)
        if name in _DERIVED and value != fields.get(name):
            fields = {k: v for k, v in fields.items() if k not in _DERIVED[name]}
        fields[name] = value
    return [_consistent(fields)]


def _consistent(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop what the final form and composition do not read (a preset's leftovers included:
    the DeltaSpec defaults refill them); give scaled and gated compositions their defaults."""
    out = {k: v for k, v in fields.items() if v is not None and _applies(k, fields)}
    composition = composition_of(out)
    if composition == "scaled":
        out.setdefault("scale", SCALE_DEFAULT)
    if composition == "gated" and fields["form"] != "prefix":
        out.setdefault("gate", "learned")
    return out


@dataclass
class _Script:
    """A trial that answers categorical decisions from a script (then the first choice) and
    ranges with their low end; it records how many options each decision had."""

    script: list[int]
    widths: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        pos = len(self.widths)
        self.widths.append(len(choices))
        value = choices[self.script[pos] if pos < len(self.script) else 0]
        self.params[name] = value
        return value

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = low
        return low

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        self.params[name] = low
        return low


def enumerate_points(spec: StudySpec, limit: int) -> Iterator[tuple[dict[str, Any], SampledPoint]]:
    """Every point of the space's categorical decisions (ranges at their low end), at most ``limit``,
    with the Optuna parameters that select it."""
    script: list[int] = []
    for _ in range(limit):
        trial = _Script(script)
        point = sample_point(trial, spec)
        yield trial.params, point
        digits = (script + [0] * len(trial.widths))[: len(trial.widths)]
        j = len(digits) - 1
        while j >= 0 and digits[j] + 1 >= trial.widths[j]:
            j -= 1
        if j < 0:
            return
        script = digits[:j] + [digits[j] + 1]
