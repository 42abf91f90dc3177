"""Smoke tests of examples/starlette_app.py and examples/fastapi_app.py."""

from __future__ import annotations

import importlib.util
import logging
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
PATH = "/webhooks/boltcall"  # the ready endpoint, webhook_endpoint(router=router)
# The second way in each example: its own endpoint behind the middleware / the dependency.
OWN_PATH = {
    "starlette_app": "/webhooks/boltcall-middleware",
    "fastapi_app": "/webhooks/boltcall-dependency",
}


def load(name: str) -> ModuleType:
    """Import an example from its file, as ``python examples/<name>.py`` would."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["starlette_app", "fastapi_app"])
def name(request: pytest.FixtureRequest) -> str:
    """The example's module name."""
    return str(request.param)


@pytest.fixture
def module(name: str) -> ModuleType:
    """The example, loaded from its file."""
    return load(name)


@pytest.fixture
def example(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each example's client, with the secret in the environment as in a deployment."""
    monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
    return ClientHarness(module.app, []).client


def test_example_router_runs_its_handlers(
    example: Any, module: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """The ready endpoint runs the example's async handlers: 200 {"received": true}."""
    with caplog.at_level(logging.INFO, logger=module.logger.name):
        for event_type in ["new_lead", "call_completed", "lead_updated"]:
            body = envelope(event_type, {"id": f"{event_type}_9", "duration_seconds": 61})
            reply = example.post(PATH, content=body, headers=signed_headers(body))
            assert (reply.status_code, reply.json()) == (200, {"received": True})
    assert [r.getMessage() for r in caplog.records] == [
        "New lead new_lead_9 from None",
        "Call call_completed_9 lasted 61 s",
    ]  # lead_updated: no handler in the example, still a 200


def test_example_accepts_a_genuine_event(example: Any, name: str) -> None:
    """On the second route, a signed delivery reaches the example's own endpoint (an echo)."""
    body = envelope("call_completed", {"id": "c_42", "duration_seconds": 61})
    reply = example.post(OWN_PATH[name], content=body, headers=signed_headers(body))
    assert reply.status_code == 200
    assert reply.json()["received"] == "call_completed"
    assert reply.json()["id"] == "c_42"


@pytest.mark.parametrize("event_type", ["new_lead", "missed_call", "lead_updated"])
def test_example_handles_every_branch(example: Any, name: str, event_type: str) -> None:
    """Known and unknown event types all get a 200 from the example, on both routes."""
    body = envelope(event_type)
    reply = example.post(OWN_PATH[name], content=body, headers=signed_headers(body))
    assert reply.json()["received"] == event_type
    assert example.post(PATH, content=body, headers=signed_headers(body)).status_code == 200


@pytest.mark.parametrize("route", ["router", "own"])
def test_example_refuses_a_forged_event(example: Any, name: str, route: str) -> None:
    """A delivery signed with another secret gets 401."""
    path = PATH if route == "router" else OWN_PATH[name]
    body = envelope("new_lead")
    reply = example.post(path, content=body, headers=signed_headers(body, OTHER_SECRET))
    assert reply.status_code == 401


@pytest.mark.parametrize("route", ["router", "own"])
def test_example_without_secret_is_500(
    example: Any, name: str, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no secret configured the example answers 500, never accepting."""
    path = PATH if route == "router" else OWN_PATH[name]
    monkeypatch.delenv(SECRET_ENV_VAR)
    body = envelope("new_lead")
    assert example.post(path, content=body, headers=signed_headers(body)).status_code == 500


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
