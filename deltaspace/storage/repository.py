"""`Storage`: the one place deltaspace reads and writes SQL.

Every method is one short transaction and returns immutable records (``records.py``), never ORM
rows. Several workers may share one database: trial numbers are unique per study (a constraint),
claiming a queued study is atomic, and on SQLite every write transaction takes the database lock
at BEGIN (see ``engine.py``), so concurrent writers wait for each other instead of losing writes.

The methods live beside this file, split at the seam between a study's life (``studies.py``)
and its trials' (``trials.py``); helpers shared by both are in ``rows.py``.
"""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from deltaspace.storage.engine import DEFAULT_URL, make_engine, read_only
from deltaspace.storage.migrations import ensure_schema
from deltaspace.storage.studies import StudyMethods
from deltaspace.storage.trials import TrialMethods


class Storage(StudyMethods, TrialMethods):
    """Studies, trials and intermediate scores in SQLite or PostgreSQL.

    Opening a Storage creates the schema, or upgrades it to this version's; a database written
    by a newer deltaspace raises StorageVersionError.

    >>> storage = Storage("sqlite:///runs/deltaspace.db")
    >>> storage.create_study("sst2-lora", spec_yaml).status
    'running'
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = url
        self._engine = make_engine(url)
        ensure_schema(self._engine, url)
        self._write = sessionmaker(self._engine, expire_on_commit=False)
        self._read = sessionmaker(read_only(self._engine), expire_on_commit=False)

    def close(self) -> None:
        """Close every pooled connection (a later call reconnects)."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"Storage({self._engine.url.render_as_string(hide_password=True)!r})"
