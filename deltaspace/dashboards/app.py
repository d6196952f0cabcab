"""``deltaspace serve``: the FastAPI service over the database (JSON API, OpenAPI at /docs, pages).

>>> app = create_app("sqlite:///deltaspace.db")   # uvicorn.run(app, host="127.0.0.1", port=8050)

Expected errors map to HTTP statuses: an unknown study, trial or figure is 404; a name taken, a
study that cannot be cancelled or an export that needs weights a trial did not keep is 409; a
study file that does not validate, names a path outside the data roots or exceeds the operator's
limits is 422 with each problem's field path. What ``deltaspace serve`` refuses before a route runs
(hosts, origins, tokens, body sizes) is in ``security.py``.
"""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from deltaspace.space.errors import DeltaspaceError, UnknownNameError
from deltaspace.storage import (
    ReadOnlyStorageError,
    Storage,
    StorageError,
    StudyNotFoundError,
    TrialNotFoundError,
)

from . import api, pages
from .security import Guard, ServicePolicy, shorten
from .templates import render


def _status(exc: Exception) -> int:
    if isinstance(exc, StudyNotFoundError | TrialNotFoundError | UnknownNameError):
        return 404
    return 409


async def _expected_error(request: Request, exc: Exception) -> Response:
    status = _status(exc)
    message = shorten(exc, 500)  # messages quote names from the URL
    if request.url.path.startswith("/api"):
        return JSONResponse({"detail": message}, status_code=status)
    return HTMLResponse(render("error.html", status=status, message=message), status_code=status)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 without the ``input`` it would echo back (up to the whole body)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": [shorten(p) for p in err["loc"]], "msg": shorten(err["msg"], 300), "type": err["type"]}
        for err in exc.errors()[:50]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(
    storage_url: str, base_dir: str | Path | None = None, policy: ServicePolicy | None = None
) -> FastAPI:
    """The service over ``storage_url``; relative paths in submitted studies resolve against
    ``base_dir`` (the working directory by default). Without a ``policy`` only body sizes are
    limited; ``deltaspace serve`` passes the full one (`security.serve_policy`)."""
    app = FastAPI(
        title="deltaspace",
        summary="Launch PEFT design-space studies, browse their Pareto fronts, export the winners.",
        version="0.1.0",
    )
    try:
        app.state.storage = Storage(storage_url)  # serve creates the database: studies are submitted to it
    except ReadOnlyStorageError:  # a database it cannot write: browse it; a submission answers 409
        app.state.storage = Storage(storage_url, read_only=True)
    app.state.base_dir = str(Path(base_dir or Path.cwd()).resolve())
    app.state.policy = policy or ServicePolicy()
    app.add_middleware(Guard, policy=app.state.policy)
    app.add_exception_handler(StorageError, _expected_error)
    app.add_exception_handler(DeltaspaceError, _expected_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.include_router(api.router)
    app.include_router(pages.router)
    return app


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or a DeltaspaceError saying which option is wrong."""
    if not 1 <= port <= 65535:
        raise DeltaspaceError(f"--port {port}: not a TCP port; give a number from 1 to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise DeltaspaceError(
            f"--host {shorten(host)!r}: cannot resolve it ({getattr(exc, 'strerror', exc)}); give an "
            "address of this machine (127.0.0.1, ::1, 0.0.0.0 for every interface) or a name it resolves"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DeltaspaceError(
                f"--port {port}: already in use on {shorten(host)}; stop what listens there or choose another port"
            ) from None
        raise DeltaspaceError(
            f"--host {shorten(host)!r} --port {port}: cannot listen there ({exc.strerror})"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(storage_url: str, sock: socket.socket, policy: ServicePolicy) -> None:
    """Run the service with uvicorn on ``sock`` (`listening_socket`: a bad host or port fails
    there as one line, before anything starts)."""
    import uvicorn

    with sock:
        app = create_app(storage_url, policy=policy)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"deltaspace: serving on http://{shown}:{port} (Ctrl-C to stop)", file=sys.stderr)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info")).run(sockets=[sock])
