"""A FastAPI app that receives Boltcall webhooks.

Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...   # the secret shown when the webhook was created
    uvicorn examples.fastapi_app:app           # or: python examples/fastapi_app.py

then send it a signed sample::

    boltcall-webhooks send http://127.0.0.1:8000/webhooks/boltcall --event call_completed

Two ways in: the ready endpoint runs a router's handlers (the shortest;
refusals are ``{"error": ...}``), or a route of your own takes the verified
event from a dependency (refusals follow FastAPI's convention,
``401 {"detail": "Invalid signature"}``). Neither route declares a body model:
FastAPI would parse it before the signature is checked.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

from fastapi import Depends, FastAPI

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent, Router
from boltcall_webhooks.starlette import verified_event, webhook_endpoint

logger = logging.getLogger(__name__)

router = Router()


@router.on(NewLeadEvent)
async def add_lead(event: NewLeadEvent) -> None:
    """Runs for every new lead (a plain def would run in a worker thread)."""
    logger.info("New lead %s from %s", event.data.id, event.data.source)


@router.on(CallCompletedEvent)
async def log_call(event: CallCompletedEvent) -> None:
    """Runs for every completed call."""
    logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)


app = FastAPI(title="Boltcall webhook receiver")

# 1. The ready endpoint: verifies, runs the handlers, answers {"received": true}.
app.add_api_route("/webhooks/boltcall", webhook_endpoint(router=router), methods=["POST"])

# 2. Your own route, with the verified event from a dependency. Built once; with
# no argument it reads BOLTCALL_WEBHOOK_SECRET at the first request.
BoltcallEvent = Annotated[Event, Depends(verified_event())]


@app.post("/webhooks/boltcall-dependency")
async def boltcall_webhook(event: BoltcallEvent) -> dict[str, object]:
    """Handle one verified event and echo it."""
    logger.info("Received %s", event.type)
    return {"received": event.type, "id": event.raw["data"].get("id")}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
