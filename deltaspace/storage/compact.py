"""`drop_spent_states` and `vacuum` (``deltaspace db compact``): drop the promotion states nothing
will resume, then give the space back.

A rung's saved loop state (weights, optimiser moments, schedule, random generators) is needed by
exactly one later run: the same trial's next rung. Once that rung is complete, or the decision
for it passed the trial over, the state is spent. `finish_rung` and `decide_promotion` drop spent
states as they go; databases written before they did (or by a worker killed between the two)
still hold them, and a database of a few promoted studies grows by hundreds of MB that way. SQL does not shrink a file by
deleting rows, so this also runs VACUUM: outside a transaction, which both SQLite and PostgreSQL
require.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from deltaspace.storage.engine import sqlite_file
from deltaspace.storage.models import Promotion, Rung

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from deltaspace.storage.failures import Transactions


class CompactMethods:
    _write: Transactions
    _engine: Engine

    def drop_spent_states(self) -> int:
        """Set to NULL every saved state whose next rung is complete or passed this trial over;
        a state whose next rung is pending, running or failed (a retry resumes it) is kept.
        Returns the states dropped."""
        with self._write.begin() as s:
            holders = s.execute(
                select(Rung.id, Rung.study_id, Rung.trial_id, Rung.rung).where(Rung.state.is_not(None))
            ).all()
            if not holders:
                return 0
            status = dict(
                ((t, r), st) for t, r, st in s.execute(select(Rung.trial_id, Rung.rung, Rung.status))
            )
            decided = {(study, rung) for study, rung in s.execute(select(Promotion.study_id, Promotion.rung))}
            spent: list[int] = []
            for row_id, study_id, trial_id, rung in holders:
                next_status = status.get((trial_id, rung + 1))
                passed_over = next_status is None and (study_id, rung + 1) in decided
                if next_status == "complete" or passed_over:
                    spent.append(row_id)
            if spent:
                s.execute(update(Rung).where(Rung.id.in_(spent)).values(state=None))
            return len(spent)

    def vacuum(self) -> None:
        """Rewrite the database without its free pages (SQLite: the file shrinks, the WAL is
        truncated; PostgreSQL: VACUUM, which returns a table's trailing free pages)."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite":
            path = sqlite_file(url)
            if path is None:
                return
            # autocommit: VACUUM refuses to run inside a transaction
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                connection.execute("VACUUM")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.close()
            return
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
