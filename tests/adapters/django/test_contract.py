"""The adapter contract for each Django entry point, sync (``Client``) and async (``AsyncClient``).

Every harness sends through Django's own test client with CSRF checks enforced
(``enforce_csrf_checks=True``) and ``CsrfViewMiddleware`` installed, so a
missing exemption would show up as a 403.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from boltcall_webhooks import Event
from boltcall_webhooks.django import BoltcallWebhookView, verify_webhook

from ..contract import SECRET, AdapterContract, Reply  # noqa: TID252

HOOK = "/hook/"
MIDDLEWARE = "boltcall_webhooks.django.BoltcallWebhookMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"


@dataclass
class DjangoHarness:
    """One view mounted at ``/hook/`` with its own settings, sent to by a fresh client."""

    view: Callable[..., Any]
    calls: list[Event]
    use_async_client: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    def _send(
        self, method: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "application/octet-stream")
        urlconf = ModuleType("hook_urls")
        urlconf.urlpatterns = [path(HOOK.lstrip("/"), self.view)]  # type: ignore[attr-defined]
        with override_settings(ROOT_URLCONF=urlconf, **self.overrides):
            if self.use_async_client:
                client = AsyncClient(enforce_csrf_checks=True)
                response = asyncio.run(
                    client.generic(method, HOOK, body, content_type=content_type, headers=headers)
                )
            else:
                response = Client(enforce_csrf_checks=True).generic(
                    method, HOOK, body, content_type=content_type, headers=headers
                )
        try:
            decoded = json.loads(response.content) if response.content else None
        except ValueError:
            decoded = None
        return Reply(response.status_code, decoded, dict(response.items()))

    def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        return self._send("POST", body, headers)

    def request(self, method: str) -> Reply:
        return self._send(method)


def _options(max_body_size: int | None) -> dict[str, Any]:
    return {} if max_body_size is None else {"max_body_size": max_body_size}


def _settings_without_secret() -> dict[str, Any]:
    """Overrides that remove the test settings' own secret."""
    return {"BOLTCALL_WEBHOOK_SECRET": None}


class TestClassBasedView(AdapterContract):
    """``BoltcallWebhookView`` with a sync ``handle_event``; secrets via ``as_view``."""

    use_async_client = False

    def make_handler(self, calls: list[Event]) -> type[BoltcallWebhookView]:
        class Recording(BoltcallWebhookView):
            def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
                calls.append(event)
                return JsonResponse({"id": event.raw["data"]["id"]})

        return Recording

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        calls: list[Event] = []
        view = self.make_handler(calls).as_view(
            boltcall_secrets=secrets, boltcall_options=_options(max_body_size)
        )
        return DjangoHarness(view, calls, self.use_async_client, _settings_without_secret())


class TestAsyncClassBasedView(TestClassBasedView):
    """``BoltcallWebhookView`` with an ``async def handle_event``, under ASGI."""

    use_async_client = True

    def make_handler(self, calls: list[Event]) -> type[BoltcallWebhookView]:
        class Recording(BoltcallWebhookView):
            async def handle_event(self, request: HttpRequest, event: Event) -> None:
                await asyncio.sleep(0)
                calls.append(event)

        assert Recording.view_is_async
        return Recording


class TestFunctionDecorator(AdapterContract):
    """``@verify_webhook(...)`` on a plain function view."""

    use_async_client = False

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        calls: list[Event] = []

        @verify_webhook(secrets, **_options(max_body_size))
        def view(request: HttpRequest, event: Event) -> HttpResponse:
            calls.append(event)
            return JsonResponse({"id": event.raw["data"]["id"]})

        return DjangoHarness(view, calls, self.use_async_client, _settings_without_secret())


class TestAsyncFunctionDecorator(AdapterContract):
    """``@verify_webhook(...)`` on an ``async def`` function view, under ASGI."""

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        calls: list[Event] = []

        @verify_webhook(secrets, **_options(max_body_size))
        async def view(request: HttpRequest, event: Event) -> HttpResponse:
            await asyncio.sleep(0)
            calls.append(event)
            return JsonResponse({"id": event.raw["data"]["id"]})

        return DjangoHarness(view, calls, True, _settings_without_secret())


class TestMiddleware(AdapterContract):
    """``BoltcallWebhookMiddleware`` after ``CsrfViewMiddleware``, secrets from settings.

    The view behind it has no exemption of its own.
    """

    use_async_client = False

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        calls: list[Event] = []

        def view(request: HttpRequest) -> HttpResponse:
            event: Event = request.boltcall_event  # type: ignore[attr-defined]
            calls.append(event)
            return JsonResponse({"id": event.raw["data"]["id"]})

        overrides: dict[str, Any] = {
            "MIDDLEWARE": [CSRF, MIDDLEWARE],
            "BOLTCALL_WEBHOOK_PATHS": [HOOK],
            "BOLTCALL_WEBHOOK_SECRET": secrets,
        }
        if max_body_size is not None:
            overrides["BOLTCALL_WEBHOOK_MAX_BODY_SIZE"] = max_body_size
        return DjangoHarness(view, calls, self.use_async_client, overrides)


class TestAsyncMiddleware(TestMiddleware):
    """The middleware in an async stack (``AsyncClient``), in front of CSRF."""

    use_async_client = True

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        harness = super().make_harness(secrets=secrets, max_body_size=max_body_size)
        harness.overrides["MIDDLEWARE"] = [MIDDLEWARE, CSRF]
        return harness
