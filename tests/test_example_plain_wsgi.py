"""Smoke test of examples/plain_wsgi.py (standard library only): in-process and as a server."""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from boltcall_webhooks import SECRET_ENV_VAR, SIGNATURE_HEADER, Verifier, sign

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "plain_wsgi.py"
SECRET = "whsec_plain_wsgi_example_123"
BODY = b'{"event":"missed_call","timestamp":"2025-03-20T09:17:22Z","data":{"id":"call_9"}}'


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plain_wsgi_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _call(
    app: Any, body: bytes, *, method: str = "POST", length: str | None = None, **headers: str
) -> tuple[str, Any, dict[str, str]]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/webhooks/boltcall",
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "wsgi.input": io.BytesIO(body),
        **headers,
    }
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    chunks: Iterable[bytes] = app(environ, start_response)
    return seen["status"], json.loads(b"".join(chunks)), seen["headers"]


@pytest.fixture
def app() -> Any:
    return _load().make_app(Verifier(SECRET, max_body_size=1000))


def test_genuine_event_is_handled(app: Any) -> None:
    """A signed body reaches handle_event and is echoed."""
    status, payload, _ = _call(app, BODY, HTTP_X_BOLTCALL_SIGNATURE=sign(BODY, SECRET))
    assert status == "200 OK"
    assert payload == {"received": "missed_call", "id": "call_9"}


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "Missing signature"),
        ({"HTTP_X_BOLTCALL_SIGNATURE": sign(BODY, "whsec_other")}, "Invalid signature"),
        ({"HTTP_X_BOLTCALL_SIGNATURE": "zz"}, "Invalid signature"),
    ],
)
def test_forged_or_unsigned_is_401(app: Any, headers: dict[str, str], error: str) -> None:
    """Missing, wrong or malformed signatures are 401."""
    status, payload, _ = _call(app, BODY, **headers)
    assert status.startswith("401")
    assert payload == {"error": error}


def test_other_statuses(app: Any) -> None:
    """413 announced too large, 411 no length, 400 bad length or body, 405 wrong method."""
    signature = sign(BODY, SECRET)
    assert _call(app, BODY, length="5000")[0].startswith("413")
    assert _call(app, BODY, length="")[0].startswith("411")
    assert _call(app, BODY, length="-1")[0].startswith("400")
    assert _call(app, BODY, length="\u00b2")[0].startswith("400")
    assert _call(app, b"[]", HTTP_X_BOLTCALL_SIGNATURE=sign(b"[]", SECRET))[0].startswith("400")
    status, _, headers = _call(app, b"", method="GET", HTTP_X_BOLTCALL_SIGNATURE=signature)
    assert status.startswith("405")
    assert headers["Allow"] == "POST"


def test_example_serves_on_localhost() -> None:
    """``python examples/plain_wsgi.py --port 0`` serves on 127.0.0.1 and verifies deliveries."""
    env = {**os.environ, SECRET_ENV_VAR: SECRET, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        connection.request(
            "POST", "/webhooks/boltcall", BODY, {SIGNATURE_HEADER: sign(BODY, SECRET)}
        )
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"received": "missed_call", "id": "call_9"}
        connection.request("POST", "/webhooks/boltcall", BODY, {SIGNATURE_HEADER: "0" * 64})
        assert connection.getresponse().status == 401
        connection.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_example_without_secret_exits_2() -> None:
    """With no secret configured the example refuses to start (exit 2), it never accepts all."""
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV_VAR}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--port", "0"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"BOLTCALL_WEBHOOK_SECRET" in result.stderr
