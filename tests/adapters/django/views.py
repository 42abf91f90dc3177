"""Views behind the test URLconf; each records the events it receives in ``CALLS``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from boltcall_webhooks import Event
from boltcall_webhooks.django import BoltcallWebhookMixin, BoltcallWebhookView, verify_webhook

CALLS: list[Event] = []


def _echo(event: Event, via: str) -> JsonResponse:
    CALLS.append(event)
    return JsonResponse({"type": event.type, "id": event.raw["data"].get("id"), "via": via})


class SyncWebhook(BoltcallWebhookView):
    def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
        return _echo(event, "cbv")


class AsyncWebhook(BoltcallWebhookView):
    async def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
        return _echo(event, "cbv-async")


class NoneWebhook(BoltcallWebhookView):
    def handle_event(self, request: HttpRequest, event: Event) -> None:
        CALLS.append(event)


class DispatchOverridingWebhook(BoltcallWebhookView):
    """Overrides dispatch without re-applying csrf_exempt: the exemption must survive."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = super().dispatch(request, *args, **kwargs)
        response["X-Overridden"] = "yes"
        return response

    def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
        return _echo(event, "cbv-dispatch")


class FailingWebhook(BoltcallWebhookView):
    def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
        CALLS.append(event)
        msg = "the receiver's own bug"
        raise RuntimeError(msg)


class MixinWebhook(BoltcallWebhookMixin, View):
    """The mixin with a hand-written post(): it reads self.event and the raw body."""

    def post(self, request: HttpRequest) -> HttpResponse:
        assert request.boltcall_event is self.event  # type: ignore[attr-defined]
        CALLS.append(self.event)
        return JsonResponse({"id": self.event.raw["data"]["id"], "bytes": len(request.body)})


@verify_webhook()
def function_webhook(request: HttpRequest, event: Event) -> HttpResponse:
    return _echo(event, "function")


@verify_webhook()
async def async_function_webhook(request: HttpRequest, event: Event) -> HttpResponse:
    return _echo(event, "function-async")


def plain_view(request: HttpRequest) -> HttpResponse:
    """A view with no exemption at all, guarded only by the middleware."""
    event: Event = request.boltcall_event  # type: ignore[attr-defined]
    return _echo(event, "middleware")


async def async_plain_view(request: HttpRequest) -> HttpResponse:
    event: Event = request.boltcall_event  # type: ignore[attr-defined]
    return _echo(event, "middleware-async")


def hello(request: HttpRequest) -> HttpResponse:
    """An ordinary page on a path the middleware does not guard."""
    return HttpResponse("hello")
