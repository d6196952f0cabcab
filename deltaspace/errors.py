"""The root of deltaspace's expected errors: the CLI turns any of them into one line and exit 2.

A leaf module with no imports, so every subpackage (storage included) can derive from it
without importing anything above itself.
"""

from __future__ import annotations


class DeltaspaceError(Exception):
    """Base class of the errors the CLI turns into one line on stderr and exit code 2."""
