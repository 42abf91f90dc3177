"""A Flask app that receives Boltcall webhooks.

Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...   # the secret shown when the webhook was created
    flask --app examples/flask_app.py run      # or: python examples/flask_app.py
    # production: gunicorn examples.flask_app:app

then send it a signed sample::

    boltcall-webhooks send http://127.0.0.1:5000/webhooks/boltcall --event new_lead

Two ways in: the ready view runs a router's handlers (the shortest), or your
own view behind ``@verify_webhook()`` builds its own answer.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent, Router
from boltcall_webhooks.flask import verify_webhook, webhook_view

logger = logging.getLogger(__name__)

router = Router()


@router.on(NewLeadEvent)
def add_lead(event: NewLeadEvent) -> None:
    """Runs for every new lead; answer fast (Boltcall does not retry)."""
    logger.info("New lead %s from %s", event.data.id, event.data.source)


@router.on(CallCompletedEvent)
def log_call(event: CallCompletedEvent) -> None:
    """Runs for every completed call."""
    logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)


app = Flask(__name__)
# The secret comes from app.config["BOLTCALL_WEBHOOK_SECRET"] when set, else
# from the BOLTCALL_WEBHOOK_SECRET environment variable.

# 1. The ready view: verifies, runs the router's handlers, answers {"received": true}.
app.add_url_rule("/webhooks/boltcall", view_func=webhook_view(router=router), methods=["POST"])


# 2. Your own view behind the decorator, when you want to build the answer yourself.
@app.post("/webhooks/boltcall-decorator")
@verify_webhook()
def boltcall_webhook(event: Event) -> dict[str, object]:
    """Handle one verified event and echo it."""
    if isinstance(event, NewLeadEvent):
        logger.info("New lead %s from %s", event.data.id, event.data.source)
    elif isinstance(event, CallCompletedEvent):
        logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)
    else:
        logger.info("Received %s", event.type)
    return {"received": event.type, "id": event.raw["data"].get("id")}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
