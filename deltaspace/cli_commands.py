"""Commands of the later subpackages (train, run, serve, export, ...), wired into the app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add each subpackage's commands; a subpackage that is not there yet adds none."""
