"""A Flask app that receives Boltcall webhooks.

Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...   # the secret shown when the webhook was created
    flask --app examples/flask_app.py run      # or: python examples/flask_app.py
    # production: gunicorn examples.flask_app:app

then send it a signed sample::

    boltcall-webhooks send http://127.0.0.1:5000/webhooks/boltcall --event new_lead
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent
from boltcall_webhooks.flask import verify_webhook

logger = logging.getLogger(__name__)

app = Flask(__name__)
# The secret comes from app.config["BOLTCALL_WEBHOOK_SECRET"] when set, else
# from the BOLTCALL_WEBHOOK_SECRET environment variable.


@app.post("/webhooks/boltcall")
@verify_webhook()
def boltcall_webhook(event: Event) -> dict[str, object]:
    """Handle one verified event; answer fast (Boltcall does not retry)."""
    if isinstance(event, NewLeadEvent):
        logger.info("New lead %s from %s", event.data.id, event.data.source)
    elif isinstance(event, CallCompletedEvent):
        logger.info("Call %s lasted %s s", event.data.id, event.data.duration_seconds)
    else:
        logger.info("Received %s", event.type)
    return {"received": event.type, "id": event.raw["data"].get("id")}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
