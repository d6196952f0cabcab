"""Everything about a study that needs more than its file, checked before any weight loads.

``check_study`` resolves the task (unknown: the message lists the known ones) and its data
folder, reads the model's dimensions from its config (unknown model: one clear line), validates
every training setting value against ``TrainSettings``, builds the sampler and pruner (unknown
names or options), and walks the space's categorical decisions: a space where no combination is valid is empty, and
one whose smallest valid point exceeds the budget is impossible. The result, a `StudyPlan`, is
all a worker needs to run trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..space.accounting import ModelDims
from ..space.errors import DeltaspaceError, SpecError
from ..space.method import HeadSpec
from ..space.study import StudySpec
from ..space.study_space import Choices, FloatRange, IntRange, Slot
from ..trainers.settings import TrainSettings
from ..trainers.tasks import TaskSpec
from .budget import BudgetCheck, check_point
from .pruners import make_pruner
from .samplers import SamplerArgs, make_sampler
from .space_sampling import LR_QUANTILE_SETTING, SampledPoint, enumerate_points

ENUMERATION_LIMIT = 20_000
# TrainSettings fields a study sets elsewhere.
RESERVED_SETTINGS = {
    "max_steps": "budget.max_steps",
    "max_train_seconds": "budget.max_train_seconds",
    "seed": "seeds",
    "threads": "the executor (--workers)",
    "adaptive_threads": "the executor",
    "progress": "the executor",
    "schedule_steps": "search.promotion.rungs",
    "keep_best": "search.promotion (a rung keeps its last weights); a study without promotion may set it",
    "full_eval": "search.promotion.rungs (the last rung scores the whole split)",
}


@dataclass(frozen=True)
class StudyPlan:
    """A checked study: its spec, task, head, model dimensions, trial target and grid."""

    spec: StudySpec
    task: TaskSpec
    head: HeadSpec
    dims: ModelDims
    n_trials: int | None
    grid: tuple[dict[str, Any], ...] | None = None


def check_study(spec: StudySpec) -> StudyPlan:
    """Validate what the file alone cannot say; raises SpecError with the field path."""
    from ..methods import head_for_model, model_dims
    from ..trainers.tasks import resolve_task
    from ..trainers.trial import head_for

    try:
        task = resolve_task(spec.task)
    except DeltaspaceError as exc:
        raise SpecError(f"task: {exc}") from None
    if spec.data_dir is not None and spec.effective_data_dir is None and spec.if_data_missing == "error":
        raise SpecError(
            f"data_dir: folder {spec.data_dir} does not exist (relative paths are relative to the study "
            "file; set if_data_missing: hub to fall back to the hub's copy)"
        )
    try:
        head = head_for_model(spec.model, head_for(task))
        dims = model_dims(spec.model, head)
    except DeltaspaceError as exc:
        raise SpecError(f"model: {exc}") from None
    _check_training(spec)
    sampler = spec.search.sampler
    grid = _grid(spec) if sampler.name == "grid" else None
    make_sampler(sampler.name, SamplerArgs(sampler.options, spec.search.seed, len(grid) if grid else None))
    make_pruner(spec.search.pruner.name, spec.search.pruner.options)
    _check_space(spec, dims, head)
    n_trials = spec.budget.n_trials if spec.budget.n_trials is not None or grid is None else len(grid)
    return StudyPlan(spec, task, head, dims, n_trials, grid)


def check_planned(point: SampledPoint, plan: StudyPlan) -> BudgetCheck:
    """`check_point` for a point of a checked study: its own training settings and the task's head."""
    return check_point(
        point, plan.dims, plan.spec.budget, settings_for(plan.spec, point.training), plan.head.kind
    )


def settings_for(spec: StudySpec, training: dict[str, Any], threads: int | None = None, rung: int = 0) -> TrainSettings:
    """The TrainSettings of one point: its training values plus the study's per-trial budget.

    With promotion, the budget is ``rung``'s, on the last rung's learning-rate schedule; a rung's
    score is the evaluation at its end (its weights go on to the next rung), on the evaluation
    subset below the last rung and on the whole split at the last."""
    promotion = spec.search.promotion
    rungs: dict[str, Any] = {}
    if promotion is not None:
        rungs = {"max_steps": promotion.rungs[rung], "schedule_steps": promotion.rungs[-1], "keep_best": False,
                 "full_eval": rung == len(promotion.rungs) - 1}  # fmt: skip
    return TrainSettings(
        **training,
        **{"max_steps": spec.budget.max_steps, **rungs},
        max_train_seconds=spec.budget.max_train_seconds,
        threads=threads,
        progress=False,
    )


def _dim_values(dim: Any) -> tuple[Any, ...]:
    """The values to check of a training dimension: its choices, a range's ends, or the value."""
    if isinstance(dim, Choices):
        return dim.choices
    if isinstance(dim, IntRange | FloatRange):
        return (dim.low, dim.high)
    return (dim,)


def _check_lr_quantile(spec: StudySpec, dim: Any) -> None:
    """``lr_quantile``: where in each design's own range its rate lies, 0 (low) to 1 (high)."""
    if "lr" in spec.training:
        raise SpecError("training: give lr (one rate for every design) or lr_quantile (each design's "
                        "own range), not both")  # fmt: skip
    bad = [v for v in _dim_values(dim) if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1]
    if bad:
        raise SpecError(f"training.lr_quantile: got {bad[0]!r}; a quantile is a number from 0 (the low end "
                        "of a design's rate range) to 1 (its high end)")  # fmt: skip


def _check_training(spec: StudySpec) -> None:
    # keep_best is promotion's to set; without promotion a study may ask for the last weights, as
    # a promoted study's last rung trains (bench/findings.py --more-seeds adds seeds that way)
    reserved = RESERVED_SETTINGS if spec.search.promotion is not None else RESERVED_SETTINGS.keys() - {"keep_best"}
    allowed = [f for f in TrainSettings.model_fields if f not in reserved]
    fixed: dict[str, Any] = {}
    for name, dim in spec.training.items():
        if name == LR_QUANTILE_SETTING:
            _check_lr_quantile(spec, dim)
            continue
        if name in reserved:
            raise SpecError(f"training.{name}: set by {RESERVED_SETTINGS[name]}, not here")
        if name not in TrainSettings.model_fields:
            raise SpecError(f"training.{name}: unknown setting; allowed: {', '.join(allowed)}")
        if not isinstance(dim, Choices | IntRange | FloatRange):
            fixed[name] = dim
        for value in _dim_values(dim):
            try:
                TrainSettings.model_validate({name: value})
            except ValidationError as exc:
                raise SpecError(f"training.{name}: got {value!r}: {exc.errors()[0]['msg']}") from None
    try:
        settings_for(spec, fixed)
    except ValidationError as exc:
        raise SpecError(f"training: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def _settings_or_none(spec: StudySpec, training: dict[str, Any]) -> TrainSettings | None:
    try:
        return settings_for(spec, training)
    except ValidationError:
        return None


def _check_space(spec: StudySpec, dims: ModelDims, head: HeadSpec) -> None:
    """Refuse an empty space (no valid combination) and an impossible budget."""
    smallest: tuple[int, str] | None = None
    least_memory: tuple[float, str] | None = None
    first_problem = None
    for n, (_params, point) in enumerate(enumerate_points(spec, ENUMERATION_LIMIT + 1)):
        if n == ENUMERATION_LIMIT:
            return  # too many points to prove anything
        check = check_point(point, dims, spec.budget, _settings_or_none(spec, point.training), head.kind)
        if check.feasible:
            return
        if check.count is None:
            first_problem = first_problem or f"{point.arm}: {check.reason}"
        elif smallest is None or check.count.delta_params < smallest[0]:
            smallest = (check.count.delta_params, point.arm)
        if check.memory_mb is not None and (least_memory is None or check.memory_mb < least_memory[0]):
            least_memory = (check.memory_mb, point.arm)
    if smallest is None and first_problem is not None:
        raise SpecError(f"methods: the space is empty: no sampled combination is valid ({first_problem})")
    limit_mb = spec.budget.max_memory_mb
    if least_memory is not None and limit_mb is not None and least_memory[0] > limit_mb:
        raise SpecError(
            f"budget: impossible: max_memory_mb={limit_mb:g}, but the least memory any point of the space "
            f"needs ({least_memory[1]}) is an estimated {least_memory[0]:,.0f} MB on {spec.model} "
            "(lower batch_size or max_length, or set precision bf16 or gradient_checkpointing)"
        )
    if smallest is not None:
        b = spec.budget
        limit = (
            f"max_delta_params={b.max_delta_params}" if b.max_delta_params else f"max_percent={b.max_percent}"
        )
        raise SpecError(
            f"budget: impossible: {limit}, but the smallest point of the space ({smallest[1]}) has "
            f"{smallest[0]:,} delta parameters on {spec.model} ({dims.backbone_params:,} backbone parameters)"
        )


def _grid(spec: StudySpec) -> tuple[dict[str, Any], ...]:
    ranges = list(_range_paths(spec))
    if ranges:
        raise SpecError(
            f"search.sampler: grid needs listed values, and {', '.join(ranges)} "
            f"{'is a range' if len(ranges) == 1 else 'are ranges'}; list the values to try"
        )
    points = [params for params, _ in enumerate_points(spec, 10 * ENUMERATION_LIMIT + 1)]
    if len(points) > 10 * ENUMERATION_LIMIT:
        raise SpecError(f"search.sampler: the grid has more than {10 * ENUMERATION_LIMIT:,} points")
    return tuple(points)


def _range_paths(spec: StudySpec) -> Any:
    def walk(path: str, dim: Any) -> Any:
        if isinstance(dim, IntRange | FloatRange):
            yield path
        elif isinstance(dim, dict):
            for key, sub in dim.items():
                yield from walk(f"{path}.{key}", sub)

    def slot(path: str, s: Slot) -> Any:
        for name in Slot.model_fields:
            yield from walk(f"{path}.{name}", getattr(s, name))

    for name, dim in spec.training.items():
        yield from walk(f"training.{name}", dim)
    for arm_name, arm in spec.methods.items():
        yield from walk(f"methods.{arm_name}.size", arm.size)
        for i, s in arm.deltas.items():
            yield from slot(f"methods.{arm_name}.deltas.{i}", s)
        for i, s in enumerate(arm.slots):
            yield from slot(f"methods.{arm_name}.slots.{i}", s)
