"""A Starlette app that receives Boltcall webhooks.

Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...   # the secret shown when the webhook was created
    uvicorn examples.starlette_app:app         # or: python examples/starlette_app.py

then send it a signed sample::

    boltcall-webhooks send http://127.0.0.1:8000/webhooks/boltcall --event new_lead

Two ways in: the ready endpoint runs a router's handlers (the shortest), or the
ASGI middleware guards a path and your own endpoint builds its answer. Both
answer forged (401), oversized (413), malformed (400) and non-POST (405)
requests themselves; only verified events reach your code.
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent, Router
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware, webhook_endpoint

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/boltcall"
MIDDLEWARE_PATH = "/webhooks/boltcall-middleware"

router = Router()


@router.on(NewLeadEvent)
async def add_lead(event: NewLeadEvent) -> None:
    """Runs for every new lead (a plain def would run in a worker thread)."""
    logger.info("New lead %s from %s", event.data.id, event.data.source)


@router.on(CallCompletedEvent)
async def log_call(event: CallCompletedEvent) -> None:
    """Runs for every completed call."""
    logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)


async def boltcall_webhook(request: Request) -> JSONResponse:
    """The second way: the middleware verified the request; build your own answer."""
    event: Event = request.state.boltcall_event
    logger.info("Received %s", event.type)
    # The raw body is still there, e.g. to store it as received.
    body = await request.body()
    return JSONResponse(
        {"received": event.type, "id": event.raw["data"].get("id"), "bytes": len(body)}
    )


app = Starlette(
    routes=[
        # 1. The ready endpoint: verifies, runs the handlers, answers {"received": true}.
        Route(WEBHOOK_PATH, webhook_endpoint(router=router), methods=["POST"]),
        # 2. Your own endpoint behind the middleware.
        Route(MIDDLEWARE_PATH, boltcall_webhook, methods=["POST"]),
    ],
    # secrets=None (the default) reads BOLTCALL_WEBHOOK_SECRET at the first request.
    middleware=[Middleware(BoltcallWebhookMiddleware, paths=[MIDDLEWARE_PATH])],
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
