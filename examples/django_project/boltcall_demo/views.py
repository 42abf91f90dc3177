"""Ways to receive a verified Boltcall event: the ready view with a router, or your own views."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from boltcall_webhooks import CallCompletedEvent, Event, NewLeadEvent, Router
from boltcall_webhooks.django import BoltcallWebhookView, verify_webhook

# The shortest way: handlers on a router, served by BoltcallWebhookView.as_view(router=router)
# (see urls.py); it answers {"received": true} once every handler returned.
router = Router()


@router.on(NewLeadEvent)
def add_lead(event: NewLeadEvent) -> None:
    """Runs for every new lead, e.g. to create it in your CRM."""


@router.on(CallCompletedEvent)
async def log_call(event: CallCompletedEvent) -> None:
    """An async handler works in the sync view too (run to completion)."""


# Your own views, when you want to build the answer yourself; each echoes what it got.


def _echo(event: Event, via: str) -> JsonResponse:
    return JsonResponse({"received": event.type, "id": event.raw["data"].get("id"), "via": via})


class BoltcallWebhook(BoltcallWebhookView):
    """The class-based view: CSRF-exempt, POST only, verified before handle_event."""

    def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
        if isinstance(event, NewLeadEvent):
            pass  # e.g. create the lead in your CRM, or queue the work
        return _echo(event, "view")


def middleware_guarded(request: HttpRequest) -> HttpResponse:
    """A plain view: BoltcallWebhookMiddleware verified the request before it."""
    event: Event = request.boltcall_event  # type: ignore[attr-defined]
    return _echo(event, "middleware")


@verify_webhook()
async def async_webhook(request: HttpRequest, event: Event) -> HttpResponse:
    """An async function view (runs natively under ASGI)."""
    return _echo(event, "async")
