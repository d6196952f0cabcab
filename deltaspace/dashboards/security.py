"""What ``deltaspace serve`` lets in: the `ServicePolicy` and the ASGI `Guard` that enforces it.

Before a request reaches a route, the guard refuses, in this order:

* a ``Host`` header that names none of the allowed hosts: 400 (DNS rebinding: a page on
  ``evil.example`` whose name later resolves to 127.0.0.1 reaches the service with that name);
* an ``/api`` request without ``Authorization: Bearer TOKEN`` when a token is set: 401;
* a state-changing request (POST, PUT, PATCH, DELETE) from another origin: 403. ``Origin``, else
  ``Referer``, must be the service's own ``scheme://host:port``; with neither, only a JSON body or
  a bearer token passes, which a plain HTML form on another site cannot send without a preflight;
* a body over ``max_body_bytes``: 413, from ``Content-Length`` before any byte is read, or as
  soon as a chunked body passes the limit (at most that many bytes are ever held).

What a submitted study may name (data roots, trial and step limits) is checked by ``submit.py``
with the same policy. Every refusal is ``{"detail": "..."}``; none echoes more than
`shorten` keeps of what the client sent.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MAX_BODY_BYTES = 1_000_000


def shorten(value: object, limit: int = 80) -> str:
    """``value`` as text, cut to ``limit`` characters with '…': user values in error messages."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ServicePolicy:
    """The service's limits. The defaults check body sizes only (tests and embedding the app);
    `serve_policy` builds what ``deltaspace serve`` enforces."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    allowed_hosts: frozenset[str] | None = None  # None: any Host header
    same_origin: bool = False  # refuse cross-origin state-changing requests
    token: str | None = None  # bearer token every /api request must carry
    data_roots: tuple[Path, ...] | None = None  # None: a study may name any local path
    max_trials: int | None = None  # budget.n_trials × seeds
    max_steps: int | None = None  # budget.max_steps (and training.selection_steps)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str, extra: list[str]) -> frozenset[str] | None:
    """The Host names a service bound to ``host`` answers: the loopback names on loopback, the
    bound name otherwise, plus ``extra`` (``--allowed-host``). None (any) for ``'*'`` in
    ``extra``, or for a wildcard bind (0.0.0.0, ::) given no ``extra``."""
    names = {name.strip().lower().rstrip(".") for name in extra}
    if "*" in names or (host in WILDCARD_HOSTS and not names):
        return None
    if is_loopback(host) or host in WILDCARD_HOSTS:
        names |= LOOPBACK_NAMES
    else:
        names.add(host.lower())
    return frozenset(names)


def serve_policy(
    host: str,
    base_dir: Path,
    *,
    allowed_hosts: list[str],
    data_roots: list[Path],
    max_body_mb: float,
    max_trials: int,
    max_steps: int,
    token: str | None,
) -> ServicePolicy:
    """The policy of ``deltaspace serve``: data roots default to ``base_dir``."""
    return ServicePolicy(
        max_body_bytes=int(max_body_mb * 1_000_000),
        allowed_hosts=allowed_hosts_for(host, allowed_hosts),
        same_origin=True,
        token=token or None,
        data_roots=tuple(Path(root).resolve() for root in (data_roots or [base_dir])),
        max_trials=max_trials,
        max_steps=max_steps,
    )


def _host_name(host_header: str) -> str | None:
    """The lowercased name of a ``Host`` header (``[::1]:8050`` -> ``::1``), None if malformed."""
    try:
        parts = urlsplit("//" + host_header)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return None
    return (parts.hostname or "").rstrip(".") or None


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL with the default port filled in; None if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


class _BodyTooLarge(Exception):
    pass


class Guard:
    """Pure ASGI middleware enforcing a `ServicePolicy` (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: ServicePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self.refusal(scope, headers)
        if refusal is None:
            try:
                receive = await self._buffered(receive)
            except _BodyTooLarge:
                refusal = (
                    413,
                    f"request body larger than the service's limit of {self.policy.max_body_bytes:,} "
                    "bytes (serve --max-body-mb)",
                )
        if refusal is not None:
            status, detail = refusal
            extra = {"www-authenticate": "Bearer"} if status == 401 else None
            await JSONResponse({"detail": detail}, status_code=status, headers=extra)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        """(status, detail) for a request refused on its headers alone, else None."""
        policy = self.policy
        host = headers.get("host", "")
        if policy.allowed_hosts is not None and _host_name(host) not in policy.allowed_hosts:
            return 400, (
                f"Host header {shorten(host)!r} is not a name of this service; allowed: "
                f"{', '.join(sorted(policy.allowed_hosts))} (serve --allowed-host)"
            )
        bearer = headers.get("authorization", "")
        if policy.token is not None and scope["path"].startswith("/api"):
            scheme, _, given = bearer.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), policy.token.encode()
            ):
                return (
                    401,
                    "this API needs 'Authorization: Bearer TOKEN' (the service's DELTASPACE_API_TOKEN)",
                )
        if policy.same_origin and scope["method"] in UNSAFE_METHODS:
            problem = self._cross_origin(scope, headers)
            if problem:
                return 403, problem
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return 400, f"Content-Length {shorten(declared)!r} is not a number"
            if int(declared) > policy.max_body_bytes:
                return 413, (
                    f"request body of {int(declared):,} bytes is larger than the service's limit of "
                    f"{policy.max_body_bytes:,} bytes (serve --max-body-mb)"
                )
        return None

    def _cross_origin(self, scope: Scope, headers: Headers) -> str | None:
        """Why a state-changing request is refused as cross-origin, or None."""
        own = _origin(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
        for header in ("origin", "referer"):
            value = headers.get(header)
            if value is not None:
                if own is not None and _origin(value) == own:
                    return None
                return (
                    f"cross-origin request refused: {header.capitalize()} {shorten(value)!r} is not "
                    "this service's own origin"
                )
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/json" or headers.get("authorization", "").lower().startswith("bearer "):
            return None
        return (
            "cross-origin request refused: a state-changing request without Origin or Referer "
            "must send a JSON body (content-type: application/json) or a bearer token"
        )

    async def _buffered(self, receive: Receive) -> Receive:
        """Read the body, at most ``max_body_bytes`` of it, and replay it to the app."""
        limit = self.policy.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                first = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(body)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        return replay
