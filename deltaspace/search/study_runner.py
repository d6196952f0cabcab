"""Starting, resuming and joining studies: what ``deltaspace run`` and ``deltaspace worker`` do.

``run_study`` validates the file whole (``check_study``: nothing loads before it passes), stores
the resolved spec under the study's name (or finds it there: the same file resumes, a changed one
is refused rather than mixed in), creates the Optuna study, and hands the plan to an executor.
Re-running the same command therefore continues where the last run stopped, and never repeats
a trial number. ``join_study`` adds a worker to a stored study (its spec comes from the database);
``serve_queue`` claims queued studies one after another (the service's workers).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import yaml

from ..space.errors import DeltaspaceError
from ..space.study import StudySpec, load_study, study_from_mapping
from ..storage import Storage, StudyRecord
from .errors import SearchError
from .executors import ExecutorOptions, get_executor
from .objective import Trainer, train_with_run_trial
from .study_db import open_study, optuna_storage
from .validate import StudyPlan, check_study
from .worker import Worker

log = logging.getLogger(__name__)


def stored_spec(record: StudyRecord) -> StudySpec:
    """The spec a study was stored with (its paths are already absolute)."""
    return study_from_mapping(yaml.safe_load(record.spec_yaml), where=f"stored study {record.name}")


def prepare_study(study: str | Path | StudySpec, url: str) -> tuple[StudyPlan, bool]:
    """Validate, then store or find the study and its Optuna twin; True when newly created."""
    spec = study if isinstance(study, StudySpec) else load_study(study)
    plan = check_study(spec)
    storage = Storage(url)
    try:
        record, created = storage.get_or_create_study(
            spec.name, spec.to_yaml(), n_trials_target=plan.n_trials
        )
        if not created and stored_spec(record) != spec:
            raise SearchError(
                f"a study named {spec.name!r} exists in {url} with a different spec; re-run it with its own "
                "file to resume it, or give this one another name"
            )
        if record.status in ("queued", "cancelled", "failed"):
            storage.set_study_status(spec.name, "running")
        open_study(plan, optuna_storage(url, plan), record.optuna_study_name)
    finally:
        storage.close()
    return plan, created


def run_study(study: str | Path | StudySpec, url: str, executor: str = "local",
              options: ExecutorOptions | None = None) -> StudyPlan:  # fmt: skip
    """Start or resume ``study`` and run it to its end with ``executor``."""
    options = options or ExecutorOptions()
    plan, _ = prepare_study(study, url)
    get_executor(executor)(plan, url, options)
    return plan


def delete_study(name: str, url: str) -> int:
    """Delete stored study ``name`` whole: its trials, rungs and scores, and its Optuna twin (so a
    study of that name starts afresh). Refused while a trial is running, that is, its worker's
    heartbeat is younger than the study's grace period (an older one is a worker that died);
    returns the trials deleted."""
    from datetime import datetime, timezone

    import optuna

    from ..storage import sqlalchemy_url
    from .pruners import companion_name

    storage = Storage(url)
    try:
        record = storage.get_study(name)
        trials = storage.list_trials(name)
        grace = stored_spec(record).search.grace_seconds
        now = datetime.now(timezone.utc)
        running = [
            t.number
            for t in trials
            if t.status == "running"
            and (t.heartbeat_at is None or (now - t.heartbeat_at).total_seconds() < grace)
        ]
        if running:
            raise SearchError(
                f"study {name!r} has running trials {running} (heartbeats within the last {grace} s); "
                "stop its workers first"
            )
        storage.delete_study(name)
    finally:
        storage.close()
    optuna_url = sqlalchemy_url(url)
    for optuna_name in (record.optuna_study_name, companion_name(record.optuna_study_name)):
        try:
            optuna.delete_study(study_name=optuna_name, storage=optuna_url)
        except KeyError:  # never created (a queued study; no pruner), or deleted by hand
            pass
    return len(trials)


def load_plan(name: str, url: str) -> StudyPlan:
    """The checked plan of a stored study."""
    storage = Storage(url)
    try:
        return check_study(stored_spec(storage.get_study(name)))
    finally:
        storage.close()


def join_study(name: str, url: str, *, threads: int | None = None, timeout: float | None = None,
               trainer: Trainer = train_with_run_trial) -> int:  # fmt: skip
    """Work on stored study ``name`` until it is done; returns the trials run here."""
    return Worker(load_plan(name, url), url, trainer=trainer, threads=threads).run(timeout)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def serve_queue(url: str, *, threads: int | None = None, poll_seconds: float = 5.0, exit_when_idle: bool = False,
                trainer: Trainer = train_with_run_trial) -> list[str]:  # fmt: skip
    """Claim queued studies one at a time and run each to its end; returns their names.

    A queued study whose spec no longer validates (a model or task that went away) is marked
    failed with the message, and the worker goes on to the next.
    """
    storage = Storage(url)
    done: list[str] = []
    while True:
        record = storage.claim_queued_study(worker_name())
        if record is None:
            if exit_when_idle:
                return done
            time.sleep(poll_seconds)
            continue
        try:
            plan = check_study(stored_spec(record))
            open_study(plan, optuna_storage(url, plan), record.optuna_study_name)
        except DeltaspaceError as exc:
            storage.set_study_status(record.name, "failed", error=str(exc))
            log.warning("study %s failed validation: %s", record.name, exc)
            continue
        Worker(plan, url, trainer=trainer, threads=threads).run()
        done.append(record.name)
