"""storage: deltaspace's SQL database (SQLite or PostgreSQL), the one place that reads and writes it.

>>> from deltaspace.storage import Storage
>>> storage = Storage("postgresql://user@db-host/deltaspace")   # or the default sqlite:///deltaspace.db
>>> storage.list_studies()
"""

from __future__ import annotations

from deltaspace.storage.engine import DEFAULT_URL, make_engine, sqlalchemy_url
from deltaspace.storage.errors import (
    ReadOnlyStorageError,
    StorageError,
    StorageVersionError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from deltaspace.storage.migrations import current_revision, head_revision, upgrade
from deltaspace.storage.records import (
    STUDY_STATUSES,
    TRIAL_STATUSES,
    IntermediatePoint,
    PromotionRecord,
    RungRecord,
    StudyRecord,
    StudyStatus,
    StudySummary,
    TrialRecord,
    TrialStatus,
)
from deltaspace.storage.repository import Storage

__all__ = [
    "DEFAULT_URL",
    "STUDY_STATUSES",
    "TRIAL_STATUSES",
    "IntermediatePoint",
    "PromotionRecord",
    "RungRecord",
    "ReadOnlyStorageError",
    "Storage",
    "StorageError",
    "StorageVersionError",
    "StudyExistsError",
    "StudyNotFoundError",
    "StudyRecord",
    "StudyStatus",
    "StudySummary",
    "TrialNotFoundError",
    "TrialRecord",
    "TrialStatus",
    "current_revision",
    "head_revision",
    "make_engine",
    "sqlalchemy_url",
    "upgrade",
]
