"""Smoke test of examples/flask_app.py through Flask's test client.

The same app runs under gunicorn in tests/servers/test_gunicorn_flask.py.
"""

from __future__ import annotations

import importlib.util
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


def test_example_echoes_a_verified_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the secret in the environment, a signed delivery is handled and echoed."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    client = _load().app.test_client()
    for event_type in ["new_lead", "call_completed", "missed_call"]:
        body = envelope(event_type)
        response = client.post("/webhooks/boltcall", data=body, headers=signed_headers(body))
        assert response.status_code == 200
        assert response.get_json() == {"received": event_type, "id": f"{event_type}_1"}


def test_example_refuses_forgeries_and_missing_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forged delivery is 401; with no secret configured, 500."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    client = _load().app.test_client()
    body = envelope("new_lead")
    forged = client.post("/webhooks/boltcall", data=body, headers=signed_headers(body, "nope"))
    assert forged.status_code == 401
    monkeypatch.delenv(SECRET_ENV_VAR)
    assert (
        client.post("/webhooks/boltcall", data=body, headers=signed_headers(body)).status_code
        == 500
    )
