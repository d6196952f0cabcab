"""The front as a table: each design on it with its seed mean ± 95% interval, and how it compares
with the next cheaper design on the front, judged on the paired difference over the seeds both
ran (`deltaspace.stats.paired_comparison`): "better" only when the whole interval of the
difference is above zero, "within noise" when it holds zero or fewer than two seeds are shared.
The report and the study page show it beside the figures."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from deltaspace.search.pareto import interval_text, pareto_front
from deltaspace.stats import paired_comparison

from .records import StudyTrials


class FrontRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    number: int
    method_name: str
    delta_params: int
    percent: float | None
    values: dict[str, float]  # the other objectives
    score: str  # "0.8123 ± 0.0150 (3 seeds)"
    versus: str | None  # the comparison with the next cheaper front design
    verdict: str | None


class FrontTable(BaseModel):
    model_config = ConfigDict(frozen=True)
    objectives: list[str]
    rows: list[FrontRow]


def front_table_record(study: StudyTrials) -> FrontTable:
    """The study's front, fewest delta parameters first."""
    front = sorted(
        pareto_front(study.trials, study.objectives), key=lambda d: (d.trial.delta_params or 0, d.number)
    )
    others = [o for o in study.objectives if o not in ("score", "delta_params")]
    rows = []
    for i, design in enumerate(front):
        versus = verdict = None
        if i:
            cheaper = front[i - 1]
            c = paired_comparison(design.seeds, cheaper.seeds)
            verdict = c.verdict
            if c.n < 2 or c.low is None or c.high is None:
                versus = (
                    f"vs {cheaper.method_name}: {c.n} shared seed{'s' if c.n != 1 else ''}, too few to tell"
                )
            else:
                versus = (
                    f"vs {cheaper.method_name}: {c.difference:+.4f} [{c.low:+.4f}, {c.high:+.4f}] over "
                    f"{c.n} seeds"
                )
        rows.append(
            FrontRow(
                number=design.number, method_name=design.method_name, delta_params=design.trial.delta_params or 0,
                percent=design.trial.percent, values={o: design.objectives[o] for o in others},
                score=interval_text(design), versus=versus, verdict=verdict,
            )
        )  # fmt: skip
    return FrontTable(objectives=list(study.objectives), rows=rows)
