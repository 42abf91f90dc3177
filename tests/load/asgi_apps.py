"""The Starlette and FastAPI examples rebuilt so that the load driver can count what reached them.

uvicorn serves ``asgi_apps:starlette_app`` or ``asgi_apps:fastapi_app`` from
``tests/load``. The examples are loaded from their files (the server imports the
*installed* ``boltcall_webhooks``).

* Starlette: a new app with the example's own middleware list (the real
  ``BoltcallWebhookMiddleware`` on the example's path) and the example's
  endpoint behind a recorder.
* FastAPI: a new app whose webhook route depends on the example's own
  dependency (``verified_event()``, from its ``BoltcallEvent`` annotation),
  records the event and calls the example's endpoint with it.

Both also get ``POST /bare``, which only reads the body and answers 200.

``unguarded_app`` is the driver's positive control: a receiver with the classic
bug (it parses the body and never checks the signature). A load run against it
must fail; ``run_load.py --control`` checks that it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, cast

from fastapi import FastAPI
from recording import BARE_PATH, WEBHOOK_PATH, Recorder, check_installed, load_example
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from boltcall_webhooks import Event, PayloadError, parse_event
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

__all__ = ["fastapi_app", "starlette_app", "unguarded_app"]

check_installed()
_recorder: Final = Recorder()

# --- Starlette: the middleware ------------------------------------------------

_starlette_example = load_example("starlette_app")
_middleware: list[Middleware] = list(_starlette_example.app.user_middleware)
if not any(cast("object", m.cls) is BoltcallWebhookMiddleware for m in _middleware):
    msg = "examples/starlette_app.py no longer uses BoltcallWebhookMiddleware."  # pragma: no cover
    raise RuntimeError(msg)
_starlette_endpoint: Callable[[Request], Awaitable[Response]] = _starlette_example.boltcall_webhook


async def _recorded_starlette_endpoint(request: Request) -> Response:
    """Record the event the middleware verified, then run the example's endpoint."""
    event = request.state.boltcall_event
    assert isinstance(event, Event)
    _recorder.record(event)
    return await _starlette_endpoint(request)


async def _starlette_bare(request: Request) -> Response:
    """Read the body and answer 200: the same server and app, without verification."""
    return JSONResponse({"bytes": len(await request.body())})


starlette_app = Starlette(
    routes=[
        Route(_starlette_example.WEBHOOK_PATH, _recorded_starlette_endpoint, methods=["POST"]),
        Route(BARE_PATH, _starlette_bare, methods=["POST"]),
    ],
    middleware=_middleware,
)

# --- FastAPI: the dependency --------------------------------------------------

_fastapi_example = load_example("fastapi_app")
# The example's Depends(verified_event()), taken from its Annotated alias.
_EXAMPLE_DEPENDENCY: Final[Any] = _fastapi_example.BoltcallEvent.__metadata__[0]
_fastapi_endpoint: Callable[[Event], Awaitable[dict[str, object]]] = (
    _fastapi_example.boltcall_webhook
)

fastapi_app = FastAPI()


@fastapi_app.post(WEBHOOK_PATH)
async def _recorded_fastapi_endpoint(
    event: Annotated[Event, _EXAMPLE_DEPENDENCY],
) -> dict[str, object]:
    """Record the event the dependency verified, then run the example's endpoint."""
    _recorder.record(event)
    return await _fastapi_endpoint(event)


@fastapi_app.post(BARE_PATH)
async def _fastapi_bare(request: Request) -> dict[str, int]:
    """Read the body and answer 200: the same server and app, without verification."""
    return {"bytes": len(await request.body())}


# --- Positive control: a receiver that forgets to verify ------------------------


async def _unguarded_endpoint(request: Request) -> Response:
    """Parse and record every body without checking its signature (the bug to catch)."""
    try:
        event = parse_event(await request.body())
    except PayloadError:
        return JSONResponse({"error": "Invalid payload"}, status_code=400)
    _recorder.record(event)
    data: object = event.raw.get("data")
    event_id = cast("dict[str, object]", data).get("id") if isinstance(data, dict) else None
    return JSONResponse({"received": event.type, "id": event_id})


unguarded_app = Starlette(
    routes=[
        Route(WEBHOOK_PATH, _unguarded_endpoint, methods=["POST"]),
        Route(BARE_PATH, _starlette_bare, methods=["POST"]),
    ]
)
