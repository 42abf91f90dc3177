"""Your own views, for when you build the answer yourself (the handlers are in hooks.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from boltcall_webhooks import Event, NewLeadEvent
from boltcall_webhooks.django import BoltcallWebhookView, verify_webhook

from .hooks import router

__all__ = ["BoltcallWebhook", "async_webhook", "middleware_guarded", "router"]

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
