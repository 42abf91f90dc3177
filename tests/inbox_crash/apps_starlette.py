"""The Starlette app the crash tests serve with uvicorn: ``/inbox`` and ``/verify``.

``/inbox`` is ``webhook_endpoint(inbox=Inbox())`` (``BOLTCALL_INBOX_URL``);
``/verify`` verifies only (an empty router): the baseline of the benchmarks.
The secret is ``BOLTCALL_WEBHOOK_SECRET``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from boltcall_webhooks import Router
from boltcall_webhooks.inbox import Inbox
from boltcall_webhooks.starlette import webhook_endpoint

inbox = Inbox()
app = Starlette(
    routes=[
        Route("/inbox", webhook_endpoint(inbox=inbox), methods=["POST"]),
        Route("/verify", webhook_endpoint(router=Router()), methods=["POST"]),
    ]
)
