"""Smoke test of examples/django_project: ``manage.py check`` and ``manage.py runserver``.

The project runs in child processes (its own settings), bounded in time and
always stopped. gunicorn and uvicorn runs are in tests/servers/.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from boltcall_webhooks import SECRET_ENV_VAR

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252

PROJECT = pathlib.Path(__file__).resolve().parents[3] / "examples" / "django_project"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            SECRET_ENV_VAR: SECRET,
            "DJANGO_SETTINGS_MODULE": "boltcall_demo.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def runserver() -> Iterator[int]:
    """``python manage.py runserver --noreload`` on a free 127.0.0.1 port, for 60 s at most."""
    port = _free_port()
    command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        command, cwd=PROJECT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            _, err = proc.communicate(timeout=10) if proc.poll() is not None else (b"", b"")
            pytest.fail(f"runserver did not start: {err.decode(errors='replace')}")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, object]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_manage_py_check_passes() -> None:
    """The example project passes Django's system checks."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT,
        env=_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("path", ["/webhooks/boltcall/", "/webhooks/boltcall-async-router/"])
def test_runserver_ready_views_run_the_router(runserver: int, path: str) -> None:
    """The ready views (sync and async) answer {"received": true} and refuse a forgery."""
    for event_type in ["new_lead", "call_completed", "lead_updated"]:
        body = envelope(event_type)
        assert _post(runserver, path, body, signed_headers(body)) == (200, {"received": True})
    body = envelope("new_lead")
    status, error = _post(runserver, path, body, signed_headers(body, "whsec_forger"))
    assert (status, error) == (401, {"error": "Invalid signature"})


@pytest.mark.parametrize(
    ("path", "via"),
    [
        ("/webhooks/boltcall-view/", "view"),
        ("/webhooks/boltcall-mw/", "middleware"),
        ("/webhooks/boltcall-async/", "async"),
    ],
)
def test_runserver_handles_genuine_and_refuses_forged(runserver: int, path: str, via: str) -> None:
    """Under manage.py runserver each entry point echoes a genuine event and refuses a forgery."""
    body = envelope("new_lead")
    status, echoed = _post(runserver, path, body, signed_headers(body))
    assert status == 200
    assert echoed == {"received": "new_lead", "id": "new_lead_1", "via": via}
    status, error = _post(runserver, path, body, signed_headers(body, "whsec_forger"))
    assert (status, error) == (401, {"error": "Invalid signature"})
