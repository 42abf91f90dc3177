"""``BoltcallWebhookView.as_view(router=...)``: the ready view, through Django's test clients.

The URLs below are this module's own URLconf (``ROOT_URLCONF`` is overridden
per test): a sync view (WSGI: ``router.dispatch``) and an async one
(``boltcall_async=True``: ``router.dispatch_async``), each with the same
router, so every case runs under both.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from boltcall_webhooks import Event, Router
from boltcall_webhooks.django import BoltcallWebhookView

from ..contract import OTHER_SECRET, SECRET, envelope, signed_headers  # noqa: TID252
from ..router_cases import (  # noqa: TID252
    HANDLER_FAILED,
    RECEIVED,
    Ledger,
    check_construction_errors,
    check_failure_log,
    check_ledger,
    deliveries,
    failing_router,
    make_router,
)

LEDGER = Ledger()
FAILURES = Ledger()
_router = make_router(LEDGER)
_failing = failing_router(FAILURES)

urlpatterns = [
    path("sync/", BoltcallWebhookView.as_view(router=_router, boltcall_secrets=SECRET)),
    path(
        "async/",
        BoltcallWebhookView.as_view(router=_router, boltcall_secrets=SECRET, boltcall_async=True),
    ),
    path("fail-sync/", BoltcallWebhookView.as_view(router=_failing, boltcall_secrets=SECRET)),
    path(
        "fail-async/",
        BoltcallWebhookView.as_view(router=_failing, boltcall_secrets=SECRET, boltcall_async=True),
    ),
    path(
        "small/",
        BoltcallWebhookView.as_view(
            router=_router, boltcall_secrets=SECRET, boltcall_options={"max_body_size": 200}
        ),
    ),
    # No boltcall_secrets: settings.BOLTCALL_WEBHOOK_SECRET, as for every other view.
    path("settings/", BoltcallWebhookView.as_view(router=_router)),
]


@pytest.fixture(autouse=True)
def _urls() -> Iterator[None]:
    for ledger in (LEDGER, FAILURES):
        ledger.calls.clear()
        ledger.threads.clear()
    with override_settings(ROOT_URLCONF=__name__):
        yield


def _post(client: Client, url: str, body: bytes, secret: str = SECRET) -> Any:
    return client.post(
        url, body, content_type="application/json", headers=signed_headers(body, secret)
    )


async def _apost(client: AsyncClient, url: str, body: bytes, secret: str = SECRET) -> Any:
    return await client.post(
        url, body, content_type="application/json", headers=signed_headers(body, secret)
    )


def test_the_views_are_sync_and_async_as_asked() -> None:
    """``boltcall_async=True`` gives a coroutine view; the default is a plain one."""
    sync_view, async_view = urlpatterns[0].callback, urlpatterns[1].callback
    assert not iscoroutinefunction(sync_view)
    assert iscoroutinefunction(async_view)
    for view in (sync_view, async_view):
        assert getattr(view, "csrf_exempt", False) is True


@pytest.mark.parametrize("url", ["/sync/", "/async/"])
def test_every_type_reaches_its_handlers_once(url: str) -> None:
    """Five event types and an unknown one, sync and async handlers, CSRF on: each once."""
    client = Client(enforce_csrf_checks=True)
    for _, body in deliveries():
        response = _post(client, url, body)
        assert response.status_code == 200
        assert response.json() == RECEIVED
        assert response["Content-Type"] == "application/json"
    check_ledger(LEDGER)


def test_the_async_view_under_asgi_never_blocks_the_loop() -> None:
    """Under ASGI, sync handlers run in worker threads, async ones on the loop."""

    async def run() -> tuple[int, set[int]]:
        loop_thread = threading.get_ident()
        client = AsyncClient()
        for _, body in deliveries():
            response = await _apost(client, "/async/", body)
            assert response.status_code == 200
        return loop_thread, set().union(
            *(LEDGER.threads[h] for h in ("leads", "appointments", "unknown"))
        )

    loop_thread, sync_threads = asyncio.run(run())
    check_ledger(LEDGER)
    assert loop_thread not in sync_threads
    assert LEDGER.threads["audit"] == {loop_thread}  # async handlers: on the loop


def test_the_sync_view_under_asgi_runs_async_handlers_to_completion() -> None:
    """The sync view served by Django's ASGI handler still runs every handler once."""

    async def run() -> None:
        client = AsyncClient()
        for _, body in deliveries():
            assert (await _apost(client, "/sync/", body)).status_code == 200

    asyncio.run(run())
    check_ledger(LEDGER)


@pytest.mark.parametrize("url", ["/fail-sync/", "/fail-async/"])
def test_a_failing_handler_is_500_logged_and_the_others_run(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two handlers raise: 500, the third still ran, one ERROR record with traceback each."""
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    with caplog.at_level(logging.ERROR, logger="boltcall_webhooks"):
        response = _post(Client(), url, body)
    assert response.status_code == 500
    assert response.json() == HANDLER_FAILED
    assert sorted(h for h, _, _ in FAILURES.calls) == ["breaks_async", "breaks_sync", "still_runs"]
    check_failure_log(caplog.records, body)


@pytest.mark.parametrize("url", ["/sync/", "/async/"])
def test_forged_and_refused_deliveries_run_no_handler(url: str) -> None:
    """The mixin's refusals (401, 400, 405) and no handler runs."""
    client = Client()
    body = envelope("new_lead")
    forged = _post(client, url, body, OTHER_SECRET)
    assert (forged.status_code, forged.json()) == (401, {"error": "Invalid signature"})
    missing = client.post(url, body, content_type="application/json")
    assert (missing.status_code, missing.json()) == (401, {"error": "Missing signature"})
    not_envelope = b'["not", "an", "envelope"]'
    assert _post(client, url, not_envelope).status_code == 400
    assert client.get(url).status_code == 405
    assert LEDGER.calls == []


def test_options_and_settings_secrets_are_the_views() -> None:
    """``boltcall_options`` caps the body (413); no ``boltcall_secrets`` reads the settings."""
    client = Client()
    big = envelope("new_lead", {"id": "x" * 300})
    assert _post(client, "/small/", big).status_code == 413
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    assert _post(client, "/settings/", body).status_code == 401  # signed with another secret
    with override_settings(BOLTCALL_WEBHOOK_SECRET=OTHER_SECRET):
        assert _post(client, "/settings/", body, OTHER_SECRET).status_code == 200
    assert [h for h, _, _ in LEDGER.calls] == ["leads", "audit"]


def test_construction_errors() -> None:
    """Exactly one of router=/inbox=, a real Router, known options, usable secrets."""

    def build(**kwargs: Any) -> object:
        secrets = kwargs.pop("secrets", None)
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in {"router", "inbox"}}
        if secrets is not None:
            kwargs["boltcall_secrets"] = secrets
        if options:
            kwargs["boltcall_options"] = options
        return BoltcallWebhookView.as_view(**kwargs)

    check_construction_errors(build)


def test_router_and_handle_event_do_not_mix() -> None:
    """A subclass implementing handle_event refuses router= (it would never run)."""

    class Custom(BoltcallWebhookView):
        def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
            return HttpResponse()

    with pytest.raises(TypeError, match="handle_event"):
        Custom.as_view(router=Router())
    assert callable(Custom.as_view())
