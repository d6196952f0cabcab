"""``deltaspace serve``: the FastAPI service over the database (JSON API, OpenAPI at /docs, pages).

>>> app = create_app("sqlite:///deltaspace.db")   # uvicorn.run(app, host="127.0.0.1", port=8050)

Expected errors map to HTTP statuses: an unknown study, trial or figure is 404; a name taken, a
study that cannot be cancelled or an export that needs weights a trial did not keep is 409; a
study file that does not validate is 422 with each problem's field path.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from deltaspace.space.errors import DeltaspaceError, UnknownNameError
from deltaspace.storage import Storage, StorageError, StudyNotFoundError, TrialNotFoundError

from . import api, pages
from .templates import render


def _status(exc: Exception) -> int:
    if isinstance(exc, StudyNotFoundError | TrialNotFoundError | UnknownNameError):
        return 404
    return 409


async def _expected_error(request: Request, exc: Exception) -> Response:
    status = _status(exc)
    if request.url.path.startswith("/api"):
        return JSONResponse({"detail": str(exc)}, status_code=status)
    return HTMLResponse(render("error.html", status=status, message=str(exc)), status_code=status)


def create_app(storage_url: str, base_dir: str | Path | None = None) -> FastAPI:
    """The service over ``storage_url``; relative paths in submitted studies resolve against
    ``base_dir`` (the working directory by default)."""
    app = FastAPI(
        title="deltaspace",
        summary="Launch PEFT design-space studies, browse their Pareto fronts, export the winners.",
        version="0.1.0",
    )
    app.state.storage = Storage(storage_url)
    app.state.base_dir = str(Path(base_dir or Path.cwd()).resolve())
    app.add_exception_handler(StorageError, _expected_error)
    app.add_exception_handler(DeltaspaceError, _expected_error)
    app.include_router(api.router)
    app.include_router(pages.router)
    return app


def serve(storage_url: str, host: str = "127.0.0.1", port: int = 8050) -> None:
    import uvicorn

    uvicorn.run(create_app(storage_url), host=host, port=port, log_level="info")
