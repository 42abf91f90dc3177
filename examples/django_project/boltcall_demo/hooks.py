"""The project's webhook handlers, on one Router, and the inbox that keeps each delivery.

``urls.py`` serves the router two ways: ``as_view(router=router)`` runs the
handlers in the request; ``as_view(inbox=inbox)`` stores each verified delivery
in the project's database and answers at once, and the worker runs them::

    python manage.py migrate
    python manage.py boltcall_inbox work          # the router: settings.BOLTCALL_ROUTER
"""

from __future__ import annotations

from boltcall_webhooks import CallCompletedEvent, NewLeadEvent, Router
from boltcall_webhooks.inbox import Inbox

router = Router()
# Deliveries in the project's database (INSTALLED_APPS has "boltcall_webhooks.django");
# the admin lists them, replays them; manage.py boltcall_inbox runs the worker.
inbox = Inbox("django")


@router.on(NewLeadEvent)
def add_lead(event: NewLeadEvent) -> None:
    """Runs for every new lead, e.g. to create it in your CRM.

    Under the inbox worker, ORM writes made here commit together with the
    handler's success: exactly once, even if the worker is killed.
    """


@router.on(CallCompletedEvent)
async def log_call(event: CallCompletedEvent) -> None:
    """An async handler works in the sync view and in the worker too (run to completion)."""
