"""The task registry: the one place a task is named (CLI listing, docs and tests read it)."""

from __future__ import annotations

from pathlib import Path

from ...space.errors import SpecError, UnknownNameError
from .spec import TaskSpec

_TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` under its name; refuses a name that is not lowercase or is already taken."""
    if spec.name != spec.name.lower():
        raise SpecError(f"task name {spec.name!r} must be lowercase")
    if spec.name in _TASKS:
        raise SpecError(f"task {spec.name!r} is already registered")
    _TASKS[spec.name] = spec
    return spec


def task_names() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str) -> TaskSpec:
    try:
        return _TASKS[name]
    except KeyError:
        raise UnknownNameError(f"unknown task {name!r}; known: {', '.join(task_names())}") from None


def resolve_task(task: str | Path | TaskSpec) -> TaskSpec:
    """A TaskSpec from itself, a registered name, or a path to a task YAML file."""
    if isinstance(task, TaskSpec):
        return task
    if Path(task).suffix in (".yaml", ".yml"):
        from .files import load_task_file

        return load_task_file(task)
    return get_task(str(task))
