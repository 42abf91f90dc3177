"""A FastAPI app that receives Boltcall webhooks through a dependency.

Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...   # the secret shown when the webhook was created
    uvicorn examples.fastapi_app:app           # or: python examples/fastapi_app.py

then send it a signed sample::

    boltcall-webhooks send http://127.0.0.1:8000/webhooks/boltcall --event call_completed

Refusals follow FastAPI's convention: ``401 {"detail": "Invalid signature"}``,
413, 400 and 500 (no secret configured). The route declares no body model:
FastAPI would parse it before the signature is checked.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

from fastapi import Depends, FastAPI

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent
from boltcall_webhooks.starlette import verified_event

logger = logging.getLogger(__name__)

app = FastAPI(title="Boltcall webhook receiver")

# Built once; with no argument it reads BOLTCALL_WEBHOOK_SECRET at the first request.
BoltcallEvent = Annotated[Event, Depends(verified_event())]


@app.post("/webhooks/boltcall")
async def boltcall_webhook(event: BoltcallEvent) -> dict[str, object]:
    """Handle one verified event; answer fast (Boltcall does not retry)."""
    if isinstance(event, NewLeadEvent):
        logger.info("New lead %s from %s", event.data.id, event.data.source)
    elif isinstance(event, CallCompletedEvent):
        logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)
    else:
        logger.info("Received %s", event.type)
    return {"received": event.type, "id": event.raw["data"].get("id")}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
