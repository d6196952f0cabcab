"""``deltaspace serve`` against a hostile client, over real HTTP: the CLI starts the service in a
subprocess on 127.0.0.1, and a table of abuse cases (foreign Host headers, cross-origin writes,
oversized and chunked bodies, YAML bombs, paths outside the data roots, budgets over the
operator's limits, echoes of huge values) must each get its refusal. Bad ``--port`` and
``--host`` values are one line on stderr and exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dashboard_support import fill_study, free_port

from deltaspace.storage import Storage

TOKEN = "s3cret-token-for-tests"
PASSWD = Path("/etc/passwd")
PASSWD_LINES = [line for line in PASSWD.read_text().splitlines() if len(line) > 8] if PASSWD.is_file() else []


@dataclass(frozen=True)
class Service:
    """A running ``deltaspace serve``: its client, port, data root and working directory."""

    client: httpx.Client
    port: int
    root: Path
    cwd: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def study(name: str = "ok", **fields: Any) -> str:
    """A valid study's YAML with ``fields`` set (``max_steps``, ``n_trials`` and ``timeout`` go
    under budget; None removes one)."""
    budget: dict[str, Any] = {"max_steps": 10, "n_trials": 2}
    budget.update({k: fields.pop(k) for k in ("max_steps", "n_trials", "timeout") if k in fields})
    data = {
        "name": name, "model": "minilm", "task": "sst2",
        "budget": {k: v for k, v in budget.items() if v is not None}, "methods": ["lora"], **fields,
    }  # fmt: skip
    return yaml.safe_dump(data, sort_keys=False, width=10**9)


def billion_laughs() -> str:
    """A study whose nine levels of nine aliases (about 700 bytes) expand to 9**9 strings."""
    lines = [
        study("lol").rstrip(),
        'lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for i in range(1, 9):
        lines.append(f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def start_service(
    cwd: Path, args: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "deltaspace.cli", "serve", "--port", str(port), *args]
    env = {**os.environ, "DELTASPACE_API_TOKEN": "", **(env or {})}
    with open(cwd / "serve.log", "wb") as log:  # a file, not a pipe nobody drains
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/studies", timeout=2)
            return process, port
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {(cwd / 'serve.log').read_text()}") from None
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("serve did not answer within 90 s") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service as ``deltaspace serve`` runs it, with one data root (not its working directory),
    an extra allowed host name, and queued studies to try to cancel."""
    cwd = tmp_path_factory.mktemp("serve")
    root = cwd / "root"
    (root / "data").mkdir(parents=True)
    (root / "link-to-etc").symlink_to("/etc")
    (cwd / "outside.yaml").write_text("name: private\nkind: classification\n")
    url = f"sqlite:///{cwd / 'service.db'}"
    storage = Storage(url)
    for name in ("victim", "victim-own"):
        fill_study(storage, name, [], status="queued")
    storage.close()
    args = ["--storage", url, "--data-root", str(root), "--allowed-host", "deltaspace.test"]
    process, port = start_service(cwd, args)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Service(client, port, root, cwd)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service with DELTASPACE_API_TOKEN set and the default data root (its working directory)."""
    cwd = tmp_path_factory.mktemp("serve-token")
    (cwd / "data").mkdir()
    url = f"sqlite:///{cwd / 'service.db'}"
    Storage(url).close()
    process, port = start_service(cwd, ["--storage", url], env={"DELTASPACE_API_TOKEN": TOKEN})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Service(client, port, cwd, cwd)
    finally:
        stop(process)


JSON = {"content-type": "application/json"}
CANCEL = "/api/studies/victim/cancel"
EVIL = "http://evil.example"


@dataclass(frozen=True)
class Abuse:
    """One hostile request and the refusal it must get. ``{port}`` and ``{root}`` in headers and
    study fields are filled in; ``yaml`` is posted as ``{"yaml": ...}`` with a JSON content type."""

    id: str
    method: str
    path: str
    status: int
    fragment: str
    headers: dict[str, str] | None = None
    yaml: str | None = None
    body: Any = None  # bytes, a callable returning an iterator of bytes (chunked), or JSON data


def _chunks(total: int, size: int = 64_000) -> Iterator[bytes]:
    yield b'{"yaml": "'
    for _ in range(total // size):
        yield b"#" * size
    yield b'"}'


# fmt: off
ABUSE = [
    # DNS rebinding: the Host header names somebody else.
    Abuse("host-evil", "GET", "/api/studies", 400, "Host header", {"host": "evil.example"}),
    Abuse("host-evil-port", "GET", "/", 400, "Host header", {"host": "evil.example:{port}"}),
    Abuse("host-suffix", "GET", "/api/studies", 400, "Host header", {"host": "127.0.0.1.evil.example:{port}"}),
    Abuse("host-prefix", "GET", "/docs", 400, "Host header", {"host": "localhost.evil.example"}),
    Abuse("host-other-ip", "GET", "/api/studies/victim", 400, "Host header", {"host": "[::2]:{port}"}),
    Abuse("host-bad-port", "GET", "/api/studies", 400, "Host header", {"host": "localhost:notaport"}),
    Abuse("host-huge", "GET", "/api/studies", 400, "Host header", {"host": "a" * 6000}),
    Abuse("host-on-write", "POST", CANCEL, 400, "Host header", {"host": "evil.example", "origin": EVIL, **JSON}, body=b"{}"),
    # Cross-site request forgery on state-changing endpoints.
    Abuse("csrf-origin", "POST", CANCEL, 403, "cross-origin", {"origin": EVIL}),
    Abuse("csrf-origin-null", "POST", CANCEL, 403, "cross-origin", {"origin": "null"}),
    Abuse("csrf-origin-port", "POST", CANCEL, 403, "cross-origin", {"origin": "http://127.0.0.1:1"}),
    Abuse("csrf-origin-scheme", "POST", CANCEL, 403, "cross-origin", {"origin": "https://127.0.0.1:{port}"}),
    Abuse("csrf-origin-suffix", "POST", CANCEL, 403, "cross-origin", {"origin": "http://127.0.0.1:{port}.evil.example"}),
    Abuse("csrf-origin-beats-json", "POST", CANCEL, 403, "cross-origin", {"origin": EVIL, **JSON}, body=b"{}"),
    Abuse("csrf-no-headers", "POST", CANCEL, 403, "cross-origin"),
    Abuse("csrf-referer", "POST", CANCEL, 403, "cross-origin", {"referer": EVIL + "/attack.html"}),
    Abuse("csrf-form", "POST", CANCEL, 403, "cross-origin", {"content-type": "application/x-www-form-urlencoded"}, body=b"a=1"),
    Abuse("csrf-text-plain", "POST", CANCEL, 403, "cross-origin", {"content-type": "text/plain"}, body=b"{}"),
    Abuse("csrf-multipart", "POST", CANCEL, 403, "cross-origin", {"content-type": "multipart/form-data; boundary=x"}, body=b"--x--"),
    Abuse("csrf-submit", "POST", "/api/studies", 403, "cross-origin", {"origin": EVIL}, yaml=study("csrf")),
    Abuse("csrf-submit-text", "POST", "/api/studies", 403, "cross-origin", {"content-type": "text/plain"}, body=b'{"yaml": "x"}'),
    Abuse("csrf-delete", "DELETE", "/api/studies/victim", 403, "cross-origin", {"origin": EVIL}),
    # Bodies over the limit (1 MB by default): declared, or streamed in chunks.
    Abuse("body-20mb", "POST", "/api/studies", 413, "limit of 1,000,000 bytes", JSON, body=b'{"yaml": "' + b"#" * 20_000_000 + b'"}'),
    Abuse("body-chunked", "POST", "/api/studies", 413, "limit of 1,000,000 bytes", JSON, body=lambda: _chunks(2_000_000)),
    Abuse("body-cancel", "POST", CANCEL, 413, "limit of 1,000,000 bytes", JSON, body=b"{" + b" " * 1_500_000 + b"}"),
    # YAML bombs and malformed YAML, read with the CLI's limits.
    Abuse("yaml-billion-laughs", "POST", "/api/studies", 422, "expands to more than", yaml=billion_laughs()),
    Abuse("yaml-many-aliases", "POST", "/api/studies", 422, "aliases", yaml="a: &a x\nb: [" + ", ".join(["*a"] * 300) + "]\n"),
    Abuse("yaml-duplicate-key", "POST", "/api/studies", 422, "duplicate key", yaml=study("dup") + "name: other\n"),
    Abuse("yaml-deep", "POST", "/api/studies", 422, "nested deeper", yaml=study("deep", description="x") + "search: " + "[" * 500 + "]" * 500 + "\n"),
    # Local paths outside the data roots (never the file's content, never whether it exists).
    Abuse("path-data-etc", "POST", "/api/studies", 422, "data roots", yaml=study("p1", data_dir="/etc")),
    Abuse("path-data-dotdot", "POST", "/api/studies", 422, "data roots", yaml=study("p2", data_dir="../../..")),
    Abuse("path-data-escape", "POST", "/api/studies", 422, "data roots", yaml=study("p3", data_dir="{root}/data/../..")),
    Abuse("path-data-symlink", "POST", "/api/studies", 422, "data roots", yaml=study("p4", data_dir="{root}/link-to-etc")),
    Abuse("path-data-missing", "POST", "/api/studies", 422, "data roots", yaml=study("p5", data_dir="/nonexistent/x", if_data_missing="hub")),
    Abuse("path-task-abs", "POST", "/api/studies", 422, "data roots", yaml=study("p6", task="/etc/passwd")),
    Abuse("path-task-yaml", "POST", "/api/studies", 422, "data roots", yaml=study("p7", task="outside.yaml")),
    Abuse("path-task-dotdot", "POST", "/api/studies", 422, "data roots", yaml=study("p8", task="{root}/../outside.yaml")),
    Abuse("path-model-abs", "POST", "/api/studies", 422, "data roots", yaml=study("p9", model="/etc")),
    Abuse("path-model-dotdot", "POST", "/api/studies", 422, "data roots", yaml=study("p10", model="../../models/bert")),
    Abuse("path-model-home", "POST", "/api/studies", 422, "data roots", yaml=study("p11", model="~/.cache/model")),
    Abuse("path-model-symlink", "POST", "/api/studies", 422, "data roots", yaml=study("p12", model="{root}/link-to-etc/ssl")),
    # Budgets over the operator's limits (--max-trials 1000, --max-steps 100000).
    Abuse("limit-trials", "POST", "/api/studies", 422, "1000000000000 trials is more than the service's limit of 1,000", yaml=study("l1", n_trials=10**12)),
    Abuse("limit-steps", "POST", "/api/studies", 422, "1000000000 steps is more than the service's limit of 100,000", yaml=study("l2", max_steps=10**9)),
    Abuse("limit-seeds", "POST", "/api/studies", 422, "200 trials × 10 seeds", yaml=study("l3", n_trials=200, seeds=list(range(10)))),
    Abuse("limit-no-n-trials", "POST", "/api/studies", 422, "needs n_trials", yaml=study("l4", n_trials=None, timeout=60)),
    Abuse("limit-selection-steps", "POST", "/api/studies", 422, "training.selection_steps", yaml=study("l5", training={"selection_steps": {"low": 1, "high": 10**9}})),
    # Huge values are never echoed whole.
    Abuse("echo-json-input", "POST", "/api/studies", 422, "string_type", JSON, body={"yaml": ["A" * 500_000]}),
    Abuse("echo-arm-name", "POST", "/api/studies", 422, "…", yaml=study("e2", methods={"B" * 200_000: {}})),
    Abuse("echo-url-name", "GET", "/api/studies/" + "C" * 6000, 404, "…"),
]
# fmt: on


def _fill(text: str, service: Service) -> str:
    return text.replace("{port}", str(service.port)).replace("{root}", str(service.root))


def send(service: Service, abuse: Abuse) -> httpx.Response:
    headers = {k: _fill(v, service) for k, v in (abuse.headers or {}).items()}
    request: dict[str, Any] = {"headers": headers}
    if abuse.yaml is not None:
        request["json"] = {"yaml": _fill(abuse.yaml, service)}
    elif callable(abuse.body):
        request["content"] = abuse.body()
    elif isinstance(abuse.body, bytes):
        request["content"] = abuse.body
    elif abuse.body is not None:
        request["json"] = abuse.body
    return service.client.request(abuse.method, abuse.path, **request)


@pytest.mark.parametrize("abuse", ABUSE, ids=[a.id for a in ABUSE])
def test_abuse_is_refused(service: Service, abuse: Abuse) -> None:
    response = send(service, abuse)
    assert response.status_code == abuse.status, response.text[:500]
    assert abuse.fragment in response.text, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert len(response.content) < 5000, f"{len(response.content)} bytes: the request is echoed"
    assert not [line for line in PASSWD_LINES if line in response.text]
    assert service.client.get("/api/studies/victim").json()["status"] == "queued"


def test_billion_laughs_is_refused_quickly_and_the_service_still_answers(service: Service) -> None:
    body = billion_laughs()
    assert 500 <= len(body) <= 900
    start = time.monotonic()
    response = service.client.post("/api/studies", json={"yaml": body}, timeout=30)
    assert time.monotonic() - start < 5
    assert response.status_code == 422 and "submitted study" in response.text
    assert service.client.get("/api/studies", timeout=5).status_code == 200


def test_a_private_file_is_never_read_back(service: Service) -> None:
    """/etc/passwd named as data folder, task file, model or (through a symlink in a root) task:
    refused, and no line of it in any answer."""
    if not PASSWD_LINES:
        pytest.skip("no /etc/passwd here")
    studies = [
        study("r1", data_dir="/etc"),
        study("r2", task="/etc/passwd"),
        study("r3", model="/etc/passwd"),
        study("r4", task=f"{service.root}/link-to-etc/passwd.yaml"),
        study("r5", data_dir="/etc", task="/etc/passwd", model="/etc/passwd"),
    ]
    for text in studies:
        response = service.client.post("/api/studies", json={"yaml": text})
        assert response.status_code == 422
        problems = response.json()["detail"]
        assert {p["path"] for p in problems} <= {"data_dir", "task", "model"} and problems
        assert not [line for line in PASSWD_LINES if line in response.text]


def test_the_own_pages_and_the_data_root_still_work(service: Service) -> None:
    """Same-origin writes (as the launch page and the cancel button send them) pass while the
    same request from another origin is refused; a study inside the data root is queued while one
    naming the folder beside it is not."""
    own, evil = {"origin": service.origin}, {"origin": EVIL}
    inside = study("inside", data_dir=f"{service.root}/data")
    outside = study("outside", data_dir=str(service.cwd))
    assert service.client.post("/api/studies", json={"yaml": outside}, headers=own).status_code == 422
    assert service.client.post("/api/studies", json={"yaml": inside}, headers=evil).status_code == 403
    created = service.client.post("/api/studies", json={"yaml": inside}, headers=own)
    assert created.status_code == 201, created.text
    assert service.client.post("/api/studies/victim-own/cancel", headers=evil).status_code == 403
    cancelled = service.client.post(
        "/api/studies/victim-own/cancel", headers={"referer": service.origin + "/x"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    launch = service.client.get("/launch", headers={"host": "deltaspace.test"})
    assert launch.status_code == 200 and '"content-type": "application/json"' in launch.text
    assert service.client.get("/launch", headers={"host": "other.test"}).status_code == 400


def test_the_token_is_required_when_set(token_service: Service) -> None:
    client = token_service.client
    ok = study("with-token", data_dir="data")
    assert client.get("/api/studies").status_code == 401
    assert client.get("/api/studies", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/studies", headers={"authorization": TOKEN}).status_code == 401
    assert client.post("/api/studies", json={"yaml": ok}).status_code == 401
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/studies", headers=auth).status_code == 200
    created = client.post("/api/studies", json={"yaml": ok}, headers=auth)  # data root: the working directory
    assert created.status_code == 201, created.text
    escaped = client.post("/api/studies", json={"yaml": study("up", data_dir="..")}, headers=auth)
    assert escaped.status_code == 422 and "data roots" in escaped.text
    assert client.post("/api/studies/with-token/cancel", headers=auth).status_code == 200


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from deltaspace.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "70000"], "--port 70000"),
        (["--port", "0"], "1 to 65535"),
        (["--host", "bogus"], "--host 'bogus': cannot resolve"),
        (["--max-body-mb", "0"], "--max-body-mb"),
        (["--data-root", "/nonexistent/deltaspace-root"], "--data-root"),
    ],
)
def test_bad_serve_options_are_one_line(
    args: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run_cli(["serve", "--storage", f"sqlite:///{tmp_path / 'x.db'}", *args], capsys)
    assert code == 2
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _run_cli(
            ["serve", "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(port)], capsys
        )
    assert code == 2 and "already in use" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_binding_the_network_without_a_token_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaspace.dashboards import app

    policies: list[Any] = []

    def serve(storage: str, sock: socket.socket, policy: Any) -> None:
        sock.close()
        policies.append(policy)

    monkeypatch.setattr(app, "serve", serve)
    monkeypatch.delenv("DELTASPACE_API_TOKEN", raising=False)
    common = ["serve", "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(free_port())]
    code, err = _run_cli([*common, "--host", "0.0.0.0"], capsys)
    assert code == 0
    assert "no authentication" in err and "DELTASPACE_API_TOKEN" in err and "--allowed-host" in err
    assert policies[-1].allowed_hosts is None and policies[-1].same_origin and policies[-1].token is None
    monkeypatch.setenv("DELTASPACE_API_TOKEN", TOKEN)
    code, err = _run_cli([*common, "--host", "0.0.0.0", "--allowed-host", "box.lan"], capsys)
    assert code == 0 and "warning" not in err
    assert policies[-1].token == TOKEN and "box.lan" in policies[-1].allowed_hosts
    assert _run_cli(common, capsys)[0] == 0
    assert policies[-1].allowed_hosts == {"127.0.0.1", "localhost", "::1"}
