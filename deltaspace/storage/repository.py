"""`Storage`: the one place deltaspace reads and writes SQL.

Every method is one short transaction and returns immutable records (``records.py``), never ORM
rows. Several workers may share one database: trial numbers are unique per study (a constraint),
claiming a queued study is atomic, and on SQLite every write transaction takes the database lock
at BEGIN (see ``engine.py``), so concurrent writers wait for each other instead of losing writes.

The methods live beside this file, split at the seam between a study's life (``studies.py``)
and its trials' (``trials.py``); helpers shared by both are in ``rows.py``. A database that
fails (unreachable, not a database, disk full, read-only) raises StorageError with one line
(``failures.py``), never a driver traceback.
"""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from deltaspace.storage.compact import CompactMethods
from deltaspace.storage.engine import DEFAULT_URL, asks_read_only, make_engine, read_only_transactions
from deltaspace.storage.errors import ReadOnlyStorageError
from deltaspace.storage.failures import Transactions, opening
from deltaspace.storage.migrations import check_schema, ensure_schema
from deltaspace.storage.rungs import RungMethods
from deltaspace.storage.studies import StudyMethods
from deltaspace.storage.trials import TrialMethods


class Storage(StudyMethods, TrialMethods, RungMethods, CompactMethods):
    """Studies, trials and intermediate scores in SQLite or PostgreSQL.

    Opening a Storage connects at once, so a bad URL, an unreachable server or a file that is not
    a database raises StorageError here. It creates the schema, or upgrades it to this version's;
    a database written by a newer deltaspace raises StorageVersionError.

    Writing commands open with the defaults. Reading commands pass ``read_only=True``: a missing
    SQLite file is an error (none is created), nothing is written (no WAL switch, no migration;
    an old schema names ``deltaspace db upgrade``), and the database may be a read-only file or a
    ``sqlite:///file:PATH?mode=ro&uri=true`` URL (which a writing Storage refuses at once, with
    ReadOnlyStorageError, as it does a read-only SQLite file it cannot open for writing).
    ``create=False`` opens for writing but refuses a SQLite file that does not exist yet.

    >>> storage = Storage("sqlite:///runs/deltaspace.db")
    >>> storage.create_study("sst2-lora", spec_yaml).status
    'running'
    >>> Storage("sqlite:///runs/deltaspace.db", read_only=True).list_studies()
    """

    def __init__(self, url: str = DEFAULT_URL, *, create: bool = True, read_only: bool = False) -> None:
        if asks_read_only(url) and not read_only:
            raise ReadOnlyStorageError(
                f"--storage {url!r} opens the database read-only (mode=ro or immutable=1), "
                "but this command writes to it"
            )
        self.url, self.read_only = url, read_only
        self._engine = make_engine(url, create=create, read_only=read_only)
        try:
            with opening(url):
                (check_schema if self.read_only else ensure_schema)(self._engine, url)
        except BaseException:
            self._engine.dispose()
            raise
        writes = sessionmaker(self._engine, expire_on_commit=False)
        reads = sessionmaker(read_only_transactions(self._engine), expire_on_commit=False)
        self._write = Transactions(writes, url, write=True, allowed=not self.read_only)
        self._read = Transactions(reads, url, write=False)

    def close(self) -> None:
        """Close every pooled connection (a later call reconnects)."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"Storage({self._engine.url.render_as_string(hide_password=True)!r})"
