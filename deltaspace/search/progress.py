"""The live display of ``deltaspace run``: trials done of the target, running, and the front so far.

It reads only the ``ds_`` tables (``pareto.status_record``), so it shows the same thing whether
the trials run in this process, in worker processes or on a Ray cluster.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..space.study import StudySpec
from ..storage import Storage
from .pareto import status_record

FRONT_ROWS = 8


def render_status(status: dict[str, Any]) -> Group:
    """The status record as a headline and a table of the front."""
    counts = status["counts"]
    target = status["n_trials"] if status["n_trials"] is not None else "?"
    details = ", ".join(f"{n} {s}" for s, n in counts.items() if n and s != "running")
    headline = Text.assemble(
        (f"{status['study']} ", "bold"), f"[{status['status']}]  trials done {status['done']}/{target}",
        f" ({details})" if details else "", f", running {counts.get('running', 0)}",
    )  # fmt: skip
    table = Table(title="best front so far", title_justify="left", show_edge=False)
    columns = ("trial", "method", *status["objectives"], "seeds", "% backbone")
    for column in columns:
        if column == "score":
            table.add_column("score ± 95% CI", justify="right", no_wrap=True)
        else:
            table.add_column(column, justify="left" if column == "method" else "right")
    for row in status["front"][:FRONT_ROWS]:
        values = [_score(row) if o == "score" else _fmt(row[o]) for o in status["objectives"]]
        table.add_row(
            str(row["number"]), row["method"], *values, str(row["seeds"]), _fmt(row["percent"], ".3f")
        )
    if len(status["front"]) > FRONT_ROWS:
        table.caption = f"and {len(status['front']) - FRONT_ROWS} more on the front"
    warnings = [Text(f"warning: {w}", style="yellow") for w in status.get("warnings", ())]
    rungs = [_rung_line(r) for r in status.get("rungs", ())]
    parts = [headline, *rungs, *warnings]
    if rungs and status["front"]:
        table.caption = "a trial shows its highest rung" + (f"; {table.caption}" if table.caption else "")
    return Group(*parts, table) if status["front"] else Group(*parts)


def _rung_line(rung: dict[str, Any]) -> Text:
    counts = ", ".join(f"{rung[s]} {s}" for s in ("complete", "running", "pending", "failed") if rung[s])
    return Text(f"  rung {rung['rung']} ({rung['steps']} steps): {counts or 'none'}")


def _score(row: dict[str, Any]) -> str:
    """The seed mean and the half-width of its 95% interval (none with one seed)."""
    if row["score_high"] is None:
        return _fmt(row["score"])
    return f"{row['score']:.4f} ± {row['score_high'] - row['score']:.4f}"


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and not spec:
        return f"{int(value):,}"
    return format(value, spec or ".4f") if isinstance(value, float) else f"{value:,}"


class StudyProgress:
    """``with StudyProgress(url, spec) as progress: ... progress.refresh()``."""

    def __init__(self, url: str, spec: StudySpec, console: Console | None = None) -> None:
        self.storage, self.spec = Storage(url), spec
        self.live = Live(console=console or Console(), auto_refresh=False)

    def refresh(self, *_: Any) -> None:
        status = status_record(self.storage, self.spec.name, self.spec.objectives)
        self.live.update(render_status(status), refresh=True)

    def __enter__(self) -> StudyProgress:
        self.live.start()
        self.refresh()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.refresh()
        self.live.stop()
        self.storage.close()
