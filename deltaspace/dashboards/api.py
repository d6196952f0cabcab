"""The JSON API (``/api``): studies, trials, Pareto fronts and figures as plotly JSON, launching
and cancelling studies, and exports. Read-only over storage except for queueing and cancelling:
the service never trains (``deltaspace worker`` runs queued studies)."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from deltaspace.search.pareto import designs, study_objectives
from deltaspace.search.trial_rows import rows_csv, trial_rows
from deltaspace.storage import Storage, StudySummary, TrialRecord

from .curves import curve_figure, curve_record
from .examples import Example, examples
from .figures import FIGURES, FigureOptions, build_figure
from .pareto import ParetoRecord, pareto_record
from .records import study_trials
from .security import shorten
from .submit import StudyProblems, Submission, parse_study, problem

router = APIRouter(prefix="/api", tags=["studies"])


def storage_of(request: Request) -> Storage:
    return request.app.state.storage


StorageDep = Annotated[Storage, Depends(storage_of)]


class StudyOut(BaseModel):
    """One study: its record, trial counts per status and best complete score."""

    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    n_trials_target: int | None
    counts: dict[str, int]
    best_score: float | None
    error: str | None
    spec_yaml: str


class StudyIn(BaseModel):
    """A study file's text (YAML), as ``deltaspace run`` reads it."""

    yaml: str


class Problem(BaseModel):
    loc: list[str]
    path: str
    msg: str
    type: str


class Problems(BaseModel):
    detail: list[Problem]


def study_out(storage: Storage, name: str) -> StudyOut:
    record = storage.get_study(name)
    complete = [t.score for t in storage.list_trials(name, status="complete") if t.score is not None]
    return StudyOut(
        **record.model_dump(include=set(StudyOut.model_fields) - {"counts", "best_score"}),
        counts=storage.trial_counts(name),
        best_score=max(complete) if complete else None,
    )


def figure_response(fig: Any) -> Response:
    return Response(fig.to_json(), media_type="application/json")


@router.get("/studies", response_model=list[StudySummary])
def list_studies(storage: StorageDep) -> list[StudySummary]:
    """Every study with its status and trial counts, oldest first."""
    return storage.list_studies()


class Validated(BaseModel):
    """A study file that would be queued as it stands."""

    name: str
    n_trials: int | None
    objectives: list[str]


def _submission(text: str, storage: Storage, request: Request) -> Submission:
    """The validated submission; StudyProblems also when its name is taken."""
    submission = parse_study(text, request.app.state.base_dir, request.app.state.policy)
    if any(s.name == submission.name for s in storage.list_studies()):
        raise StudyProblems(
            [
                problem(
                    ["name"],
                    f"a study named {shorten(submission.name)!r} exists already; choose another name",
                )
            ]
        )
    return submission


@router.post("/studies/validate", response_model=Validated, responses={422: {"model": Problems}})
def validate_study(body: StudyIn, storage: StorageDep, request: Request) -> Any:
    """Check a study YAML as ``POST /api/studies`` would, without queueing it (the launch page
    calls this as you type): 200 with what would run, or 422 with each problem's field path."""
    try:
        submission = _submission(body.yaml, storage, request)
    except StudyProblems as exc:
        return JSONResponse({"detail": exc.problems}, status_code=422)
    return Validated(
        name=submission.name,
        n_trials=submission.n_trials,
        objectives=list(study_objectives(submission.spec_yaml)),
    )


@router.post("/studies", status_code=201, response_model=StudyOut, responses={422: {"model": Problems}})
def submit_study(body: StudyIn, storage: StorageDep, request: Request) -> Any:
    """Validate a study YAML and queue it; a worker beside the database runs it."""
    try:
        submission = parse_study(body.yaml, request.app.state.base_dir, request.app.state.policy)
    except StudyProblems as exc:
        return JSONResponse({"detail": exc.problems}, status_code=422)
    storage.create_study(
        submission.name, submission.spec_yaml, status="queued", n_trials_target=submission.n_trials
    )
    return study_out(storage, submission.name)


@router.get("/examples", response_model=list[Example])
def example_studies() -> tuple[Example, ...]:
    """The example study files (``examples/``), starting points for the launch page."""
    return examples()


# Routes whose path ends in more segments come first: a study name may contain "/" (the
# path converter matches it), and "NAME/figures/pareto" must not match "{name}/pareto".
@router.get("/studies/{name:path}/trials/{number}/figures/curve")
def trial_curve(name: str, number: int, storage: StorageDep) -> Response:
    """The trial's learning curve, one line per seed of its design, as plotly JSON."""
    trial = storage.get_trial(name, number)
    trials = storage.list_trials(name)
    design = next((d for d in designs(trials, study_objectives(storage.get_study(name).spec_yaml))
                   if number in d.numbers), None)  # fmt: skip
    members = design.trials if design else (trial,)
    reported = {t.number: storage.intermediate_scores(name, t.number) for t in members}
    record = curve_record(number, members, reported, design.seeds if design else None)
    return figure_response(curve_figure(record, f"Learning curve: trial {number}"))


@router.get("/studies/{name:path}/trials/{number}", response_model=TrialRecord)
def get_trial(name: str, number: int, storage: StorageDep) -> TrialRecord:
    """One trial's stored record."""
    return storage.get_trial(name, number)


@router.get(
    "/studies/{name:path}/trials.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def trials_csv(name: str, storage: StorageDep) -> Response:
    """Every trial as CSV (``deltaspace status NAME --csv``): its design's seed mean, 95%
    interval and front flag, sampled values and metrics."""
    rows = trial_rows(storage.list_trials(name), study_objectives(storage.get_study(name).spec_yaml))
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{name}-trials.csv")
    return Response(
        rows_csv(rows),
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def figure_options(
    color_by: str | None = None,
    band: Annotated[
        str | None,
        Query(pattern=r"^\d+(\.\d+)?,\d+(\.\d+)?$", description="LOW,HIGH percent of the backbone"),
    ] = None,
) -> FigureOptions:
    low_high = tuple(float(v) for v in band.split(",")) if band else None
    return FigureOptions(color_by=color_by, band=low_high)  # type: ignore[arg-type]


OptionsDep = Annotated[FigureOptions, Depends(figure_options)]


@router.get("/studies/{name:path}/figures/{figure}")
def study_figure(name: str, figure: str, storage: StorageDep, options: OptionsDep) -> Response:
    """One figure of the study as plotly JSON (``Plotly.react(div, fig.data, fig.layout)``)."""
    return figure_response(build_figure(figure, [study_trials(storage, name)], options))


@router.get("/studies/{name:path}/trials", response_model=list[TrialRecord])
def list_trials(name: str, storage: StorageDep, status: str | None = None) -> list[TrialRecord]:
    """The study's trials by number, optionally only those with ``status``."""
    return storage.list_trials(name, status=status)


@router.get("/studies/{name:path}/pareto", response_model=ParetoRecord)
def pareto(name: str, storage: StorageDep, color_by: str = "family") -> ParetoRecord:
    """Every design (seed mean and 95% interval) with those on the study's front flagged, the
    front in order, and where each label goes."""
    return pareto_record([study_trials(storage, name)], color_by)


@router.get("/studies/{name:path}/figures", response_model=list[str])
def figure_names(name: str, storage: StorageDep) -> list[str]:
    storage.get_study(name)
    return list(FIGURES)


@router.post("/studies/{name:path}/cancel", response_model=StudyOut)
def cancel_study(name: str, storage: StorageDep) -> StudyOut:
    """Cancel a queued or running study (workers stop at their next status check)."""
    storage.cancel_study(name)
    return study_out(storage, name)


@router.get(
    "/studies/{name:path}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export(
    name: str,
    storage: StorageDep,
    fmt: Annotated[Literal["yaml", "weights", "peft", "merged"], Query(alias="format")] = "yaml",
    selection: Literal["best", "pareto", "trial"] = "best",
    trial: int | None = None,
) -> Response:
    """The export of the best trial, the Pareto front or one trial, as a zip of its folder(s).

    Formats other than yaml need weights the trials kept: the service never retrains.
    """
    from deltaspace.export import export_study

    with tempfile.TemporaryDirectory(prefix="deltaspace-export-") as work:
        out = Path(work) / "export"
        export_study(storage, name, fmt, out, selection=selection, number=trial, allow_training=False)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(out))
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{name}-{fmt}.zip")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/compare/{figure}")
def compare_figure(
    figure: str, storage: StorageDep, study: Annotated[list[str], Query()], options: OptionsDep
) -> Response:
    """One figure over several studies (``?study=a&study=b``): one front, one line per study."""
    return figure_response(build_figure(figure, [study_trials(storage, s) for s in study], options))


@router.get("/studies/{name:path}", response_model=StudyOut)
def get_study(name: str, storage: StorageDep) -> StudyOut:
    """One study: status, counts, best score, error and its stored spec."""
    return study_out(storage, name)
