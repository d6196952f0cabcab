"""Tasks: registered GLUE and seq2seq specs, and user tasks declared in YAML.

Adding a task is one ``register_task(TaskSpec(...))`` line in a module imported here, or a YAML
file passed by path wherever a task name is accepted.
"""

from __future__ import annotations

from . import glue, seq2seq  # noqa: F401  (registers the built-in tasks)
from .files import file_format, load_task_file
from .registry import get_task, register_task, resolve_task, task_names
from .spec import HubSource, Splits, TaskKind, TaskSpec

__all__ = [
    "HubSource",
    "Splits",
    "TaskKind",
    "TaskSpec",
    "file_format",
    "get_task",
    "load_task_file",
    "register_task",
    "resolve_task",
    "task_names",
]
