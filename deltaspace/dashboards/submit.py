"""A study YAML submitted to the service, validated on arrival as a `StudySpec`.

Problems come back as a list of ``{loc, path, msg, type}`` (FastAPI's 422 shape, ``path`` being
the dotted field path in the study file), so the form can show each next to its field. Relative
paths in the file resolve against the service's working directory, and the stored YAML is the
resolved spec, as ``deltaspace run`` stores it, for whichever worker claims it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from deltaspace.space.study import StudySpec

_UNKNOWN_FIELD = re.compile(r"unknown field '([^']+)'")
_FIELD_PATH = re.compile(r"[A-Za-z_][\w.\-]*")


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
    return {"loc": ["body", "yaml", *path], "path": ".".join(path) or "(study)", "msg": msg, "type": kind}


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
        for part in msg.split("; "):  # a whole-study check lists "path: why" problems
            path, sep, why = part.partition(": ")
            if sep and _FIELD_PATH.fullmatch(path):
                out.append(problem(path.split("."), why))
            else:
                out.append(problem([], part))
    return out


def parse_study(text: str, base_dir: str | Path | None = None) -> Submission:
    """Validate study YAML text; raises StudyProblems with every problem's field path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StudyProblems(
            [problem([], f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", "yaml")]
        ) from None
    if not isinstance(data, dict):
        raise StudyProblems(
            [problem([], f"expected a mapping of study fields, got {type(data).__name__}", "type")]
        )
    try:
        spec = StudySpec.model_validate(
            data, context={"base_dir": str(Path(base_dir or Path.cwd()).resolve())}
        )
    except ValidationError as exc:
        raise StudyProblems(_problems(exc)) from None
    return Submission(spec.name, spec.to_yaml(), spec.budget.n_trials)
