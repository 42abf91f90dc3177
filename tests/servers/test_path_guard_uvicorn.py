"""Spellings of a guarded path through real uvicorn, sent with raw sockets.

The 0.1.0 bypass: ``POST /webhooks/boltcall%0A`` with a forged signature got a
200 from the endpoint behind :class:`~boltcall_webhooks.starlette.BoltcallWebhookMiddleware`
(uvicorn decodes ``%0A`` into ``scope["path"]``; Starlette's ``$`` matches
before a final newline). Here a plain Starlette app and a FastAPI app, each
with the middleware, run under uvicorn with both HTTP parsers (h11 and
httptools), with and without ``--root-path``. Requests go over raw sockets so
that no client normalises the target. Each endpoint appends to a record file,
which must stay empty of forged requests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import pathlib
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
# httptools is not skipped: the servers session installs it, and both parsers must be tested.

from adapters.path_spellings import REGRESSIONS, spellings
from hypothesis import HealthCheck, given, settings

from boltcall_webhooks import SECRET_ENV_VAR, SIGNATURE_HEADER, sign

from . import asgi_deliveries
from .deliveries import SECRET, envelope
from .uvicorn_util import run_uvicorn

pytestmark = pytest.mark.servers

PATH = "/webhooks/boltcall"
FORGED = envelope("new_lead", "lead_FORGED")

APPS_MODULE = '''
"""Starlette and FastAPI apps behind the middleware; endpoints record every call."""
import os

from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

PATH = "/webhooks/boltcall"


def _record(request):
    with open(os.environ["PATH_GUARD_RECORD"], "a", encoding="utf-8") as record:
        record.write(repr(request.scope["path"]) + "\\n")


async def endpoint(request):
    _record(request)
    return JSONResponse({"reached": True})


def _starlette(guarded):
    middleware = [Middleware(BoltcallWebhookMiddleware, paths=[PATH])] if guarded else []
    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])], middleware=middleware)


starlette_app = _starlette(True)
starlette_unguarded = _starlette(False)

fastapi_app = FastAPI()
fastapi_app.add_middleware(BoltcallWebhookMiddleware, paths=[PATH])


@fastapi_app.post(PATH)
async def fastapi_endpoint(request: Request):
    _record(request)
    return {"reached": True}
'''


@dataclass
class Server:
    """A running uvicorn: where it listens, its record file and its log."""

    host: str
    port: int
    record: pathlib.Path
    log: pathlib.Path

    def recorded(self) -> list[str]:
        """The paths the endpoints were called with, so far."""
        return self.record.read_text("utf-8").splitlines()


@contextlib.contextmanager
def _serve(
    factory: pytest.TempPathFactory, app: str, http: str, root_path: str
) -> Iterator[Server]:
    workdir = factory.mktemp("pathguard")
    (workdir / "pathguard_apps.py").write_text(APPS_MODULE, "utf-8")
    record = workdir / "record.txt"
    record.write_text("", "utf-8")
    log = workdir / "uvicorn.log"
    args = ["--http", http, *(["--root-path", root_path] if root_path else [])]
    env = {SECRET_ENV_VAR: SECRET, "PATH_GUARD_RECORD": str(record)}
    with run_uvicorn(
        f"pathguard_apps:{app}", env=env, cwd=workdir, args=args, log_path=log, max_requests=2000
    ) as url:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        assert parts.port is not None
        yield Server(parts.hostname, parts.port, record, log)


CONFIGS = [
    (app, http, root)
    for app in ("starlette_app", "fastapi_app")
    for http in ("h11", "httptools")
    for root in ("", "/r")
]


@pytest.fixture(scope="module", params=CONFIGS, ids=["-".join(c).rstrip("-") for c in CONFIGS])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One app under uvicorn with one HTTP parser, with or without a root path."""
    app, http, root_path = request.param
    with _serve(tmp_path_factory, app, http, root_path) as running:
        yield running


def send_raw(
    server: Server, target: str, body: bytes = FORGED, signature: str = "0" * 64
) -> tuple[int, bytes]:
    """POST ``body`` to ``target`` exactly as written on the request line; (status, body)."""
    head = (
        f"POST {target} HTTP/1.1\r\n"
        f"Host: {server.host}:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"{SIGNATURE_HEADER}: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head.encode("ascii") + body)
        response = http.client.HTTPResponse(sock)  # parses chunked answers too
        response.begin()
        return response.status, response.read()


def _assert_refused(server: Server, target: str) -> int:
    before = server.recorded()
    status, payload = send_raw(server, target)
    assert server.recorded() == before, f"forged POST {target!r} reached the endpoint ({status})"
    assert not 200 <= status < 300, (target, status, payload)
    assert b"reached" not in payload
    return status


def test_the_reported_request_is_refused(server: Server) -> None:
    """POST /webhooks/boltcall%0A with a forged signature: 400 Invalid path, endpoint not run."""
    status, payload = send_raw(server, PATH + "%0A")
    assert (status, json.loads(payload)) == (400, {"error": "Invalid path"})
    assert server.recorded() == []


@pytest.mark.parametrize("template", REGRESSIONS)
def test_regression_spellings_never_reach_the_endpoint(server: Server, template: str) -> None:
    """The hand-picked spellings (%0A, %0D%0A, %00, trailing slash, ;x, //...)."""
    _assert_refused(server, template.format(path=PATH))


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=spellings(PATH))
def test_drawn_spellings_never_reach_the_endpoint(server: Server, target: str) -> None:
    """A reproducible sample of the property test's spellings (the fixture is per module)."""
    _assert_refused(server, target)


def test_a_genuine_delivery_still_reaches_the_endpoint(server: Server) -> None:
    """Positive control: the exact path with a good signature is handled (and recorded)."""
    body = envelope("new_lead", "lead_genuine")
    before = server.recorded()
    status, payload = send_raw(server, PATH, body, sign(body, SECRET))
    assert (status, json.loads(payload)) == (200, {"reached": True})
    assert len(server.recorded()) == len(before) + 1


def test_the_server_logged_no_error(server: Server) -> None:
    """Nothing in the run made uvicorn or the app log a traceback."""
    assert asgi_deliveries.server_errors(server.log) == []


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_uvicorn_does_route_a_trailing_newline_without_the_middleware(
    tmp_path_factory: pytest.TempPathFactory, http: str
) -> None:
    """Positive control: under uvicorn, the router really sends %0A to the endpoint.

    Without the middleware the forged request is handled (200) with a path ending
    in a newline, which is why the tests above can fail.
    """
    with _serve(tmp_path_factory, "starlette_unguarded", http, "") as server:
        status, payload = send_raw(server, PATH + "%0A")
        assert (status, json.loads(payload)) == (200, {"reached": True})
        assert server.recorded() == [repr(PATH + "\n")]
