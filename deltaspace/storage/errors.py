"""Errors raised by storage; each message says what is wrong and, where one exists, the fix."""

from __future__ import annotations

from deltaspace.errors import DeltaspaceError


class StorageError(DeltaspaceError):
    """Base class of every error that storage raises on purpose."""


class StudyNotFoundError(StorageError, LookupError):
    """No study has the requested name; the message lists the names that exist."""


class StudyExistsError(StorageError):
    """A study with this name exists already (names are unique)."""


class TrialNotFoundError(StorageError, LookupError):
    """The study has no trial with the requested number."""


class StorageVersionError(StorageError):
    """The database schema revision is not the one this deltaspace version expects."""


class ReadOnlyStorageError(StorageError):
    """A write to a database that is read-only, or that this Storage opened read-only."""
