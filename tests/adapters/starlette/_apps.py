"""Test apps for the Starlette/FastAPI adapter, and a harness over Starlette's TestClient.

Each builder returns an ASGI app whose guarded route (``/hook``) records the
events it gets in ``calls``. Endpoints also re-read the body and echo its
length, so a test can see that the replay gave them the bytes that were sent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    # Importing the TestClient warns about its environment, not about our code:
    # Starlette >= 1.x prefers httpx2 and warns when it falls back to httpx (both
    # work; older Starlette only knows httpx), and Starlette < 0.47 uses an anyio
    # alias that recent anyio deprecates.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    warnings.filterwarnings("ignore", message="The anyio.abc.BlockingPortal alias")
    from starlette.testclient import TestClient

from boltcall_webhooks import Event
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware, verified_event

from ..contract import Reply  # noqa: TID252

HOOK = "/hook"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def _options(max_body_size: int | None) -> dict[str, Any]:
    return {} if max_body_size is None else {"max_body_size": max_body_size}


def starlette_with_middleware(
    calls: list[Event], *, secrets: Any, max_body_size: int | None, use_async: bool
) -> Starlette:
    """A Starlette app behind the middleware; the endpoint reads request.state."""

    async def async_hook(request: Request) -> Response:
        event = request.state.boltcall_event
        body = await request.body()
        calls.append(event)
        return JSONResponse({"type": event.type, "length": len(body)})

    def sync_hook(request: Request) -> Response:
        event = request.state.boltcall_event
        calls.append(event)
        return JSONResponse({"type": event.type})

    return Starlette(
        routes=[Route(HOOK, async_hook if use_async else sync_hook, methods=["POST"])],
        middleware=[
            Middleware(
                BoltcallWebhookMiddleware,
                paths=[HOOK],
                secrets=secrets,
                **_options(max_body_size),
            )
        ],
    )


def fastapi_with_middleware(
    calls: list[Event], *, secrets: Any, max_body_size: int | None, use_async: bool
) -> FastAPI:
    """A FastAPI app behind the middleware; the endpoint reads request.state."""
    app = FastAPI()
    app.add_middleware(
        BoltcallWebhookMiddleware, paths=[HOOK], secrets=secrets, **_options(max_body_size)
    )
    if use_async:

        @app.post(HOOK)
        async def async_hook(request: Request) -> dict[str, Any]:
            event = request.state.boltcall_event
            body = await request.body()
            calls.append(event)
            return {"type": event.type, "length": len(body)}

    else:

        @app.post(HOOK)
        def sync_hook(request: Request) -> dict[str, Any]:
            event = request.state.boltcall_event
            calls.append(event)
            return {"type": event.type}

    return app


def fastapi_with_dependency(
    calls: list[Event], *, secrets: Any, max_body_size: int | None, use_async: bool
) -> FastAPI:
    """A FastAPI app whose route takes ``event = Depends(verified_event(...))``.

    The route accepts every method so that the dependency's own 405 is tested,
    not FastAPI's router.
    """
    app = FastAPI()
    dependency = verified_event(secrets, **_options(max_body_size))
    if use_async:

        @app.api_route(HOOK, methods=ALL_METHODS)
        async def async_hook(request: Request, event: Event = Depends(dependency)) -> Any:  # noqa: B008
            body = await request.body()
            calls.append(event)
            return {"type": event.type, "length": len(body)}

    else:

        @app.api_route(HOOK, methods=ALL_METHODS)
        def sync_hook(event: Event = Depends(dependency)) -> Any:  # noqa: B008
            calls.append(event)
            return {"type": event.type}

    return app


@dataclass
class ClientHarness:
    """An app behind Starlette's TestClient, posting raw bytes to ``/hook``."""

    app: Any
    calls: list[Event]
    client: TestClient = field(init=False)
    #: Map FastAPI's ``{"detail": msg}`` to the contract's ``{"error": msg}``.
    detail_as_error: bool = False

    def __post_init__(self) -> None:
        self.client = TestClient(self.app)

    def _reply(self, response: Any) -> Reply:
        data: Any = None
        if response.headers.get("content-type", "").startswith("application/json"):
            data = response.json()
        if self.detail_as_error and isinstance(data, dict) and set(data) == {"detail"}:
            data = {"error": data["detail"]}
        return Reply(response.status_code, data, dict(response.headers))

    def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        """POST ``body`` exactly as given (never re-serialised)."""
        return self._reply(self.client.post(HOOK, content=body, headers=headers))

    def post_raw(self, body: bytes, headers: dict[str, bytes]) -> Reply:
        """POST with header values given as bytes (latin-1 text allowed)."""
        return self._reply(self.client.post(HOOK, content=body, headers=headers))

    def request(self, method: str) -> Reply:
        """Send ``method`` with no body."""
        return self._reply(self.client.request(method, HOOK))
