"""The middleware wrapped around an app that sets its own root path still guards its routes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request

from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252
from ._apps import TestClient  # imported there without its environment warnings

# Recent FastAPI deprecates FastAPI(root_path=...) (the server should set it) but
# still honours it; apps in the field use it, so it must stay guarded.
pytestmark = pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")


def _wrapped_app() -> tuple[BoltcallWebhookMiddleware, list[bytes]]:
    """FastAPI(root_path="/api") with the middleware around it, from outside."""
    inner = FastAPI(root_path="/api")
    seen: list[bytes] = []

    @inner.post("/hook")
    async def hook(request: Request) -> dict[str, Any]:
        seen.append(await request.body())
        return {"verified": hasattr(request.state, "boltcall_event")}

    return BoltcallWebhookMiddleware(inner, paths=["/hook"], secrets=SECRET), seen


def test_forged_request_under_the_apps_root_path_is_refused() -> None:
    """POST /api/hook routes to /hook inside the app: it is guarded, a forgery gets 401."""
    app, seen = _wrapped_app()
    client = TestClient(app)
    for path in ("/hook", "/api/hook"):
        response = client.post(path, content=b'{"forged": 1}')
        assert response.status_code == 401, path
    assert seen == []


def test_genuine_request_under_the_apps_root_path_is_delivered() -> None:
    """A signed delivery to /api/hook reaches the endpoint with the event set."""
    app, seen = _wrapped_app()
    body = envelope("new_lead")
    response = TestClient(app).post("/api/hook", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert response.json() == {"verified": True}
    assert seen == [body]
