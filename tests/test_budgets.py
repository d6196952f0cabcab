"""Deterministic budgets: status warns when a study's trials trained different numbers of steps."""

from __future__ import annotations

from types import SimpleNamespace

from deltaspace.search.pareto import step_warnings
from deltaspace.search.progress import render_status
from deltaspace.trainers.result import TrialResult


def trial(number: int, status: str, steps: int | None, reason: str | None = None) -> SimpleNamespace:
    result = (
        TrialResult(status="complete", steps=steps or 0, stop_reason=reason) if status == "complete" else None
    )
    return SimpleNamespace(number=number, status=status, steps=steps, result=result)


def test_equal_budgets_give_no_warning() -> None:
    assert step_warnings([trial(0, "complete", 60), trial(1, "complete", 60), trial(2, "pruned", 20)]) == []


def test_different_budgets_are_named_with_a_reason() -> None:
    trials = [
        trial(0, "complete", 60),
        trial(1, "complete", 22, "max_train_seconds=45 reached after 22 of 60 steps"),
        trial(2, "failed", 3),
    ]
    (warning,) = step_warnings(trials)
    assert "different numbers of steps (22 to 60)" in warning
    assert "trial 1: max_train_seconds=45 reached after 22 of 60 steps" in warning


def test_status_shows_the_warning() -> None:
    from rich.console import Console

    status = {"study": "s", "status": "running", "n_trials": 2, "done": 2, "objectives": ["score"],
              "counts": {"complete": 2}, "front": [], "warnings": ["complete trials trained different"]}  # fmt: skip
    console = Console(record=True, width=200)
    console.print(render_status(status))
    assert "warning: complete trials trained different" in console.export_text()


def test_rungs_of_a_promoted_study_differ_on_purpose() -> None:
    """Promotion trains rungs to different budgets: only trials of one rung are compared."""
    trials = [trial(0, "complete", 4), trial(1, "complete", 4), trial(2, "complete", 16)]
    for t, rung in zip(trials, (0, 0, 1), strict=True):
        t.rung = rung
    assert step_warnings(trials) == []
    trials.append(SimpleNamespace(**{**vars(trial(3, "complete", 3, "early stopping")), "rung": 0}))
    (warning,) = step_warnings(trials)
    assert "(3 to 4)" in warning


def test_status_shows_the_rungs() -> None:
    from rich.console import Console

    status = {"study": "s", "status": "running", "n_trials": 9, "done": 9, "objectives": ["score"],
              "counts": {"complete": 9}, "front": [], "warnings": [],
              "rungs": [{"rung": 0, "steps": 40, "complete": 9, "running": 0, "pending": 0, "failed": 0},
                        {"rung": 1, "steps": 120, "complete": 1, "running": 1, "pending": 1, "failed": 0}]}  # fmt: skip
    console = Console(record=True, width=200)
    console.print(render_status(status))
    text = console.export_text()
    assert "rung 0 (40 steps): 9 complete" in text and "rung 1 (120 steps): 1 complete, 1 running, 1 pending" in text
