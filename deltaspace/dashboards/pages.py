"""The web pages over the API: the studies, one page per study (refreshing while it runs), one
front for several studies, and a form that launches a study. Rendered by autoescaping templates."""

from __future__ import annotations

import functools
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from .api import StorageDep
from .figures import FIGURES
from .records import DIMENSIONS, trial_points
from .table import table_record
from .templates import render

router = APIRouter(include_in_schema=False)
COLOR_DIMENSIONS = ("family", "method", *DIMENSIONS)


def page(template: str, **context: object) -> HTMLResponse:
    return HTMLResponse(render(template, **context))


@router.get("/", response_class=HTMLResponse)
def index(storage: StorageDep) -> HTMLResponse:
    return page("index.html", studies=storage.list_studies())


@router.get("/studies/{name:path}", response_class=HTMLResponse)
def study_page(name: str, storage: StorageDep) -> HTMLResponse:
    study = storage.get_study(name)
    counts = storage.trial_counts(name)
    trials = storage.list_trials(name)
    sampled = sorted({key for point in trial_points(trials) for key in point.values})
    return page(
        "study.html",
        study=study,
        counts=counts,
        watch_key=f"{study.status}:{','.join(str(n) for n in counts.values())}",
        figures=[{"name": k.name, "title": k.title} for k in FIGURES.values()],
        color_options=[*COLOR_DIMENSIONS, *(k for k in sampled if k not in COLOR_DIMENSIONS)],
        table=table_record(trials),
    )


@router.get("/compare", response_class=HTMLResponse)
def compare_page(storage: StorageDep, study: Annotated[list[str], Query()] = []) -> HTMLResponse:  # noqa: B006
    for name in study:
        storage.get_study(name)
    query = urlencode([("study", name) for name in study])
    return page("compare.html", studies=storage.list_studies(), chosen=study, query=query)


@router.get("/launch", response_class=HTMLResponse)
def launch_page() -> HTMLResponse:
    return page("launch.html")


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
