"""examples/django_project with the inbox app: migrate, store through runserver, work, stats."""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import subprocess
import sys
import time

from ..contract import envelope, signed_headers  # noqa: TID252
from .test_example import PROJECT, _env, _free_port, _post

INBOX_PATH = "/webhooks/boltcall-inbox/"


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_example_stores_then_its_worker_runs_the_handlers(tmp_path: pathlib.Path) -> None:
    """migrate; a signed delivery gets 200 (then duplicate); the worker command processes it."""
    env = {**_env(), "BOLTCALL_DEMO_DB": str(tmp_path / "db.sqlite3")}
    migrated = _manage(env, "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "runserver exited"
            assert time.monotonic() < deadline, "runserver did not start"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        body = envelope("new_lead")
        stored = _post(port, INBOX_PATH, body, signed_headers(body))
        assert stored == (200, {"received": True, "duplicate": False})
        again = _post(port, INBOX_PATH, body, signed_headers(body))
        assert again == (200, {"received": True, "duplicate": True})
        forged = _post(port, INBOX_PATH, body, signed_headers(body, "whsec_forger"))
        assert forged[0] == 401
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    stats = json.loads(_manage(env, "boltcall_inbox", "stats", "--json").stdout)
    assert stats == {"pending": 1, "processing": 0, "done": 0, "dead": 0}
    worked = _manage(env, "boltcall_inbox", "work", "--once")  # router: BOLTCALL_ROUTER
    assert (worked.returncode, worked.stdout.strip()) == (0, "processed 1"), worked.stderr
    stats = json.loads(_manage(env, "boltcall_inbox", "stats", "--json").stdout)
    assert stats == {"pending": 0, "processing": 0, "done": 1, "dead": 0}


def test_the_example_admin_needs_a_login(tmp_path: pathlib.Path) -> None:
    """The deliveries' admin page exists and sends an anonymous visitor to the login."""
    env = {**_env(), "BOLTCALL_DEMO_DB": str(tmp_path / "db.sqlite3")}
    path = "/admin/boltcall_webhooks/delivery/"
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        f"response = Client().get({path!r}, HTTP_HOST='127.0.0.1')\n"
        "print(response.status_code, response['Location'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        env={**env, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["302", f"/admin/login/?next={path}"]
