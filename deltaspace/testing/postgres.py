"""A throwaway PostgreSQL server for tests and benchmarks, started from the local binaries.

Use as a pytest plugin (``pytest_plugins = ["deltaspace.testing.postgres"]``) for the
session-scoped ``postgres_url`` fixture and ``storage_url`` (a fresh database per test,
parametrised over SQLite and PostgreSQL), or call :func:`start_postgres` directly. Without
PostgreSQL binaries the fixture skips, except under CI (``CI`` set), where it fails: a CI run
must not silently drop the PostgreSQL half of the storage contract tests.

PostgreSQL refuses to run as root; as root the cluster belongs to the ``postgres`` system user
(created by the Debian package) and every server command runs through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

DATABASE = "deltaspace_test"
SERVER_USER = "postgres"
_INITDB_FLAGS = ("--auth=trust", "--no-locale", "--encoding=UTF8", "--no-sync")
# Test servers trade durability for speed.
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries (or no user to run them as) on this machine."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl, else the PATH."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bindir: _version_key(bindir.parent.name),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "pg_ctl").exists():
            return bindir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH; "
        "install them (Debian: apt-get install postgresql) to run the PostgreSQL storage tests"
    )


def start_postgres(tmpdir: str | os.PathLike[str]) -> tuple[str, Callable[[], None]]:
    """Start a fresh server with a database ``deltaspace_test``; returns (url, stop).

    The cluster lives under ``tmpdir``; as root, when the ``postgres`` user cannot reach
    ``tmpdir`` (pytest's temporary folders are private to root), it lives in a new folder under
    the system temp dir instead, removed by ``stop``. ``stop`` is idempotent.
    """
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    root = Path(tmpdir) / f"postgres-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    if as_root:
        root = _hand_to_server_user(root)
    data, log = root / "data", root / "server.log"
    _run(as_root, bindir / "initdb", "-D", data, "-U", SERVER_USER, *_INITDB_FLAGS)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("".join(f"{key} = {value}\n" for key, value in _SETTINGS.items()))
        conf.write(f"unix_socket_directories = '{root}'\n")

    def pg_ctl(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        return _run(as_root, bindir / "pg_ctl", "-D", data, *args, check=False)

    port = 0
    for _attempt in range(3):  # the free port may be taken before the server binds it
        port = _free_port()
        started = pg_ctl("-l", log, "-w", "-t", "60", "-o", f"-p {port}", "start")
        if started.returncode == 0:
            break
    else:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}")

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            pg_ctl("-m", "immediate", "-w", "stop")
            shutil.rmtree(root, ignore_errors=True)

    base = f"postgresql://{SERVER_USER}@127.0.0.1:{port}"
    try:
        create_database(f"{base}/postgres", DATABASE)
    except BaseException:
        stop()
        raise
    return f"{base}/{DATABASE}", stop


def create_database(server_url: str, name: str | None = None) -> str:
    """Create database ``name`` (a fresh unique name by default) on the server; returns its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    url = make_url(server_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database or "postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of database ``deltaspace_test`` on a server that lives for the test session."""
    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as err:
        skip_or_fail(str(err))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database per test: once a SQLite file, once a new database on the session's
    PostgreSQL server (the server starts only when a PostgreSQL case runs)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deltaspace.db'}"
    return create_database(request.getfixturevalue("postgres_url"))


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test, or fail it when ``CI`` is set (to anything but 0 or false)."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"CI is set, so PostgreSQL tests must run: {reason}")
    pytest.skip(reason)


def _hand_to_server_user(root: Path) -> Path:
    """Give ``root`` to the postgres user, or a fresh temp folder if that user cannot reach it."""
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError as err:
        raise PostgresUnavailable(
            f"running as root, and there is no {SERVER_USER!r} user to run the PostgreSQL server as"
        ) from err
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root, and runuser (util-linux) is missing")
    os.chown(root, user.pw_uid, user.pw_gid)
    if _run(True, "test", "-w", root, "-a", "-x", root, check=False).returncode != 0:
        shutil.rmtree(root)
        root = Path(tempfile.mkdtemp(prefix="deltaspace-pg-"))
        os.chown(root, user.pw_uid, user.pw_gid)
    return root


def _run(
    as_root: bool, *argv: str | os.PathLike[str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [os.fspath(a) for a in argv]
    if as_root:
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())
