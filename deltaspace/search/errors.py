"""Errors the search raises for people (the CLI prints them as one line, exit code 2)."""

from __future__ import annotations

from ..space.errors import DeltaspaceError


class SearchError(DeltaspaceError):
    """A study that cannot run as asked: its file, its stored state, or the executor."""
