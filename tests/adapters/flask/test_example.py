"""Smoke test of examples/flask_app.py through Flask's test client.

The same app runs under gunicorn in tests/servers/test_gunicorn_flask.py.
"""

from __future__ import annotations

import importlib.util
import logging
import pathlib
from types import ModuleType

import pytest

from boltcall_webhooks import SECRET_ENV_VAR

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "flask_app.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_app_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_router_runs_its_handlers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The ready view at /webhooks/boltcall runs the router's handlers: 200 {"received": true}."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    example = _load()
    client = example.app.test_client()
    with caplog.at_level(logging.INFO, logger=example.logger.name):
        for event_type in ["new_lead", "call_completed", "missed_call"]:
            body = envelope(event_type, {"id": f"{event_type}_1", "duration_seconds": 61})
            response = client.post("/webhooks/boltcall", data=body, headers=signed_headers(body))
            assert response.status_code == 200
            assert response.get_json() == {"received": True}
    assert [r.getMessage() for r in caplog.records] == [
        "New lead new_lead_1 from None",
        "Call call_completed_1 lasted 61 s",
    ]  # missed_call has no handler in the example: nothing runs, still a 200


def test_example_decorated_view_echoes_a_verified_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second way, the decorated view, builds its own answer."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    client = _load().app.test_client()
    for event_type in ["new_lead", "call_completed", "missed_call"]:
        body = envelope(event_type)
        response = client.post(
            "/webhooks/boltcall-decorator", data=body, headers=signed_headers(body)
        )
        assert response.status_code == 200
        assert response.get_json() == {"received": event_type, "id": f"{event_type}_1"}


def test_example_refuses_forgeries_and_missing_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On both routes, a forged delivery is 401; with no secret configured, 500."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    client = _load().app.test_client()
    body = envelope("new_lead")
    for path in ["/webhooks/boltcall", "/webhooks/boltcall-decorator"]:
        forged = client.post(path, data=body, headers=signed_headers(body, "nope"))
        assert forged.status_code == 401
    monkeypatch.delenv(SECRET_ENV_VAR)
    for path in ["/webhooks/boltcall", "/webhooks/boltcall-decorator"]:
        assert client.post(path, data=body, headers=signed_headers(body)).status_code == 500
