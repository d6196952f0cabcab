"""Study methods of :class:`~deltaspace.storage.repository.Storage`: create, find, claim, cancel, delete."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from deltaspace.storage import rows
from deltaspace.storage.errors import StorageError, StudyExistsError, StudyNotFoundError
from deltaspace.storage.failures import Transactions
from deltaspace.storage.models import IntermediateScore, Study, Trial
from deltaspace.storage.records import STUDY_STATUSES, TRIAL_STATUSES, StudyRecord, StudySummary


class StudyMethods:
    # set by Storage.__init__: write transactions, and read-only ones (no SQLite write lock)
    _write: Transactions
    _read: Transactions

    def create_study(
        self,
        name: str,
        spec_yaml: str,
        *,
        status: str = "running",
        n_trials_target: int | None = None,
        optuna_study_name: str | None = None,
    ) -> StudyRecord:
        """Create a study; raises StudyExistsError if ``name`` is taken."""
        rows.check(status, STUDY_STATUSES, "study status")
        now = rows.utcnow()
        row = Study(
            name=name,
            spec_yaml=spec_yaml,
            status=status,
            created_at=now,
            updated_at=now,
            optuna_study_name=optuna_study_name or name,
            n_trials_target=n_trials_target,
        )
        try:
            with self._write.begin() as s:
                s.add(row)
                s.flush()
                return StudyRecord.model_validate(row, from_attributes=True)
        except IntegrityError as err:
            raise StudyExistsError(
                f"a study named {name!r} exists already: pick another name, or delete that study first"
            ) from err

    def get_or_create_study(
        self,
        name: str,
        spec_yaml: str,
        *,
        status: str = "running",
        n_trials_target: int | None = None,
        optuna_study_name: str | None = None,
    ) -> tuple[StudyRecord, bool]:
        """The study named ``name`` and False, or a newly created one and True (resume or start)."""
        try:
            return self.get_study(name), False
        except StudyNotFoundError:
            pass
        try:
            created = self.create_study(
                name,
                spec_yaml,
                status=status,
                n_trials_target=n_trials_target,
                optuna_study_name=optuna_study_name,
            )
        except StudyExistsError:  # another worker created it in between
            return self.get_study(name), False
        return created, True

    def get_study(self, name: str) -> StudyRecord:
        with self._read.begin() as s:
            return StudyRecord.model_validate(rows.study_row(s, name), from_attributes=True)

    def list_studies(self) -> list[StudySummary]:
        """Every study, oldest first, with its trial counts per status and best complete score."""
        with self._read.begin() as s:
            studies = s.scalars(select(Study).order_by(Study.created_at, Study.id)).all()
            counts: dict[int, dict[str, int]] = {row.id: dict.fromkeys(TRIAL_STATUSES, 0) for row in studies}
            per_status = select(Trial.study_id, Trial.status, func.count()).group_by(
                Trial.study_id, Trial.status
            )
            for study_id, status, n in s.execute(per_status):
                counts.setdefault(study_id, {})[status] = n
            best_stmt = select(Trial.study_id, func.max(Trial.score)).where(Trial.status == "complete")
            best = dict(s.execute(best_stmt.group_by(Trial.study_id)).all())
            return [
                StudySummary(
                    name=row.name,
                    status=row.status,
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                    n_trials_target=row.n_trials_target,
                    counts=counts[row.id],
                    best_score=best.get(row.id),
                )
                for row in studies
            ]

    def set_study_status(self, name: str, status: str, error: str | None = None) -> None:
        rows.check(status, STUDY_STATUSES, "study status")
        with self._write.begin() as s:
            row = rows.study_row(s, name)
            row.status, row.error, row.updated_at = status, error, rows.utcnow()

    def claim_queued_study(self, worker: str) -> StudyRecord | None:
        """Flip the oldest queued study to running for ``worker`` and return it; None if none is queued.

        Two workers never claim the same study: PostgreSQL skips rows another transaction has
        locked, and the UPDATE only matches while the study is still queued.
        """
        oldest = select(Study.id).where(Study.status == "queued").order_by(Study.created_at, Study.id)
        with self._write.begin() as s:
            while True:
                study_id = s.scalar(oldest.limit(1).with_for_update(skip_locked=True))
                if study_id is None:
                    return None
                claim = update(Study).where(Study.id == study_id, Study.status == "queued")
                claimed = s.execute(
                    claim.values(status="running", claimed_by=worker, updated_at=rows.utcnow())
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    row = s.get(Study, study_id, populate_existing=True)
                    return StudyRecord.model_validate(row, from_attributes=True)

    def cancel_study(self, name: str) -> None:
        """Mark a queued or running study cancelled; workers stop at their next status check."""
        with self._write.begin() as s:
            row = rows.study_row(s, name)
            if row.status not in ("queued", "running"):
                raise StorageError(
                    f"study {name!r} is {row.status}; only queued or running studies can be cancelled"
                )
            row.status, row.updated_at = "cancelled", rows.utcnow()

    def delete_study(self, name: str) -> None:
        """Delete a study with its trials and intermediate scores (rungs and promotion decisions go
        by the foreign keys' cascade). Optuna's own rows are not touched:
        ``deltaspace.search.study_runner.delete_study`` deletes both."""
        with self._write.begin() as s:
            study_id = rows.study_row(s, name).id
            trial_ids = select(Trial.id).where(Trial.study_id == study_id)
            for stmt in (
                delete(IntermediateScore).where(IntermediateScore.trial_id.in_(trial_ids)),
                delete(Trial).where(Trial.study_id == study_id),
                delete(Study).where(Study.id == study_id),
            ):
                s.execute(stmt.execution_options(synchronize_session=False))
