"""A study YAML submitted to the service, validated on arrival as a `StudySpec`.

Problems come back as a list of ``{loc, path, msg, type}`` (FastAPI's 422 shape, ``path`` being
the dotted field path in the study file), so the form can show each next to its field. Relative
paths in the file resolve against the service's working directory, and the stored YAML is the
resolved spec, as ``deltaspace run`` stores it, for whichever worker claims it.

The text is read with the CLI's YAML limits (`parse_yaml`: no alias bombs, duplicate keys or deep
nesting). Under ``deltaspace serve``'s `ServicePolicy`, a study may name local paths (model, task
file, data folder) only inside the data roots, and its trials and steps stay within the
operator's limits: the worker that runs it reads whatever the study names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from deltaspace.space.errors import SpecError
from deltaspace.space.study import StudySpec
from deltaspace.space.study_space import Choices, FloatRange, IntRange
from deltaspace.space.yaml_io import parse_yaml

from .security import ServicePolicy, shorten

_UNKNOWN_FIELD = re.compile(r"unknown field '([^']+)'")
_FIELD_PATH = re.compile(r"[A-Za-z_][\w.\-]*")
# A registered model or task name, or a hub id (org/name): anything else names a local path.
_NAME = re.compile(r"[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?")
PATH_FIELDS = ("model", "task", "data_dir")
MAX_PROBLEMS = 50


class StudyProblems(Exception):
    """The submitted YAML is not a valid study; ``problems`` says where and why."""

    def __init__(self, problems: list[dict[str, Any]]):
        super().__init__("; ".join(f"{p['path']}: {p['msg']}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Submission:
    name: str
    spec_yaml: str
    n_trials: int | None


def problem(path: list[str], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One problem; its path and message are cut short, as both may quote what the client sent."""
    path = [shorten(p) for p in path]
    return {
        "loc": ["body", "yaml", *path],
        "path": shorten(".".join(path), 200) or "(study)",
        "msg": shorten(msg, 400),
        "type": kind,
    }


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        unknown = _UNKNOWN_FIELD.match(msg)
        if unknown:
            out.append(problem([*loc, unknown.group(1)], msg, "extra_forbidden"))
            continue
        if loc:
            out.append(problem(loc, msg, err["type"]))
            continue
        parts: list[tuple[list[str], str]] = []
        for part in msg.split("; "):  # a whole-study check lists "path: why" problems
            path, sep, why = part.partition(": ")
            if sep and _FIELD_PATH.fullmatch(path) and path.split(".")[0] in StudySpec.model_fields:
                parts.append((path.split("."), why))
            elif parts:  # "...; presets: a, b": the allowed values of the problem before
                parts[-1] = (parts[-1][0], f"{parts[-1][1]}; {part}")
            else:
                parts.append(([], part))
        out.extend(problem(path, why) for path, why in parts)
    if len(out) > MAX_PROBLEMS:
        out[MAX_PROBLEMS:] = [problem([], f"and {len(out) - MAX_PROBLEMS} more problems")]
    return out


def parse_study(
    text: str, base_dir: str | Path | None = None, policy: ServicePolicy | None = None
) -> Submission:
    """Validate study YAML text under ``policy`` (read with the CLI's YAML limits); raises
    StudyProblems with every problem's field path."""
    policy = policy or ServicePolicy()
    try:
        data = parse_yaml(text, "submitted study")
    except SpecError as exc:
        raise StudyProblems([problem([], str(exc), "yaml")]) from None
    if not isinstance(data, dict):
        raise StudyProblems(
            [problem([], f"expected a mapping of study fields, got {type(data).__name__}", "type")]
        )
    base = Path(base_dir or Path.cwd()).resolve()
    try:
        spec = StudySpec.model_validate(data, context={"base_dir": str(base)})
    except ValidationError as exc:
        raise StudyProblems(_problems(exc)) from None
    refused = [*_outside_roots(spec, data, policy.data_roots), *_over_limits(spec, policy)]
    if refused:
        raise StudyProblems(refused)
    return Submission(spec.name, spec.to_yaml(), spec.budget.n_trials)


def _outside_roots(
    spec: StudySpec, data: dict[str, Any], roots: tuple[Path, ...] | None
) -> list[dict[str, Any]]:
    """A problem for each of model, task and data_dir that names a local path not under ``roots``
    (``..`` and symlinks resolved first). Registered names and hub ids pass; a relative path the
    spec did not resolve (it is not under the service's directory) is refused the same way, so
    the answer never says whether a path exists."""
    if roots is None:
        return []
    out = []
    for field in PATH_FIELDS:
        value = getattr(spec, field)
        if value is None or (
            field != "data_dir" and not Path(value).is_absolute() and _NAME.fullmatch(value)
        ):
            continue
        path = Path(value)
        if not path.is_absolute() or not any(path.resolve().is_relative_to(root) for root in roots):
            out.append(
                problem(
                    [field],
                    f"{shorten(data.get(field))!r} is not under the service's data roots "
                    f"({', '.join(str(r) for r in roots)}): a local path must lie inside one of them "
                    "(serve --data-root); registered names and hub ids (org/name) are fine",
                    "path",
                )
            )
    return out


def _over_limits(spec: StudySpec, policy: ServicePolicy) -> list[dict[str, Any]]:
    """A problem for each operator limit the study's budget exceeds."""
    out = []
    n_trials, seeds = spec.budget.n_trials, len(spec.seeds)
    if policy.max_trials is not None:
        if n_trials is None:
            out.append(
                problem(
                    ["budget", "n_trials"], f"this service needs n_trials (at most {policy.max_trials:,})"
                )
            )
        elif n_trials * seeds > policy.max_trials:
            runs = f"{shorten(n_trials)} trials" + (f" × {seeds} seeds" if seeds > 1 else "")
            out.append(
                problem(
                    ["budget", "n_trials"],
                    f"{runs} is more than the service's limit of {policy.max_trials:,} (serve --max-trials)",
                )
            )
    if policy.max_steps is not None:
        steps = {"budget.max_steps": spec.budget.max_steps}
        dim = spec.training.get("selection_steps")
        if dim is not None:
            steps["training.selection_steps"] = max(_values(dim))
        for path, value in steps.items():
            if isinstance(value, int | float) and value > policy.max_steps:
                out.append(
                    problem(
                        path.split("."),
                        f"{shorten(value)} steps is more than the service's limit of {policy.max_steps:,} "
                        "(serve --max-steps)",
                    )
                )
    return out


def _values(dim: Any) -> list[Any]:
    """The extreme values a training dimension can take (numbers only)."""
    if isinstance(dim, Choices):
        values = list(dim.choices)
    elif isinstance(dim, IntRange | FloatRange):
        values = [dim.low, dim.high]
    else:
        values = [dim]
    return [v for v in values if isinstance(v, int | float)] or [0]
