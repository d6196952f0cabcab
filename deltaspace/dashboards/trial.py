"""One trial's page: the method's coordinates, its parameter counts, its design's seed mean and
interval, latency, memory and phase timings, and its export links.

``trial_page_record`` computes what the ``trial.html`` template shows (the learning curve is a
figure, ``curves.py``, loaded by the page from the API); the template escapes every string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from deltaspace.search.pareto import DEFAULT_OBJECTIVES, Design, designs, interval_text
from deltaspace.storage.records import TrialRecord

from .records import layers_label, method_family, preset_of, rung_of

EXPORT_FORMATS = ("yaml", "weights", "peft", "merged")
DELTA_COLUMNS = ("form", "position", "insertion", "composition", "size", "layers", "heads", "details")


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: str
    value: str


class SeedScore(BaseModel):
    model_config = ConfigDict(frozen=True)
    seed: int
    score: float
    number: int | None  # the trial that ran it, when it is a trial of its own


class TrialPage(BaseModel):
    model_config = ConfigDict(frozen=True)
    study: str
    number: int
    status: str
    method_name: str
    family: str
    preset: str | None
    failure_reason: str | None
    deltas: list[dict[str, str]]
    trainable: list[str]
    counts: list[Fact]
    costs: list[Fact]
    phases: list[tuple[str, float, float]]  # phase, seconds, share of their sum
    design: str | None  # "0.8123 ± 0.0150 (3 seeds)"
    on_front: bool
    seeds: list[SeedScore]
    training: dict[str, Any]
    sampled: dict[str, Any]
    exports: list[str]


def _delta_row(delta: dict[str, Any]) -> dict[str, str]:
    details = []
    if delta.get("composition") == "scaled" and delta.get("scale") is not None:
        details.append(f"s={delta['scale']:g}" + (" (learned)" if delta.get("learn_scale") else ""))
    if delta.get("gate"):
        details.append(f"gate {delta['gate']}")
    if delta.get("form") == "bottleneck" and delta.get("activation"):
        details.append(delta["activation"])
    for key in ("init", "dropout", "stack"):
        if delta.get(key) not in (None, 0.0, "all", "zero"):
            details.append(f"{key} {delta[key]}")
    row = {k: "-" if delta.get(k) is None else str(delta[k]) for k in DELTA_COLUMNS[:-2]}
    row["layers"] = layers_label(delta.get("layers", "all"))
    row["heads"] = str(delta.get("heads") or "-")
    row["details"] = ", ".join(details)
    return row


def _number(value: Any, spec: str = ",") -> str:
    return "-" if value is None else format(value, spec)


def trial_page_record(
    trial: TrialRecord, trials: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES
) -> TrialPage:
    """The page of ``trial``, among the study's ``trials`` (to find its design's other seeds)."""
    method = trial.method
    result = trial.result
    design: Design | None = next((d for d in designs(trials, objectives) if trial.number in d.numbers), None)
    backbone = result.backbone_params if result is not None and result.backbone_params else None
    extra = getattr(result, "inference_extra_params", None) if result is not None else None
    extra = extra if extra is not None else trial.metrics.get("inference_extra_params")
    counts = [
        Fact(label="delta parameters (trained, in the method)", value=_number(trial.delta_params)),
        Fact(label="head parameters", value=_number(trial.head_params)),
        Fact(label="trainable parameters", value=_number(trial.trainable_params)),
        Fact(label="stored parameters (what an export holds)", value=_number(trial.stored_params)),
        Fact(label="inference-extra parameters (left after merging)", value=_number(extra) if extra is not None else "not recorded"),
        Fact(label="% of the backbone", value=_number(trial.percent, ".4g")),
        Fact(label="backbone parameters", value=_number(backbone)),
    ]  # fmt: skip
    rung = rung_of(trial)
    costs = [
        Fact(label="optimiser steps", value=_number(trial.steps)),
        *([Fact(label="rung", value=str(rung))] if rung is not None else []),
        Fact(label="train seconds", value=_number(trial.train_seconds, ".1f")),
        Fact(label="evaluation seconds", value=_number(trial.eval_seconds, ".1f")),
        Fact(label="training examples/s", value=_number(trial.examples_per_second, ".1f")),
        Fact(label="latency, batch 1 (ms per call)", value=_number(trial.latency_ms_batch1, ".2f")),
        Fact(label="latency, batch 32 (ms per example)", value=_number(trial.latency_ms_batch32, ".2f")),
        Fact(label="peak memory (MB)", value=_number(trial.peak_memory_mb, ".0f")),
    ]
    phases_raw = dict(result.phase_seconds) if result is not None else {}
    total = sum(phases_raw.values()) or 1.0
    phases = [(k, v, v / total) for k, v in phases_raw.items()]
    by_seed = {t.seed: t.number for t in (design.trials if design else [trial])}
    seeds = [
        SeedScore(seed=s, score=v, number=by_seed.get(s) if len(by_seed) > 1 else None)
        for s, v in sorted((design.seeds if design else {}).items())
    ]
    return TrialPage(
        study=trial.study_name, number=trial.number, status=trial.status, method_name=trial.method_name,
        family=method_family(method), preset=preset_of(trial), failure_reason=trial.failure_reason,
        deltas=[_delta_row(d) for d in method.get("deltas", ())], trainable=list(method.get("trainable", ())),
        counts=counts, costs=costs, phases=phases,
        design=interval_text(design) if design else None, on_front=bool(design and design.on_front),
        seeds=seeds, training=trial.training, sampled=trial.params,
        exports=list(EXPORT_FORMATS) if trial.status == "complete" else [],
    )  # fmt: skip
