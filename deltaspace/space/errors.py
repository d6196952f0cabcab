"""Errors raised for people: each names what is wrong, where, and what is allowed."""

from __future__ import annotations

from ..errors import DeltaspaceError

__all__ = ["DeltaspaceError", "SpecError", "UnknownNameError", "UnsupportedModelError"]


class SpecError(DeltaspaceError, ValueError):
    """A method, study or task specification that cannot be used as written."""


class UnknownNameError(SpecError, KeyError):
    """A registry lookup for a name that is not registered; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedModelError(DeltaspaceError):
    """A model type that no family table describes."""
