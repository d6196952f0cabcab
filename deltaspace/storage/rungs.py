"""Rung methods of :class:`~deltaspace.storage.repository.Storage`: multi-fidelity promotion.

A promoted study keeps one ``ds_rungs`` row per trial and rung. Rung 0 is written when the trial
itself finishes (`finish_rung`, in the same transaction, so a trial is never complete without
the state its promotion resumes). `decide_promotion` records the decision for a rung and its
pending rows in one transaction guarded by a unique (study, rung) constraint: two workers that
decide at the same moment both try, one insert wins, and the other learns it lost. Workers then
`claim_rung` pending rows (row locks skip rows another worker is claiming), beat while they work,
and a row whose worker fell silent goes back to pending (`requeue_stale_rungs`): the state it
resumes from is the previous rung's, which nothing overwrites, so a killed worker loses only the
work in flight.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from deltaspace.storage import rows
from deltaspace.storage.failures import Transactions
from deltaspace.storage.models import Promotion, Rung, Trial
from deltaspace.storage.records import PromotionRecord, RungRecord
from deltaspace.storage.trials import write_result

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from deltaspace.trainers.result import TrialResult

MAX_ATTEMPTS = 3  # a rung whose workers were lost this many times is failed, not retried forever


def _record(row: Rung, study_name: str, number: int) -> RungRecord:
    return RungRecord(
        study_name=study_name, number=number, rung=row.rung, steps=row.steps, status=row.status,  # type: ignore[arg-type]
        score=row.score, result_json=row.result_json, attempts=row.attempts, has_state=row.state is not None,
        worker_host=row.worker_host, worker_pid=row.worker_pid, started_at=row.started_at,
        finished_at=row.finished_at, heartbeat_at=row.heartbeat_at,
    )  # fmt: skip


def _numbered(study_id: int, *conditions: Any) -> Any:
    """Rows of the study's rungs matching ``conditions``, each with its trial's number."""
    return (
        select(Rung, Trial.number).join(Trial, Rung.trial_id == Trial.id).where(Rung.study_id == study_id, *conditions)
    )


def _back_to_pending(row: Rung) -> None:
    row.status, row.worker_host, row.worker_pid = "pending", None, None


def _rung_row(s: Session, study_name: str, number: int, rung: int, *, lock: bool = False) -> tuple[Trial, Rung | None]:
    trial = rows.trial_row(s, study_name, number, lock=lock)
    stmt = select(Rung).where(Rung.trial_id == trial.id, Rung.rung == rung)
    return trial, s.scalar(stmt.with_for_update() if lock else stmt)


class RungMethods:
    _write: Transactions
    _read: Transactions

    # ---- writes ------------------------------------------------------------------------------

    def finish_rung(self, study_name: str, number: int, rung: int, steps: int, result: TrialResult, *,
                    state: bytes | None = None, training: dict[str, Any] | None = None,
                    weights_path: str | None = None) -> RungRecord:  # fmt: skip
        """Store how trial ``number`` ended at ``rung`` (``steps`` steps) and the loop state to
        resume from. Rung 0 finishes the trial row too. A complete higher rung becomes the trial
        row's result (its score, costs, curve and, when given, ``training`` identity): a trial
        shows its highest rung, with ``weights_path`` when its weights were kept. A failed higher
        rung leaves the trial row as the rung below left it and keeps that rung's state for the
        retry; a complete one drops it (a state holds every trainable value three times, with
        Adam's moments: kept for every trial, they swell the database)."""
        now = rows.utcnow()
        with self._write.begin() as s:
            trial, row = _rung_row(s, study_name, number, rung, lock=True)
            if row is None:
                row = Rung(study_id=trial.study_id, trial_id=trial.id, rung=rung, steps=steps, attempts=1,
                           started_at=trial.started_at, worker_host=trial.worker_host,
                           worker_pid=trial.worker_pid)  # fmt: skip
                s.add(row)
            row.status = "complete" if result.status == "complete" else "failed"
            row.score, row.result_json, row.state = result.score, result.to_json(), state
            row.finished_at = row.heartbeat_at = now
            if rung > 0 and result.status == "complete":  # only this rung resumed from the one below
                below = s.scalar(select(Rung).where(Rung.trial_id == trial.id, Rung.rung == rung - 1))
                if below is not None:
                    below.state = None
            if rung == 0 or result.status == "complete":
                write_result(s, trial, result, weights_path)
                trial.rung = rung
                if training is not None:
                    trial.training_json = json.dumps(training, sort_keys=True)
            s.flush()
            return _record(row, study_name, number)

    def decide_promotion(self, study_name: str, rung: int, steps: int, chosen: list[int], candidates: int) -> bool:
        """Promote trials ``chosen`` into ``rung`` (budget ``steps``), unless that rung was decided
        already; True when this call decided it. The states of the rung below that were not chosen
        are dropped: nothing will resume them."""
        now = rows.utcnow()
        try:
            with self._write.begin() as s:
                study = rows.study_row(s, study_name)
                s.add(Promotion(study_id=study.id, rung=rung, candidates=candidates,
                                chosen_json=json.dumps(sorted(chosen)), decided_at=now))  # fmt: skip
                s.flush()  # the unique (study, rung) constraint answers here
                ids = dict(s.execute(select(Trial.number, Trial.id).where(Trial.study_id == study.id)).all())
                for number in chosen:
                    s.add(Rung(study_id=study.id, trial_id=ids[number], rung=rung, steps=steps, status="pending",
                               attempts=0))  # fmt: skip
                below = select(Rung).where(Rung.study_id == study.id, Rung.rung == rung - 1)
                promoted = {ids[n] for n in chosen}
                for row in s.scalars(below):
                    if row.trial_id not in promoted:
                        row.state = None
        except IntegrityError:
            return False
        return True

    def claim_rung(self, study_name: str, worker_host: str, worker_pid: int) -> RungRecord | None:
        """Take the next pending rung of the study (highest rung first), or None."""
        now = rows.utcnow()
        with self._write.begin() as s:
            study_id = rows.study_row(s, study_name).id
            stmt = (
                _numbered(study_id, Rung.status == "pending")
                .order_by(Rung.rung.desc(), Trial.number)
                .limit(1)
                .with_for_update(skip_locked=True, of=Rung)
            )
            found = s.execute(stmt).first()
            if found is None:
                return None
            row, number = found
            row.status, row.attempts = "running", row.attempts + 1
            row.worker_host, row.worker_pid = worker_host, worker_pid
            row.started_at = row.heartbeat_at = now
            s.flush()
            return _record(row, study_name, number)

    def rung_heartbeat(self, study_name: str, number: int, rung: int) -> None:
        with self._write.begin() as s:
            _, row = _rung_row(s, study_name, number, rung)
            if row is not None:
                row.heartbeat_at = rows.utcnow()

    def release_rung(self, study_name: str, number: int, rung: int) -> None:
        """Put a rung this worker was running back to pending (it was interrupted)."""
        with self._write.begin() as s:
            _, row = _rung_row(s, study_name, number, rung, lock=True)
            if row is not None and row.status == "running":
                _back_to_pending(row)

    def requeue_stale_rungs(self, study_name: str, stale_after_seconds: float) -> list[tuple[int, int]]:
        """Running rungs whose worker has been silent too long go back to pending (or fail after
        MAX_ATTEMPTS losses); returns their (trial number, rung)."""
        now = rows.utcnow()
        with self._write.begin() as s:
            study_id = rows.study_row(s, study_name).id
            silent_since = now - timedelta(seconds=stale_after_seconds)
            stmt = _numbered(study_id, Rung.status == "running", Rung.heartbeat_at < silent_since).with_for_update(
                skip_locked=True, of=Rung
            )
            lost = s.execute(stmt).all()
            for row, _ in lost:
                silent = (now - row.heartbeat_at).total_seconds() if row.heartbeat_at else 0.0
                if row.attempts >= MAX_ATTEMPTS:
                    row.status, row.finished_at = "failed", now
                    row.result_json = json.dumps({"status": "failed", "failure_reason": (
                        f"worker lost {row.attempts} times (last: no heartbeat for {silent:.0f} s)")})  # fmt: skip
                else:
                    _back_to_pending(row)
            return [(number, row.rung) for row, number in lost]

    # ---- reads --------------------------------------------------------------------------------

    def list_rungs(self, study_name: str, rung: int | None = None) -> list[RungRecord]:
        """The study's rung rows (of one ``rung``, if given), by rung then trial number."""
        with self._read.begin() as s:
            study_id = rows.study_row(s, study_name).id
            stmt = _numbered(study_id) if rung is None else _numbered(study_id, Rung.rung == rung)
            found = s.execute(stmt.order_by(Rung.rung, Trial.number)).all()
            return [_record(row, study_name, number) for row, number in found]

    def rung_state(self, study_name: str, number: int, rung: int) -> bytes | None:
        """The loop state trial ``number`` stopped in at ``rung`` (None: none kept)."""
        with self._read.begin() as s:
            _, row = _rung_row(s, study_name, number, rung)
            return None if row is None else row.state

    def promotions(self, study_name: str) -> list[PromotionRecord]:
        with self._read.begin() as s:
            study_id = rows.study_row(s, study_name).id
            found = s.scalars(select(Promotion).where(Promotion.study_id == study_id).order_by(Promotion.rung))
            return [
                PromotionRecord(rung=p.rung, candidates=p.candidates, chosen=json.loads(p.chosen_json),
                                decided_at=p.decided_at)  # fmt: skip
                for p in found
            ]
