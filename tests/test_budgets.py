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
