"""Compute, then draw: what every figure's record is made of.

Each figure module (``pareto.py``, ``effects.py``, ``hypervolume.py``, ``parallel.py``,
``table.py``) has a ``*_record`` function that turns stored `TrialRecord`s into a small pydantic
record (which tests check and the JSON API returns) and a function that only draws it. They share
what is here: a complete trial as a `Point`, method families and dimension labels, the published
preset a trial evaluated, and the hypervolume. Strings stay raw user text: whoever renders them
escapes them. The non-dominated filter is export's (``deltaspace.export.select``), so the front a
page shows and the front ``deltaspace export --pareto`` writes are one computation.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from deltaspace.export.select import non_dominated, scored
from deltaspace.storage.records import TrialRecord

DIMENSIONS = ("form", "position", "insertion", "composition")
FAMILY_OF_FORM = {"bottleneck": "adapter", "low_rank": "lora", "scaling": "ia3", "bias": "bias"}
_FROZEN = ConfigDict(frozen=True)


class Point(BaseModel):
    """One complete trial as figures see it."""

    model_config = _FROZEN
    study: str
    number: int
    method_name: str
    family: str
    preset: str | None = None
    delta_params: int
    percent: float | None = None
    score: float
    train_seconds: float | None = None
    dims: dict[str, str]
    values: dict[str, Any]
    method: str
    on_front: bool = False
    color: str = ""


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
    """Each design dimension's values over the method's deltas ("parallel+sequential"), or "none"."""
    labels = {}
    for dim in DIMENSIONS:
        values = [str(d.get(dim)) for d in method.get("deltas", ()) if d.get(dim) is not None]
        labels[dim] = "+".join(sorted(set(values))) or "none"
    return labels


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


def trial_points(trials: Sequence[TrialRecord]) -> list[Point]:
    """The complete, scored trials as points (the only ones a front or an effect plot shows)."""
    points = []
    for t in scored(trials):
        method = t.method
        points.append(
            Point(
                study=t.study_name,
                number=t.number,
                method_name=t.method_name,
                family=method_family(method),
                preset=preset_of(t),
                delta_params=t.delta_params or 0,
                percent=t.percent,
                score=t.score or 0.0,
                train_seconds=t.train_seconds,
                dims=dimension_labels(method),
                values=flat_values(t.params),
                method="\n".join(describe_method(t.method_name, method)),
            )
        )
    return points


def hypervolume(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by (x, y) points, x minimised and y maximised, up to ``reference`` (x_ref, y_ref).

    Over the front sorted by x: Σ (x_{i+1} - x_i)(y_i - y_ref), with x_{k+1} = x_ref.
    """
    x_ref, y_ref = reference
    inside = [(x, y) for x, y in points if x < x_ref and y > y_ref]
    front = sorted({inside[i] for i in non_dominated(inside)})
    if not front:
        return 0.0
    edges = [x for x, _ in front[1:]] + [x_ref]
    return sum((right - x) * (y - y_ref) for (x, y), right in zip(front, edges, strict=True))


def log_percent(percent: float | None) -> float:
    """log10 of the percent of the backbone trained (2 = the whole backbone)."""
    return math.log10(max(percent or 0.0, 1e-6))
