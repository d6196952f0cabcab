"""Commands of the later subpackages, wired into the app.

Each subpackage that adds commands has one module with ``register(app: typer.Typer) -> None``
(importing only typer/rich at module level, so ``deltaspace --help`` stays light); list it here.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = (
    "deltaspace.trainers.commands",
    "deltaspace.search.commands",
    "deltaspace.storage.commands",
    "deltaspace.dashboards.commands",
    "deltaspace.export.commands",
)


def register(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module: surface it
                raise
            continue
        module.register(app)
