"""The web pages over the API: the studies, one page per study (refreshing while it runs), one
page per trial, one front for several studies, and a form that launches a study (validated as
you type, from an example if you like). Rendered by autoescaping templates."""

from __future__ import annotations

import functools
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from deltaspace.export.select import best_design
from deltaspace.search.pareto import interval_text

from .api import StorageDep
from .examples import examples
from .figures import FIGURES
from .front_table import front_table_record
from .records import DIMENSIONS, study_trials, trial_points
from .table import table_record
from .templates import render
from .trial import trial_page_record

router = APIRouter(include_in_schema=False)
COLOR_DIMENSIONS = ("family", "method", *DIMENSIONS)


def page(template: str, **context: object) -> HTMLResponse:
    return HTMLResponse(render(template, **context))


BANDS = (("all designs", ""), ("under 0.1% of the backbone", "0,0.1"), ("0.1% to 1%", "0.1,1"),
         ("1% to 10%", "1,10"), ("10% and more", "10,1000"))  # fmt: skip


@router.get("/", response_class=HTMLResponse)
def index(storage: StorageDep) -> HTMLResponse:
    studies = storage.list_studies()
    best = {}
    for s in studies:
        design = best_design(storage.list_trials(s.name, status="complete"))
        best[s.name] = {"score": design.score, "text": interval_text(design)} if design else None
    return page("index.html", studies=studies, best=best)


@router.get("/studies/{name:path}/trials/{number}", response_class=HTMLResponse)
def trial_page(name: str, number: int, storage: StorageDep) -> HTMLResponse:
    data = study_trials(storage, name)
    trial = storage.get_trial(name, number)
    return page("trial.html", trial=trial_page_record(trial, data.trials, data.objectives))


@router.get("/studies/{name:path}", response_class=HTMLResponse)
def study_page(name: str, storage: StorageDep) -> HTMLResponse:
    study = storage.get_study(name)
    counts = storage.trial_counts(name)
    data = study_trials(storage, name)
    sampled = sorted({key for point in trial_points(data.trials) for key in point.values})
    options = {
        "color_by": [(o, o) for o in (*COLOR_DIMENSIONS, *(k for k in sampled if k not in COLOR_DIMENSIONS))],
        "band": list(BANDS),
    }
    return page(
        "study.html",
        study=study,
        counts=counts,
        objectives=data.objectives,
        watch_key=f"{study.status}:{','.join(str(n) for n in counts.values())}",
        figures=[
            {"name": k.name, "title": k.title, "options": {o: options[o] for o in k.options}}
            for k in FIGURES.values()
        ],
        table=table_record(data.trials),
        front=front_table_record(data),
        trial_links=True,
    )


@router.get("/compare", response_class=HTMLResponse)
def compare_page(storage: StorageDep, study: Annotated[list[str], Query()] = []) -> HTMLResponse:  # noqa: B006
    for name in study:
        storage.get_study(name)
    query = urlencode([("study", name) for name in study])
    return page("compare.html", studies=storage.list_studies(), chosen=study, query=query)


@router.get("/launch", response_class=HTMLResponse)
def launch_page() -> HTMLResponse:
    return page("launch.html", examples=[e.name for e in examples()])


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    """plotly's JavaScript, served from the installed package: the pages work offline."""
    return Response(
        _plotly_js(), media_type="application/javascript", headers={"cache-control": "public, max-age=86400"}
    )
