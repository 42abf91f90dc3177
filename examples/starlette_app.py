"""A Starlette app that receives Boltcall webhooks through the ASGI middleware.

Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...   # the secret shown when the webhook was created
    uvicorn examples.starlette_app:app         # or: python examples/starlette_app.py

then send it a signed sample::

    boltcall-webhooks send http://127.0.0.1:8000/webhooks/boltcall --event new_lead

The middleware answers forged (401), oversized (413), malformed (400) and
non-POST (405) requests itself; only verified events reach the endpoint.
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/boltcall"


async def boltcall_webhook(request: Request) -> JSONResponse:
    """Handle one verified event; answer fast (Boltcall does not retry)."""
    event: Event = request.state.boltcall_event
    if isinstance(event, NewLeadEvent):
        logger.info("New lead %s from %s", event.data.id, event.data.source)
    elif isinstance(event, CallCompletedEvent):
        logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)
    else:
        logger.info("Received %s", event.type)
    # The raw body is still there, e.g. to store it as received.
    body = await request.body()
    return JSONResponse(
        {"received": event.type, "id": event.raw["data"].get("id"), "bytes": len(body)}
    )


app = Starlette(
    routes=[Route(WEBHOOK_PATH, boltcall_webhook, methods=["POST"])],
    # secrets=None (the default) reads BOLTCALL_WEBHOOK_SECRET at the first request.
    middleware=[Middleware(BoltcallWebhookMiddleware, paths=[WEBHOOK_PATH])],
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
