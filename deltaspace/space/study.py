"""`StudySpec`: one study file, validated whole before any model loads.

::

    name: quickstart                       # the study's name in the database
    model: minilm                          # 'minilm', a local model folder or a hub id
    task: sst2                             # a registered task or a task YAML file
    data_dir: ../../shared/data/sst2       # relative paths are relative to this file
    if_data_missing: hub                   # error (default) | hub: no data_dir folder -> the hub's copy
    weights_dir: runs/                     # optional: each trial keeps its trained weights here
    seeds: [0]                             # every point trains once per seed; the score is their mean
    objectives: [score, delta_params]      # score is maximised, the others minimised
    budget:
      max_percent: 1.0                     # and/or max_delta_params: points above are infeasible
      max_memory_mb: 24000                 # optional: estimated training memory above is infeasible
      max_steps: 80                        # per trial; optional max_train_seconds
      n_trials: 8                          # and/or timeout (seconds, per run of the command)
    training:                              # TrainSettings fields: fixed, choices or ranges
      batch_size: 16
      lr: {low: 1.0e-4, high: 3.0e-3, log: true}
    search: {sampler: tpe, pruner: median, seed: 0}
    # or, instead of a pruner, multi-fidelity promotion over both objectives:
    #   search: {promotion: {rungs: [40, 120, 360], eta: 3, seeds: [0, 1, 2]}}   # last rung = max_steps
    methods:                               # one arm per trial (the parameter ``method``)
      lora: {size: [4, 8, 16]}             # a preset and its size
      mam: {}
      free:                                # a free combination of delta slots
        slots:
          - {form: [bottleneck, low_rank], position: ffn_output, size: {low: 8, high: 64, log: true}}
          - {optional: true, form: prefix, position: attn_heads, size: [5, 10]}

The space of each arm lives in ``study_space.py``; what needs more than the file (the model
exists, the task is known, its data folder is there, some point fits the budget) is checked by
``deltaspace.search.validate`` before anything trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import SpecError
from .presets import preset, preset_names
from .scalars import Float, Int
from .study_space import Arm, Dim, StrictModel, parse_dim
from .yaml_io import format_validation_error, looks_like_path, read_yaml_mapping

Direction = Literal["maximize", "minimize"]
# Objective name -> (direction, TrialResult field it reads).
OBJECTIVES: dict[str, tuple[Direction, str]] = {
    "score": ("maximize", "score"),
    "delta_params": ("minimize", "delta_params"),
    "latency_ms": ("minimize", "latency_ms_batch1"),
    "peak_memory_mb": ("minimize", "peak_memory_mb"),
}


class Budget(StrictModel):
    """Parameter and memory budgets (checked before any training) and per-trial / per-study compute.

    ``max_memory_mb``: points whose estimated training memory (``deltaspace.space.memory``, from
    the config, the exact counts, the batch shape and the precision) exceeds it are infeasible."""

    max_delta_params: Int | None = Field(default=None, gt=0)
    max_percent: Float | None = Field(default=None, gt=0, le=100)
    max_memory_mb: Float | None = Field(default=None, gt=0)
    max_steps: Int = Field(ge=1)
    max_train_seconds: Float | None = Field(default=None, gt=0)
    n_trials: Int | None = Field(default=None, ge=1)
    timeout: Float | None = Field(default=None, gt=0)


class Component(StrictModel):
    """A registry entry by name with its constructor options (``{name: tpe, n_startup_trials: 4}``)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict) and "options" not in data and "name" in data:
            return {"name": data["name"], "options": {k: v for k, v in data.items() if k != "name"}}
        return data


class Promotion(StrictModel):
    """Multi-fidelity promotion (``deltaspace.search.promotion``): every trial trains ``rungs[0]``
    steps; at each rung the best ``1/eta`` of the candidates by non-dominated rank and crowding
    (all objectives, so small methods survive beside accurate ones) continue from their saved
    state to the next budget, on the learning-rate schedule of the last rung; the last rung
    (``budget.max_steps``) runs every survivor on ``seeds`` (default: the study's seed and the
    next two), so its front carries intervals."""

    rungs: tuple[Int, ...] = Field(min_length=2)
    eta: Float = Field(default=3.0, gt=1)
    seeds: tuple[Annotated[Int, Field(ge=0)], ...] | None = Field(default=None, min_length=1)

    @field_validator("rungs")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(r < 1 for r in value) or any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"rungs must be step budgets >= 1 in increasing order; got {list(value)}")
        return value


class SearchSettings(StrictModel):
    """How points are chosen and stopped, and how lost workers are noticed.

    ``sampler``: tpe | nsga2 | random | grid | gp; ``pruner``: none | median | hyperband |
    successive_halving (names of ``deltaspace.search`` registries, checked there). A worker writes a
    heartbeat every ``heartbeat_interval`` seconds; a running trial silent for ``grace_period``
    seconds is failed and run again.
    """

    sampler: Component = Component(name="tpe")
    pruner: Component = Component(name="none")
    seed: Int | None = Field(default=0, ge=0)
    heartbeat_interval: Int = Field(default=10, ge=1)
    grace_period: Int | None = Field(default=None, ge=1)
    promotion: Promotion | None = None

    @property
    def grace_seconds(self) -> int:
        return self.grace_period or 3 * self.heartbeat_interval


class StudySpec(StrictModel):
    """A declarative study: model, task, budgets, objectives and the search space."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=200)
    description: str = ""
    model: str = Field(min_length=1)
    task: str = Field(min_length=1)
    data_dir: str | None = None
    if_data_missing: Literal["error", "hub"] = "error"
    # each complete trial keeps its trainable values in <weights_dir>/<study>/trial-<n>.safetensors
    # (the first seed's, at the highest rung it reached), so `deltaspace export` loads them
    # instead of retraining; workers on other machines need it on a shared path
    weights_dir: str | None = None
    seeds: tuple[Annotated[Int, Field(ge=0)], ...] = Field(default=(0,), min_length=1)
    objectives: tuple[str, ...] = ("score", "delta_params")
    budget: Budget
    training: dict[str, Dim] = Field(default_factory=dict)
    search: SearchSettings = SearchSettings()
    methods: dict[str, Arm]

    @model_validator(mode="before")
    @classmethod
    def _resolve_paths(cls, data: Any, info: ValidationInfo) -> Any:
        base = (info.context or {}).get("base_dir")
        if not isinstance(data, dict) or base is None:
            return data
        data = dict(data)
        for key in ("data_dir", "weights_dir", "task", "model"):
            value = data.get(key)
            if not isinstance(value, str) or Path(value).is_absolute():
                continue
            candidate = Path(base) / value
            if (
                key in ("data_dir", "weights_dir")
                or (key == "task" and value.endswith((".yaml", ".yml")))
                or candidate.exists()
            ):
                data[key] = str(candidate.resolve())
        return data

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):  # methods: [lora, mam] = presets at their published sizes
            return {str(name): {} for name in value}
        return value

    @field_validator("training", mode="before")
    @classmethod
    def _training(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: parse_dim(k, v) for k, v in value.items()}

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [o for o in value if o not in OBJECTIVES]
        if unknown:
            raise ValueError(f"unknown objective(s) {unknown}; allowed: {', '.join(OBJECTIVES)}")
        if "score" not in value or len(set(value)) != len(value):
            raise ValueError(f"objectives must include 'score' once, and no name twice; got {list(value)}")
        return value

    @model_validator(mode="after")
    def _check(self) -> StudySpec:
        problems = []
        if not self.methods:
            problems.append("methods: the search space is empty; name at least one preset or free slots")
        for name, arm in self.methods.items():
            if not arm.slots and arm.preset is None and name not in preset_names():
                problems.append(
                    f"methods.{name}: not a preset, and neither 'preset' nor 'slots' is given; "
                    f"presets: {', '.join(preset_names())}"
                )
            elif arm.preset is not None and arm.preset not in preset_names():
                problems.append(
                    f"methods.{name}.preset: unknown preset {arm.preset!r}; known: {', '.join(preset_names())}"
                )
            elif not arm.slots and arm.deltas:
                n = len(preset(arm.preset or name).deltas)
                bad = [i for i in arm.deltas if not 0 <= i < n]
                if bad:
                    problems.append(
                        f"methods.{name}.deltas: indices {bad} do not exist; the preset has deltas 0..{n - 1}"
                    )
            if "/" in name or not name:
                problems.append(f"methods.{name}: an arm name must be non-empty and contain no '/'")
        if (
            self.budget.n_trials is None
            and self.budget.timeout is None
            and self.search.sampler.name != "grid"
        ):
            problems.append("budget: give n_trials and/or timeout (only the grid sampler knows when to stop)")
        problems += self._promotion_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _promotion_problems(self) -> list[str]:
        promotion = self.search.promotion
        if promotion is None:
            return []
        out = []
        if promotion.rungs[-1] != self.budget.max_steps:
            out.append(
                f"search.promotion.rungs: the last rung is the full budget; it must equal budget.max_steps "
                f"({self.budget.max_steps}), got {promotion.rungs[-1]}"
            )
        if len(self.seeds) != 1:
            out.append("seeds: with promotion, give one seed (the rungs train it); the last rung's seeds "
                       "are search.promotion.seeds")  # fmt: skip
        elif promotion.seeds is not None and promotion.seeds[0] != self.seeds[0]:
            out.append(f"search.promotion.seeds must start with the study's seed {self.seeds[0]} "
                       "(the promoted run continues it)")  # fmt: skip
        if self.search.pruner.name != "none":
            out.append("search.pruner: promotion decides which trials go on; drop the pruner or the promotion")
        if self.budget.max_train_seconds is not None:
            out.append("budget.max_train_seconds: promotion's rungs are step budgets; drop the wall-time limit")
        if self.budget.n_trials is None:
            out.append("budget.n_trials: promotion decides each rung when the rung below has all its trials")
        return out

    @property
    def final_seeds(self) -> tuple[int, ...]:
        """The seeds each design trains on at its last budget: the promotion's, else ``seeds``."""
        promotion = self.search.promotion
        if promotion is None:
            return self.seeds
        return promotion.seeds or tuple(self.seeds[0] + k for k in range(3))

    def arm_preset(self, name: str) -> str | None:
        """The preset an arm starts from (None for free slots)."""
        arm = self.methods[name]
        return None if arm.slots else (arm.preset or name)

    @property
    def directions(self) -> list[Direction]:
        return [OBJECTIVES[o][0] for o in self.objectives]

    @property
    def effective_data_dir(self) -> str | None:
        """``data_dir``, or None (the hub) when it is missing and ``if_data_missing: hub``."""
        if self.data_dir is not None and not Path(self.data_dir).is_dir():
            return None
        return self.data_dir

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def study_from_mapping(
    data: dict[str, Any], base_dir: str | Path | None = None, where: str = "study"
) -> StudySpec:
    """Validate a mapping into a StudySpec; relative paths resolve against ``base_dir``."""
    try:
        context = {"base_dir": str(base_dir)} if base_dir is not None else None
        return StudySpec.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, where)) from None


def load_study(path_or_text: str | Path) -> StudySpec:
    """Read a study file (or YAML text); relative paths are relative to the file's folder."""
    data = read_yaml_mapping(path_or_text)
    source = Path(str(path_or_text))
    is_file = looks_like_path(path_or_text)
    return study_from_mapping(
        data, source.resolve().parent if is_file else None, f"study {source.name}" if is_file else "study"
    )
