"""Compute, then draw: what every figure's record is made of.

Each figure module (``pareto.py``, ``design_space.py``, ``effects.py``, ``hypervolume.py``,
``parallel.py``, ``curves.py``, ``table.py``) has a ``*_record`` function that turns stored
`TrialRecord`s into a small pydantic record (which tests check and the JSON API returns) and a
function that only draws it. They share what is here: a study's trials with its objectives and
budget (`StudyTrials`), a design as a `Point` (its seed mean and interval, front flag, method
family, dimension values and the published preset it evaluated), and the hypervolume. Designs
and the front are `deltaspace.search.pareto`'s, the ones ``status`` and ``export --pareto`` use.
Strings stay raw user text: whoever renders them escapes them.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from deltaspace.search.pareto import DEFAULT_OBJECTIVES, Design, designs, study_objectives
from deltaspace.stats import non_dominated
from deltaspace.storage.records import TrialRecord

DIMENSIONS = ("form", "position", "insertion", "composition")  # colour groups, one label each
DESIGN_DIMENSIONS = (*DIMENSIONS, "size", "layers")  # the design-space analysis
FAMILY_OF_FORM = {"bottleneck": "adapter", "low_rank": "lora", "scaling": "ia3", "bias": "bias"}
_FROZEN = ConfigDict(frozen=True)


@dataclass(frozen=True)
class StudyTrials:
    """One study as figures see it: its trials, objectives and parameter budget."""

    name: str
    trials: Sequence[TrialRecord]
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    max_delta_params: float | None = None
    max_percent: float | None = None


def study_trials(storage: Any, name: str) -> StudyTrials:
    """A stored study's trials with the objectives and budget its file names (read leniently)."""
    record = storage.get_study(name)
    try:
        data = yaml.safe_load(record.spec_yaml)
    except yaml.YAMLError:
        data = None
    budget = data.get("budget") if isinstance(data, dict) else None
    budget = budget if isinstance(budget, dict) else {}
    number = lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None  # noqa: E731
    return StudyTrials(
        name,
        storage.list_trials(name),
        study_objectives(record.spec_yaml),
        number(budget.get("max_delta_params")),
        number(budget.get("max_percent")),
    )


def common_objectives(studies: Sequence[StudyTrials]) -> tuple[str, ...]:
    """The objectives every study shares, in the first study's order (score at least)."""
    if not studies:
        return DEFAULT_OBJECTIVES
    return tuple(o for o in studies[0].objectives if all(o in s.objectives for s in studies[1:]))


class Point(BaseModel):
    """One design (a method trained one way, over its seeds) as figures see it."""

    model_config = _FROZEN
    study: str
    number: int  # its first trial
    numbers: list[int]
    method_name: str
    family: str
    preset: str | None = None
    delta_params: int
    percent: float | None = None
    score: float  # the seed mean
    score_low: float | None = None  # its 95% interval (None with one seed)
    score_high: float | None = None
    seed_scores: dict[int, float] = {}
    train_seconds: float | None = None
    steps: int | None = None
    rung: int | None = None
    dims: dict[str, str]  # one label per colour dimension ("parallel+sequential")
    dim_values: dict[str, list[str]] = {}  # every value each design dimension takes
    values: dict[str, Any]
    method: str
    on_front: bool = False
    color: str = ""

    @property
    def seeds(self) -> int:
        return max(len(self.seed_scores), 1)


@functools.lru_cache(maxsize=1)
def _preset_bodies() -> dict[str, str]:
    from deltaspace.space import preset, preset_names

    return {preset(name).canonical_json(): name for name in preset_names()}


def _canonical(method: Mapping[str, Any]) -> str:
    body = {k: v for k, v in method.items() if k not in ("name", "description")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def preset_of(trial: TrialRecord) -> str | None:
    """The published preset this trial evaluated unchanged, if any."""
    return _preset_bodies().get(_canonical(trial.method))


def method_family(method: Mapping[str, Any]) -> str:
    """A short family name from what the method is: its forms ("lora+prefix"), or its trainables."""
    names = []
    for delta in method.get("deltas", ()):
        form = delta.get("form", "?")
        if form == "prefix":
            names.append("prompt" if delta.get("position") == "embeddings" else "prefix")
        else:
            names.append(FAMILY_OF_FORM.get(form, form))
    if names:
        return "+".join(dict.fromkeys(names))
    trainable = set(method.get("trainable", ()))
    return "full" if "all" in trainable else "bitfit" if "biases" in trainable else "head only"


def dimension_labels(method: Mapping[str, Any]) -> dict[str, str]:
    """Each colour dimension's values over the method's deltas ("parallel+sequential"), or "none"."""
    labels = {}
    for dim in DIMENSIONS:
        values = [str(d.get(dim)) for d in method.get("deltas", ()) if d.get(dim) is not None]
        labels[dim] = "+".join(sorted(set(values))) or "none"
    return labels


def layers_label(layers: Any) -> str:
    """``all``, ``2-5`` for ``{start: 2, stop: 6}``, or the listed layers ``0,3,5``."""
    if isinstance(layers, Mapping):
        start, stop = layers.get("start", 0), layers.get("stop")
        return f"{start}-{stop - 1}" if isinstance(stop, int) else f"{start}-"
    if isinstance(layers, list | tuple):
        return ",".join(str(i) for i in layers)
    return str(layers if layers is not None else "all")


def dimension_values(method: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every value each design dimension takes over the method's deltas: a combined method counts
    for each (MAM: form prefix and bottleneck). A method without deltas (full fine-tuning,
    BitFit through trainable biases) has its family as its form and no other dimension. A delta a
    preset applies only where the model has its site (``where_present``: the cross-attention
    prefix of ``prefix`` and ``mam``) is the preset's rule, not a choice of the point: it is left
    out, so a BERT study does not show a cross-attention value it never had."""
    deltas = [d for d in method.get("deltas", ()) if not d.get("where_present")]
    out: dict[str, list[str]] = {}
    for dim in DESIGN_DIMENSIONS:
        if dim == "layers":
            values = [layers_label(d.get("layers", "all")) for d in deltas]
        else:
            values = [str(d[dim]) for d in deltas if d.get(dim) is not None]
        out[dim] = sorted(set(values), key=natural_key)
    if not deltas:
        out["form"] = [method_family(method)]
    return out


def natural_key(value: str) -> tuple[int, float, str]:
    """Values that start with a number first, by that number ("5-16" before "17-64"); then text."""
    head = value.split("-")[0] if value[:1].isdigit() else value
    try:
        return 0, float(head), value
    except ValueError:
        return 1, 0.0, value


def describe_method(name: str, method: Mapping[str, Any]) -> list[str]:
    """The whole method, one line per delta: form | insertion | position | composition | size | layers."""
    lines = [name]
    for d in method.get("deltas", ()):
        comp = d.get("composition", "")
        comp += f" s={d['scale']:g}" if comp == "scaled" else ""
        comp += f" ({d['gate']})" if d.get("gate") else ""
        form = d.get("form", "") + (f" {d['activation']}" if d.get("form") == "bottleneck" else "")
        layers = d.get("layers", "all")
        parts = [form, d.get("insertion") or "-", d.get("position", ""), comp, f"size {d.get('size') or '-'}"]
        lines.append(" | ".join(parts) + f" | layers {layers}")
    lines.append("trainable: " + ", ".join(method.get("trainable", ())))
    return lines


def flat_values(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Sampled values with nested mappings flattened to dotted keys."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(flat_values(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def rung_of(trial: TrialRecord) -> int | None:
    """The promotion rung a trial ran at, when its study records one (``rung`` in its sampled
    values or training settings)."""
    for source in (trial.params, trial.training):
        value = source.get("rung")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def design_point(design: Design) -> Point:
    t = design.trial
    method = t.method
    return Point(
        study=design.study,
        number=design.number,
        numbers=design.numbers,
        method_name=t.method_name,
        family=method_family(method),
        preset=preset_of(t),
        delta_params=t.delta_params or 0,
        percent=t.percent,
        score=design.score,
        score_low=design.interval.low,
        score_high=design.interval.high,
        seed_scores=design.seeds,
        train_seconds=t.train_seconds,
        steps=t.steps,
        rung=rung_of(t),
        dims=dimension_labels(method),
        dim_values=dimension_values(method),
        values=flat_values(t.params),
        method="\n".join(describe_method(t.method_name, method)),
        on_front=design.on_front,
    )


def trial_points(
    trials: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES
) -> list[Point]:
    """The designs of the complete, scored trials as points, each flagged when it is on the front
    under ``objectives`` (the only points a front or a design-space figure shows)."""
    return [design_point(d) for d in designs(trials, objectives)]


def points_of(studies: Sequence[StudyTrials]) -> list[Point]:
    """The points of several studies, on one front under the objectives they share."""
    return trial_points([t for s in studies for t in s.trials], common_objectives(studies))


def hypervolume(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by (x, y) points, x minimised and y maximised, up to ``reference`` (x_ref, y_ref).

    Over the front sorted by x: Σ (x_{i+1} - x_i)(y_i - y_ref), with x_{k+1} = x_ref.
    """
    x_ref, y_ref = reference
    inside = [(x, y) for x, y in points if x < x_ref and y > y_ref]
    front = sorted({inside[i] for i in non_dominated(inside, ("minimize", "maximize"))})
    if not front:
        return 0.0
    edges = [x for x, _ in front[1:]] + [x_ref]
    return sum((right - x) * (y - y_ref) for (x, y), right in zip(front, edges, strict=True))


def log_percent(percent: float | None) -> float:
    """log10 of the percent of the backbone trained (2 = the whole backbone)."""
    return math.log10(max(percent or 0.0, 1e-6))
