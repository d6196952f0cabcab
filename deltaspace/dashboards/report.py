"""``deltaspace report STUDY -o report.html``: one self-contained HTML file with every figure.

plotly's JavaScript is inlined once (the first figure's ``include_plotlyjs=True``), so the file
opens offline; the page is rendered by an autoescaping template, so study and method names show
as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltaspace.outputs import writable_file, write_text

from .figures import FIGURES, build_figure
from .front_table import front_table_record
from .records import study_trials
from .table import table_record
from .templates import render


def report_html(storage: Any, study_name: str) -> str:
    """The report of a stored study as one HTML document."""
    study = storage.get_study(study_name)
    data = study_trials(storage, study_name)
    trials = data.trials
    figures = []
    for i, kind in enumerate(FIGURES.values()):
        fig = build_figure(kind.name, [data])
        html = fig.to_html(full_html=False, include_plotlyjs=i == 0, div_id=f"figure-{kind.name}")
        figures.append({"name": kind.name, "title": kind.title, "html": html})
    return render(
        "report.html",
        study=study,
        counts=storage.trial_counts(study_name),
        figures=figures,
        table=table_record(trials),
        front=front_table_record(data),
    )


def write_report(storage: Any, study_name: str, path: str | Path) -> Path:
    path = writable_file(path)  # a bad -o fails before the report is built
    write_text(path, report_html(storage, study_name))
    return path
