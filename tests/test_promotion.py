"""Multi-fidelity promotion: the decision (rank and crowding over all objectives, 1/η kept),
rung by rung from saved states, exactly once per rung with two workers (SQLite and PostgreSQL),
and nothing lost when a worker is killed in the middle of a rung.

The search runs with the fake trainer (its "state" is a JSON file recording the steps trained);
that a resumed real run equals an uninterrupted one is tests/test_trainer_resume.py.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import threading
import time

import pytest
from search_support import join_slow_when_resuming, join_with_fake_trainer, study_dict

from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.pareto import designs
from deltaspace.search.promotion import survivors
from deltaspace.search.study_runner import prepare_study, run_study
from deltaspace.space.errors import SpecError
from deltaspace.space.study import study_from_mapping
from deltaspace.stats import promotion_order
from deltaspace.storage import Storage
from deltaspace.testing.postgres import create_database

RUNGS = [4, 8, 16]


def promoted_study(name: str, n_trials: int = 9, **search: object) -> dict:
    return study_dict(
        name, "minilm", None,
        budget={"max_steps": RUNGS[-1], "n_trials": n_trials},
        search={"promotion": {"rungs": RUNGS, "eta": 3}, **search},
    )  # fmt: skip


# ---- the decision, against a computation written out here ----------------------------------


def dominated_by(a: list[float], b: list[float]) -> bool:
    """b dominates a: score (index 0) up, parameters (index 1) down."""
    return b[0] >= a[0] and b[1] <= a[1] and (b[0] > a[0] or b[1] < a[1])


def ranks_by_hand(points: list[list[float]]) -> list[int]:
    ranks, left, rank = {}, set(range(len(points))), 0
    while left:
        front = {i for i in left if not any(dominated_by(points[i], points[j]) for j in left if j != i)}
        ranks.update(dict.fromkeys(front, rank))
        left -= front
        rank += 1
    return [ranks[i] for i in range(len(points))]


def test_promotion_order_is_rank_then_crowding():
    points = [[0.80, 100], [0.70, 10], [0.75, 50], [0.60, 50], [0.50, 200], [0.78, 80], [0.65, 30]]
    directions = ["maximize", "minimize"]
    order = promotion_order(points, directions)
    ranks = ranks_by_hand(points)
    assert [ranks[i] for i in order] == sorted(ranks)  # fronts first
    # the front {0, 1, 2, 5, 6}: its ends (best score 0, fewest parameters 1) have infinite
    # crowding; the middle by the summed normalised gaps of their neighbours
    front = [i for i in range(len(points)) if ranks[i] == 0]
    assert set(order[:2]) == {0, 1}
    by_score = sorted(front, key=lambda i: points[i][0])
    by_size = sorted(front, key=lambda i: points[i][1])

    def gap(i: int) -> float:
        total = 0.0
        for axis, ordered in ((0, by_score), (1, by_size)):
            k = ordered.index(i)
            span = points[ordered[-1]][axis] - points[ordered[0]][axis]
            total += (points[ordered[k + 1]][axis] - points[ordered[k - 1]][axis]) / span
        return total

    middle = sorted((i for i in front if i not in (0, 1)), key=lambda i: (-gap(i), i))
    assert order[2 : len(front)] == middle


def test_survivors_keep_ceil_n_over_eta():
    candidates = [(10 + i, [0.5 + 0.01 * i, 100 + i]) for i in range(10)]  # all on one front
    kept = survivors(candidates, ["maximize", "minimize"], 3)
    assert len(kept) == math.ceil(10 / 3) and {10, 19} <= set(kept)  # the two ends survive
    assert survivors([], ["maximize", "minimize"], 3) == []
    assert survivors(candidates[:1], ["maximize", "minimize"], 3) == [10]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"budget": {"max_steps": 20, "n_trials": 4}}, "must equal budget.max_steps"),
        ({"seeds": [0, 1]}, "with promotion, give one seed"),
        ({"search": {"promotion": {"rungs": RUNGS, "seeds": [1, 2]}}}, "must start with the study's seed 0"),
        ({"search": {"promotion": {"rungs": RUNGS}, "pruner": "median"}}, "drop the pruner or the promotion"),
        ({"search": {"promotion": {"rungs": [8, 4, 16]}}}, "increasing order"),
        ({"search": {"promotion": {"rungs": RUNGS, "eta": 1}}}, "eta"),
    ],
)
def test_bad_promotion_is_refused(change, message):
    study = promoted_study("bad")
    for key, value in change.items():
        study[key] = {**study[key], **value} if isinstance(study.get(key), dict) else value
    with pytest.raises(SpecError, match=message):
        study_from_mapping(study)


# ---- one worker, rung by rung --------------------------------------------------------------


def test_rungs_promote_from_saved_states(tmp_path):
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    run_study(study_from_mapping(promoted_study("rungs")), url, options=ExecutorOptions(trainer=FakeTrainer()))
    storage = Storage(url)
    assert storage.get_study("rungs").status == "complete"
    rows = storage.list_rungs("rungs")
    first = [r for r in rows if r.rung == 0]
    assert len(first) == 9 and all(r.status == "complete" and r.steps == 4 for r in first)
    trials = {t.number: t for t in storage.list_trials("rungs")}

    # every decision is the promotion order of the rung below, computed here from its rows
    decisions = storage.promotions("rungs")
    assert [d.rung for d in decisions] == [1, 2]
    for decision in decisions:
        below = [r for r in rows if r.rung == decision.rung - 1 and r.status == "complete"]
        unique, seen = [], set()
        for r in sorted(below, key=lambda r: r.number):
            # one design: the method and its training, apart from the budget and seeds (which every
            # trial of a rung shares, and which the rows of promoted trials now show at a higher rung)
            training = {k: v for k, v in trials[r.number].training.items() if k not in ("max_steps", "seeds")}
            key = (trials[r.number].method_hash, json.dumps(training, sort_keys=True))
            if key not in seen:
                seen.add(key)
                unique.append(r)
        points = [[r.score, trials[r.number].delta_params] for r in unique]
        keep = math.ceil(len(unique) / 3)
        expected = sorted(unique[i].number for i in promotion_order(points, ["maximize", "minimize"])[:keep])
        assert decision.chosen == expected and decision.candidates == len(below)
        promoted = [r for r in rows if r.rung == decision.rung]
        assert sorted(r.number for r in promoted) == expected
        assert all(r.status == "complete" and r.steps == RUNGS[decision.rung] and r.attempts == 1 for r in promoted)
        # each promoted run continued the state its rung below saved; at the last rung the first of
        # three seeds did, the other two trained straight through (the metric is their mean)
        share = 1 / 3 if decision.rung == len(RUNGS) - 1 else 1
        assert all(r.result.metrics["resumed_from_step"] == pytest.approx(share * RUNGS[decision.rung - 1])
                   for r in promoted)  # fmt: skip

    (top,) = [r for r in rows if r.rung == 2]
    final = storage.get_trial("rungs", top.number)
    assert final.rung == 2 and final.steps == 16
    assert final.training["max_steps"] == 16 and final.training["seeds"] == [0, 1, 2]
    assert {k for k in final.metrics if k.startswith("score_seed")} == {"score_seed0", "score_seed1", "score_seed2"}
    # states: each dropped once its next rung completed or passed the trial over; none at the top
    assert not any(r.has_state for r in rows)
    # a trial shows its highest rung; the front's design at the top carries a three-seed interval
    shown = {t.number: t.rung for t in storage.list_trials("rungs")}
    assert shown == {n: max(r.rung for r in rows if r.number == n) for n in shown}
    top_design = next(d for d in designs(storage.list_trials("rungs")) if d.number == top.number)
    assert top_design.interval.n == 3 and top_design.interval.half_width is not None


def test_a_rerun_of_a_finished_promoted_study_does_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    study = study_from_mapping(promoted_study("again", n_trials=4))
    run_study(study, url, options=ExecutorOptions(trainer=FakeTrainer()))
    before = Storage(url).list_rungs("again")
    run_study(study, url, options=ExecutorOptions(trainer=FakeTrainer()))
    assert Storage(url).list_rungs("again") == before


# ---- several workers, and lost ones --------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ds.db'}"
    return create_database(request.getfixturevalue("postgres_url"))


def spawn(target, name: str, url: str, seconds: float) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=target, args=(name, url, seconds))
    process.start()
    return process


def test_two_workers_promote_each_candidate_once(url):
    prepare_study(study_from_mapping(promoted_study("pair", n_trials=12)), url)
    workers = [spawn(join_with_fake_trainer, "pair", url, 0.3) for _ in range(2)]
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    storage = Storage(url)
    assert storage.get_study("pair").status == "complete"
    rows = storage.list_rungs("pair")
    pairs = [(r.number, r.rung) for r in rows]
    assert len(pairs) == len(set(pairs))  # one row per trial and rung
    assert all(r.status == "complete" and r.attempts <= 1 for r in rows)  # none trained twice
    decisions = storage.promotions("pair")
    assert [d.rung for d in decisions] == [1, 2]
    for d in decisions:
        assert sorted(r.number for r in rows if r.rung == d.rung) == d.chosen
    assert len({r.worker_pid for r in rows if r.rung == 0}) == 2  # both workers took part


def test_a_rung_is_decided_exactly_once_by_racing_workers(url):
    prepare_study(study_from_mapping(promoted_study("race", n_trials=3)), url)
    run_study(study_from_mapping(promoted_study("race", n_trials=3)), url,
              options=ExecutorOptions(trainer=FakeTrainer(), timeout=0.01))  # fmt: skip
    storages = [Storage(url) for _ in range(4)]
    barrier, answers = threading.Barrier(4), []

    def decide(storage: Storage) -> None:
        barrier.wait()
        answers.append(storage.decide_promotion("race", 7, 99, [0], 3))

    threads = [threading.Thread(target=decide, args=(s,)) for s in storages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [False, False, False, True]
    assert [r.number for r in storages[0].list_rungs("race", 7)] == [0]


def test_a_worker_killed_mid_rung_loses_nothing(url):
    prepare_study(study_from_mapping(promoted_study("killed", n_trials=6)), url)
    storage = Storage(url)
    worker = spawn(join_slow_when_resuming, "killed", url, 600.0)  # any promoted rung hangs
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not [r for r in storage.list_rungs("killed", 1) if r.status == "running"]:
        time.sleep(0.2)
    (running,) = [r for r in storage.list_rungs("killed", 1) if r.status == "running"]
    time.sleep(0.5)
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    saved = storage.rung_state("killed", running.number, 0)
    assert saved is not None
    time.sleep(2.5)  # past the grace period (2 s)

    run_study(study_from_mapping(promoted_study("killed", n_trials=6)), url,
              options=ExecutorOptions(trainer=FakeTrainer(), timeout=120))  # fmt: skip
    assert storage.get_study("killed").status == "complete"
    rows = storage.list_rungs("killed")
    assert all(r.status == "complete" for r in rows)
    again = next(r for r in rows if (r.number, r.rung) == (running.number, 1))
    assert again.attempts == 2 and again.worker_pid == os.getpid()
    assert again.result.metrics["resumed_from_step"] == RUNGS[0]  # from the state the kill left
    assert storage.rung_state("killed", running.number, 0) is None  # spent once rung 1 completed
    assert len([r for r in rows if r.rung == 0]) == 6  # no rung-0 trial ran twice


def test_training_steps_count_each_rung_once(tmp_path):
    """9 trials × 4 steps, 3 go on to 8 (+4 each), 1 goes on to 16 (+8) and two more seeds (16 each)."""
    from deltaspace.search.promotion import training_steps

    url = f"sqlite:///{tmp_path / 'ds.db'}"
    run_study(study_from_mapping(promoted_study("steps")), url, options=ExecutorOptions(trainer=FakeTrainer()))
    storage = Storage(url)
    n1 = len(storage.list_rungs("steps", 1))
    n2 = len(storage.list_rungs("steps", 2))
    assert training_steps(storage, "steps") == 9 * 4 + n1 * (8 - 4) + n2 * ((16 - 8) + 2 * 16)
    flat = study_dict("flat", "minilm", None, budget={"max_steps": 16, "n_trials": 3}, seeds=[0, 1])
    run_study(study_from_mapping(flat), url, options=ExecutorOptions(trainer=FakeTrainer()))
    assert training_steps(storage, "flat") == 3 * 16 * 2
