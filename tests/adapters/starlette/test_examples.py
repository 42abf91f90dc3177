"""Smoke tests of examples/starlette_app.py and examples/fastapi_app.py."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")

from boltcall_webhooks import SECRET_ENV_VAR

from ..contract import OTHER_SECRET, SECRET, envelope, signed_headers  # noqa: TID252
from ._apps import ClientHarness

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"
PATH = "/webhooks/boltcall"


def load(name: str) -> ModuleType:
    """Import an example from its file, as ``python examples/<name>.py`` would."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["starlette_app", "fastapi_app"])
def example(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each example's client, with the secret in the environment as in a deployment."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    return ClientHarness(load(request.param).app, []).client


def test_example_accepts_a_genuine_event(example: Any) -> None:
    """A signed delivery reaches the example's handler, which echoes the event."""
    body = envelope("call_completed", {"id": "c_42", "duration_seconds": 61})
    reply = example.post(PATH, content=body, headers=signed_headers(body))
    assert reply.status_code == 200
    assert reply.json()["received"] == "call_completed"
    assert reply.json()["id"] == "c_42"


@pytest.mark.parametrize("event_type", ["new_lead", "missed_call", "lead_updated"])
def test_example_handles_every_branch(example: Any, event_type: str) -> None:
    """Known and unknown event types all get a 200 from the example."""
    body = envelope(event_type)
    reply = example.post(PATH, content=body, headers=signed_headers(body))
    assert reply.json()["received"] == event_type


def test_example_refuses_a_forged_event(example: Any) -> None:
    """A delivery signed with another secret gets 401."""
    body = envelope("new_lead")
    reply = example.post(PATH, content=body, headers=signed_headers(body, OTHER_SECRET))
    assert reply.status_code == 401


def test_example_without_secret_is_500(example: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no secret configured the example answers 500, never accepting."""
    monkeypatch.delenv(SECRET_ENV_VAR)
    body = envelope("new_lead")
    assert example.post(PATH, content=body, headers=signed_headers(body)).status_code == 500


@pytest.mark.parametrize("name", ["starlette_app", "fastapi_app"])
def test_example_imports_as_a_script(name: str) -> None:
    """``python examples/<name>.py`` finds its imports (only the package, no test helpers)."""
    code = f"import runpy; runpy.run_path({str(EXAMPLES / f'{name}.py')!r}); print('ok')"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=EXAMPLES,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
