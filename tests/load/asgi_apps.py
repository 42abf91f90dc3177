"""The Starlette and FastAPI examples as the load run serves them: a recorder and a baseline.

uvicorn serves ``asgi_apps:starlette_app`` or ``asgi_apps:fastapi_app`` from
``tests/load``. The examples are loaded from their files (the server imports the
*installed* ``boltcall_webhooks``) and served as written: their ready endpoint,
``webhook_endpoint(router=router)``, at ``/webhooks/boltcall``. One more
handler, ``async def`` like the examples' own, is registered on each example's
router (``on_any``) to record every event it dispatches.

Both also get ``POST /bare``, the baseline: it reads the body through the same
framework, parses it with ``json.loads``, writes the same record line as the
recorder (to a file the driver does not count) and answers the same JSON as the
ready endpoint (``{"received": true}``) without verifying anything.

``unguarded_app`` is the driver's positive control: a receiver with the classic
bug (it parses the body and never checks the signature). A load run against it
must fail; ``run_load.py --control`` checks that it does.
"""

from __future__ import annotations

import json
from typing import Final

from fastapi import FastAPI
from recording import BARE_PATH, WEBHOOK_PATH, Recorder, check_installed, load_example
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from boltcall_webhooks import Event, PayloadError, Router, parse_event

__all__ = ["fastapi_app", "starlette_app", "unguarded_app"]

check_installed()
_recorder: Final = Recorder()
_baseline_recorder: Final = Recorder(prefix="baseline")
_BASELINE_BODY: Final = json.dumps({"received": True}).encode()


async def _record(event: Event) -> None:
    """Record the event: one more handler on the example's router."""
    _recorder.record(event)


async def _baseline(request: Request) -> Response:
    """Parse the body, record its id and answer what the ready endpoint answers; verify nothing."""
    _baseline_recorder.record_id(json.loads(await request.body())["data"].get("id"))
    return Response(_BASELINE_BODY, media_type="application/json")


def _serving(app: Starlette) -> set[str]:
    return {path for route in app.routes if isinstance(path := getattr(route, "path", None), str)}


# --- Starlette ----------------------------------------------------------------

_starlette_example = load_example("starlette_app")
starlette_app: Starlette = _starlette_example.app
if WEBHOOK_PATH not in _serving(starlette_app):  # pragma: no cover - the example changed
    msg = f"examples/starlette_app.py no longer serves {WEBHOOK_PATH}."
    raise RuntimeError(msg)
_starlette_router: Router = _starlette_example.router
_starlette_router.on_any(_record)
starlette_app.router.routes.append(Route(BARE_PATH, _baseline, methods=["POST"]))

# --- FastAPI ------------------------------------------------------------------

_fastapi_example = load_example("fastapi_app")
fastapi_app: FastAPI = _fastapi_example.app
if WEBHOOK_PATH not in _serving(fastapi_app):  # pragma: no cover - the example changed
    msg = f"examples/fastapi_app.py no longer serves {WEBHOOK_PATH}."
    raise RuntimeError(msg)
_fastapi_router: Router = _fastapi_example.router
_fastapi_router.on_any(_record)
fastapi_app.add_api_route(BARE_PATH, _baseline, methods=["POST"])


# --- Positive control: a receiver that forgets to verify ------------------------


async def _unguarded_endpoint(request: Request) -> Response:
    """Parse and record every body without checking its signature (the bug to catch)."""
    try:
        event = parse_event(await request.body())
    except PayloadError:
        return JSONResponse({"error": "Invalid payload"}, status_code=400)
    _recorder.record(event)
    return Response(_BASELINE_BODY, media_type="application/json")


unguarded_app = Starlette(
    routes=[
        Route(WEBHOOK_PATH, _unguarded_endpoint, methods=["POST"]),
        Route(BARE_PATH, _baseline, methods=["POST"]),
    ]
)
