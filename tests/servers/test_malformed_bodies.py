"""Malformed chunked bodies under real servers: a 400 (or a closed connection), never a 500.

Three framings that no correct client sends, each sent over a raw socket with
a signature that is genuine for the body inside them:

* a chunk-size line that is not hexadecimal (``zz``);
* a chunk whose data is not followed by CRLF;
* a chunk extension holding a control character.

gunicorn raises its own parse errors (``InvalidChunkSize``,
``ChunkMissingTerminator``, ``InvalidChunkExtension``, not ``OSError``) from
the input stream while the adapter reads the body; the adapter answers
``400 {"error": "Invalid body"}`` and logs one line, with no traceback.
uvicorn's parsers refuse these framings themselves, before the body reaches
the app (400 ``Invalid HTTP request received.``). Either way the handler never
runs, and the server log holds no traceback and no ERROR line.

One exception, pinned so that a change shows: h11 accepts any chunk extension
(its grammar is ``;.*``) and drops it, and ASGI never shows extensions to the
app. The app then receives the intact body: genuinely signed, it is handled as
an ordinary delivery; with a wrong signature it is refused with 401.

After each malformed request a genuine delivery still reaches the handler (the
log shows it ran), which proves that the log check can see a handler run at all.
"""

from __future__ import annotations

import http.client
import json
import pathlib
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest

pytest.importorskip("httpx")

from boltcall_webhooks import SECRET_ENV_VAR, SIGNATURE_HEADER, sign

from . import body_apps, deliveries

pytestmark = pytest.mark.servers

HERE = pathlib.Path(__file__).resolve().parent
SERVER_ENV = {SECRET_ENV_VAR: deliveries.SECRET}
REFUSAL_LOG = "Webhook request refused: UnreadableBodyError: The server could not read"
INVALID_BODY = {"error": "Invalid body"}


def _bad_size_line(body: bytes) -> bytes:
    return b"zz\r\n" + body + b"\r\n0\r\n\r\n"


def _missing_terminator(body: bytes) -> bytes:
    return b"%x\r\n" % len(body) + body + b"XX0\r\n\r\n"


def _control_char_in_extension(body: bytes) -> bytes:
    return b"%x;ext=\x01\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "bad-size-line": _bad_size_line,
    "chunk-without-crlf": _missing_terminator,
    "control-char-in-extension": _control_char_in_extension,
}


class Answer(NamedTuple):
    """What the client got: a status and body, or ``None`` for a connection closed unanswered."""

    status: int
    body: bytes
    content_type: str


class Server(NamedTuple):
    """A running server: its base URL, its log file and (uvicorn) its HTTP parser."""

    base: str
    log: pathlib.Path
    parser: str = ""


def send_malformed(
    url: str, framing: Callable[[bytes], bytes], secret: str = deliveries.SECRET
) -> Answer | None:
    """POST a signed envelope in a malformed chunked framing; return the first answer."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port is not None
    body = deliveries.envelope("new_lead", "lead_malformed")
    head = (
        f"POST {parts.path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{parts.port}\r\n"
        "Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n"
        f"{SIGNATURE_HEADER}: {sign(body, secret)}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + framing(body))
        response = http.client.HTTPResponse(sock, method="POST")
        try:
            response.begin()
            content = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None  # closed without an answer
        except TimeoutError:  # pragma: no cover - a failure, reported as such
            pytest.fail("the server neither answered nor closed the connection within 10 s")
        return Answer(response.status, content, response.getheader("Content-Type", ""))


def log_lines(log: pathlib.Path, start: int) -> list[str]:
    """The lines written to the server log from byte ``start`` on."""
    return log.read_bytes()[start:].decode("utf-8", "replace").splitlines()


def json_of(answer: Answer | None) -> object:
    """The answer's JSON body, or ``None`` (no answer, or not JSON)."""
    if answer is None or not answer.content_type.startswith("application/json"):
        return None
    return json.loads(answer.body)


def check_quiet_refusal(
    server: Server,
    url: str,
    kind: str,
    expected: Callable[[Answer | None], bool],
    *,
    handler_runs: int = 0,
) -> None:
    """Send one malformed body; check the answer, then the log, then a genuine delivery.

    ``handler_runs`` is how often the malformed request itself may reach the
    handler: 0, except where a server accepts the framing (see the module docstring).
    """
    start = server.log.stat().st_size
    answer = send_malformed(url, MALFORMED[kind])
    assert answer is None or answer.status != 500, answer
    assert expected(answer), answer
    # A genuine delivery afterwards: the server is healthy and the handler's mark shows.
    deliveries.genuine(url)
    lines: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = log_lines(server.log, start)
        if sum(body_apps.HANDLER_MARK in line for line in lines) > handler_runs:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # anything the server logs after answering (gthread drains the socket)
    lines = log_lines(server.log, start)
    text = "\n".join(lines)
    runs = [line for line in lines if body_apps.HANDLER_MARK in line]
    assert len(runs) == handler_runs + 1, f"handler runs: {runs}\n{text}"
    assert "Traceback" not in text, text
    assert "ERROR" not in text, text
    refusals = [line for line in lines if REFUSAL_LOG in line]
    if json_of(answer) == INVALID_BODY:
        assert len(refusals) == 1, text  # one line per refusal, at INFO
        assert refusals[0].startswith("INFO boltcall_webhooks: "), text
    else:
        assert refusals == [], text


def is_invalid_body(answer: Answer | None) -> bool:
    """The adapter's answer: 400 ``{"error": "Invalid body"}`` (or no answer at all)."""
    if answer is None:
        return True
    return (
        answer.status == 400
        and answer.content_type.startswith("application/json")
        and json.loads(answer.body) == INVALID_BODY
    )


def is_refused_by_uvicorn(answer: Answer | None) -> bool:
    """uvicorn's own refusal of a bad framing: a plain 400, or the connection closed."""
    if answer is None:
        return True
    return answer.status == 400 and answer.body == b"Invalid HTTP request received."


def is_handled(answer: Answer | None) -> bool:
    """An ordinary delivery: 200 and the handler's echo of the event."""
    echo = {"received": "new_lead", "id": "lead_malformed"}
    return answer is not None and answer.status == 200 and json_of(answer) == echo


# --------------------------------------------------------------------------- gunicorn

GUNICORN_WORKERS = {"sync": (), "gthread": ("--threads", "4")}


def _gunicorn(
    factory: str, worker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    from .gunicorn_util import run_gunicorn

    log = tmp_path_factory.mktemp("gunicorn") / f"{factory}-{worker}.log"
    with run_gunicorn(
        f"body_apps:{factory}()",
        env=SERVER_ENV,
        cwd=HERE,
        args=GUNICORN_WORKERS[worker],
        log_path=log,
    ) as base:
        yield Server(base, log)


@pytest.fixture(scope="module", params=list(GUNICORN_WORKERS))
def flask_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The Flask app under gunicorn, with a sync worker and with threads."""
    pytest.importorskip("flask")
    pytest.importorskip("gunicorn")
    yield from _gunicorn("flask_app", request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=list(GUNICORN_WORKERS))
def django_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The Django app under gunicorn, with a sync worker and with threads."""
    pytest.importorskip("django")
    pytest.importorskip("gunicorn")
    yield from _gunicorn("django_app", request.param, tmp_path_factory)


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_flask_decorator_refuses_a_malformed_chunked_body(flask_server: Server, kind: str) -> None:
    """``@verify_webhook``: 400 ``Invalid body``, one log line, no traceback, no handler call."""
    url = flask_server.base + body_apps.FLASK_PATH
    check_quiet_refusal(flask_server, url, kind, is_invalid_body)


@pytest.mark.parametrize("entry", list(body_apps.DJANGO_PATHS))
@pytest.mark.parametrize("kind", list(MALFORMED))
def test_django_entry_points_refuse_a_malformed_chunked_body(
    django_server: Server, kind: str, entry: str
) -> None:
    """View, middleware and decorators: 400 ``Invalid body``, quietly, no handler call."""
    url = django_server.base + body_apps.DJANGO_PATHS[entry]
    check_quiet_refusal(django_server, url, kind, is_invalid_body)


# --------------------------------------------------------------------------- uvicorn

UVICORN_PARSERS = ("h11", "httptools")
# h11 accepts any chunk extension and drops it (module docstring): the app sees an intact body.
H11_ACCEPTS = {("h11", "control-char-in-extension")}


def _uvicorn(
    factory: str, parser: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    from .uvicorn_util import run_uvicorn

    if parser == "httptools":
        pytest.importorskip("httptools")
    log = tmp_path_factory.mktemp("uvicorn") / f"{factory}-{parser}.log"
    with run_uvicorn(
        f"body_apps:{factory}",
        env=SERVER_ENV,
        cwd=HERE,
        args=["--factory", "--http", parser],
        log_path=log,
    ) as base:
        yield Server(base, log, parser)


@pytest.fixture(scope="module", params=UVICORN_PARSERS)
def starlette_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The Starlette app (middleware) under uvicorn, with each HTTP parser."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    yield from _uvicorn("starlette_app", request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=UVICORN_PARSERS)
def fastapi_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The FastAPI app (dependency) under uvicorn, with each HTTP parser."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    yield from _uvicorn("fastapi_app", request.param, tmp_path_factory)


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_starlette_middleware_never_sees_a_malformed_chunked_body(
    starlette_server: Server, kind: str
) -> None:
    """uvicorn refuses the framing (400 or close); nothing reaches the app, nothing is logged."""
    check_asgi(starlette_server, kind, {"error": "Invalid signature"})


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_fastapi_dependency_never_sees_a_malformed_chunked_body(
    fastapi_server: Server, kind: str
) -> None:
    """uvicorn refuses the framing (400 or close); nothing reaches the app, nothing is logged."""
    check_asgi(fastapi_server, kind, {"detail": "Invalid signature"})


def check_asgi(server: Server, kind: str, forged_answer: dict[str, str]) -> None:
    """uvicorn refuses the framing; where h11 accepts it, the adapter verifies the body."""
    url = server.base + body_apps.STARLETTE_PATH
    if (server.parser, kind) not in H11_ACCEPTS:
        check_quiet_refusal(server, url, kind, is_refused_by_uvicorn)
        return
    check_quiet_refusal(server, url, kind, is_handled, handler_runs=1)
    start = server.log.stat().st_size
    forged = send_malformed(url, MALFORMED[kind], secret="whsec_attacker")
    assert forged is not None
    assert (forged.status, json_of(forged)) == (401, forged_answer)
    time.sleep(0.2)
    assert body_apps.HANDLER_MARK not in "\n".join(log_lines(server.log, start))
