"""The Flask app the crash tests serve with gunicorn: ``/inbox`` and ``/verify``.

``/inbox`` is ``webhook_view(inbox=Inbox())`` (``BOLTCALL_INBOX_URL``);
``/verify`` verifies only (an empty router): the baseline of the benchmarks.
The secret is ``BOLTCALL_WEBHOOK_SECRET``.
"""

from __future__ import annotations

from flask import Flask

from boltcall_webhooks import Router
from boltcall_webhooks.flask import webhook_view
from boltcall_webhooks.inbox import Inbox

inbox = Inbox()
app = Flask(__name__)
app.add_url_rule("/inbox", view_func=webhook_view(inbox=inbox), methods=["POST"])
app.add_url_rule(
    "/verify", view_func=webhook_view(router=Router()), methods=["POST"], endpoint="verify"
)
