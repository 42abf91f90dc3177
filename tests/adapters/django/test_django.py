"""Django-specific behaviour: CSRF, LoginRequiredMiddleware, async views, body limits, errors."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings

from boltcall_webhooks import SIGNATURE_HEADER, Event, NewLeadEvent, sign
from boltcall_webhooks.django import (
    BoltcallWebhookMiddleware,
    BoltcallWebhookView,
    verify_webhook,
)

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252
from . import settings as test_settings
from . import views

SETTINGS_SECRET = test_settings.BOLTCALL_WEBHOOK_SECRET
MIDDLEWARE = "boltcall_webhooks.django.BoltcallWebhookMiddleware"
LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"
HAS_LOGIN_REQUIRED_MIDDLEWARE = django.VERSION >= (5, 1)


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    views.CALLS.clear()
    yield
    views.CALLS.clear()


def _signed(event_type: str = "new_lead", secret: str = SETTINGS_SECRET) -> tuple[bytes, Any]:
    body = envelope(event_type)
    return body, {SIGNATURE_HEADER: sign(body, secret)}


def _post(client: Client, url: str, body: bytes, headers: dict[str, str], **extra: Any) -> Any:
    return client.post(url, body, content_type="application/json", headers=headers, **extra)


# ---------------------------------------------------------------- CSRF


@pytest.mark.parametrize("url", ["/cbv/", "/cbv-none/", "/cbv-dispatch/", "/function/", "/mixin/"])
def test_genuine_webhook_passes_enforced_csrf_checks(url: str) -> None:
    """Each entry point is CSRF-exempt: a genuine POST with no token gets through."""
    body, headers = _signed()
    response = _post(Client(enforce_csrf_checks=True), url, body, headers)
    assert response.status_code == 200, response.content
    assert [type(e) for e in views.CALLS] == [NewLeadEvent]


def test_csrf_is_really_enforced_on_an_unprotected_view() -> None:
    """Control: the same client is refused (403) by a view with no exemption and no middleware."""
    body, headers = _signed()
    with override_settings(BOLTCALL_WEBHOOK_PATHS=["/guarded/"]):
        response = _post(Client(enforce_csrf_checks=True), "/unguarded/", body, headers)
    assert response.status_code == 403
    assert views.CALLS == []


def test_subclass_overriding_dispatch_keeps_csrf_exemption() -> None:
    """A subclass's own dispatch (not re-decorated) still yields an exempt view."""
    view = views.DispatchOverridingWebhook.as_view()
    assert getattr(view, "csrf_exempt", False) is True
    assert getattr(view, "login_required", True) is False
    body, headers = _signed()
    response = _post(Client(enforce_csrf_checks=True), "/cbv-dispatch/", body, headers)
    assert response.status_code == 200
    assert response["X-Overridden"] == "yes"


def test_function_decorator_marks_view_exempt() -> None:
    """The decorated function carries csrf_exempt and login_required=False, and keeps its name."""
    assert getattr(views.function_webhook, "csrf_exempt", False) is True
    assert getattr(views.function_webhook, "login_required", True) is False
    assert views.function_webhook.__name__ == "function_webhook"


@pytest.mark.parametrize(
    "middleware",
    [
        [MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware"],
        ["django.middleware.csrf.CsrfViewMiddleware", MIDDLEWARE],
    ],
    ids=["before-csrf", "after-csrf"],
)
def test_middleware_makes_verified_request_csrf_exempt_in_any_position(
    middleware: list[str],
) -> None:
    """A plain view behind the middleware gets a genuine POST, wherever the middleware is."""
    body, headers = _signed()
    with override_settings(MIDDLEWARE=middleware, BOLTCALL_WEBHOOK_PATHS=["/guarded/"]):
        response = _post(Client(enforce_csrf_checks=True), "/guarded/", body, headers)
        forged = _post(
            Client(enforce_csrf_checks=True), "/guarded/", body, {SIGNATURE_HEADER: "0" * 64}
        )
    assert response.status_code == 200
    assert json.loads(response.content)["via"] == "middleware"
    assert forged.status_code == 401
    assert len(views.CALLS) == 1


# ---------------------------------------------------------------- LoginRequiredMiddleware


@pytest.mark.skipif(not HAS_LOGIN_REQUIRED_MIDDLEWARE, reason="LoginRequiredMiddleware is 5.1+")
@pytest.mark.parametrize("url", ["/cbv/", "/cbv-dispatch/", "/function/", "/mixin/"])
def test_webhook_views_are_exempt_from_login_required_middleware(url: str) -> None:
    """With LoginRequiredMiddleware on, an anonymous genuine webhook still reaches the view."""
    body, headers = _signed()
    with override_settings(MIDDLEWARE=[*test_settings.MIDDLEWARE, LOGIN_REQUIRED]):
        response = _post(Client(enforce_csrf_checks=True), url, body, headers)
        control = Client().get("/hello/")
    assert response.status_code == 200
    assert len(views.CALLS) == 1
    assert control.status_code == 302  # the middleware is really on


# ---------------------------------------------------------------- async


@pytest.mark.parametrize(
    ("url", "via"),
    [("/cbv-async/", "cbv-async"), ("/function-async/", "function-async"), ("/cbv/", "cbv")],
)
def test_views_work_under_asgi(url: str, via: str) -> None:
    """Async and sync views answer through Django's ASGI handler (AsyncClient)."""
    body, headers = _signed("call_completed")
    client = AsyncClient(enforce_csrf_checks=True)
    response = asyncio.run(
        client.post(url, body, content_type="application/json", headers=headers)
    )
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "type": "call_completed",
        "id": "call_completed_1",
        "via": via,
    }


def test_async_view_is_marked_as_coroutine_function() -> None:
    """The as_view() callable of an async handle_event is a coroutine function for Django."""
    from asgiref.sync import iscoroutinefunction

    assert iscoroutinefunction(views.AsyncWebhook.as_view())
    assert not iscoroutinefunction(views.SyncWebhook.as_view())
    assert iscoroutinefunction(views.async_function_webhook)


def test_forged_request_to_async_view_is_401_under_asgi() -> None:
    """The refusal of an async CBV is awaited correctly (a coroutine, not a response)."""
    body, _ = _signed()
    client = AsyncClient()
    response = asyncio.run(
        client.post(
            "/cbv-async/", body, content_type="application/json", headers={SIGNATURE_HEADER: "x"}
        )
    )
    assert response.status_code == 401
    assert views.CALLS == []


def test_middleware_in_async_stack_with_async_view() -> None:
    """The middleware runs natively async in front of an async view."""
    body, headers = _signed("missed_call")
    with override_settings(
        MIDDLEWARE=[MIDDLEWARE, *test_settings.MIDDLEWARE],
        BOLTCALL_WEBHOOK_PATHS=["/guarded-async/"],
    ):
        client = AsyncClient(enforce_csrf_checks=True)
        response = asyncio.run(
            client.post("/guarded-async/", body, content_type="application/json", headers=headers)
        )
    assert response.status_code == 200
    assert json.loads(response.content)["via"] == "middleware-async"


def test_middleware_is_sync_and_async_capable() -> None:
    """Django may build the middleware with either kind of get_response."""
    from asgiref.sync import iscoroutinefunction

    async def async_next(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def sync_next(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    with override_settings(BOLTCALL_WEBHOOK_PATHS=["/guarded/"]):
        assert iscoroutinefunction(BoltcallWebhookMiddleware(async_next))
        assert not iscoroutinefunction(BoltcallWebhookMiddleware(sync_next))
    assert BoltcallWebhookMiddleware.sync_capable
    assert BoltcallWebhookMiddleware.async_capable


# ---------------------------------------------------------------- middleware configuration


def test_middleware_leaves_other_paths_untouched() -> None:
    """Unguarded paths reach their views, any method, with no signature."""
    with override_settings(
        MIDDLEWARE=[MIDDLEWARE, *test_settings.MIDDLEWARE], BOLTCALL_WEBHOOK_PATHS=["/guarded/"]
    ):
        response = Client().get("/hello/")
    assert response.status_code == 200
    assert response.content == b"hello"


@pytest.mark.parametrize(
    "paths", [None, [], "/guarded/", ["guarded/"]], ids=["unset", "empty", "string", "relative"]
)
def test_middleware_needs_a_list_of_paths(paths: Any) -> None:
    """A missing, empty or mistyped BOLTCALL_WEBHOOK_PATHS is refused at start-up."""
    with override_settings(BOLTCALL_WEBHOOK_PATHS=paths), pytest.raises(ImproperlyConfigured):
        BoltcallWebhookMiddleware(lambda request: HttpResponse())


# ---------------------------------------------------------------- bodies and limits


def _wsgi_chunked(body: bytes) -> dict[str, Any]:
    """Environ of a chunked upload: no Content-Length, input terminated by the server."""
    return {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}


def test_chunked_upload_without_content_length_is_read_and_verified() -> None:
    """Under WSGI with a terminated input (gunicorn), a chunked genuine body is not lost."""
    body, headers = _signed()
    request = RequestFactory().post(
        "/function/", b"", content_type="application/json", headers=headers, **_wsgi_chunked(body)
    )
    response = views.function_webhook(request)
    assert response.status_code == 200
    assert request.body == body
    assert len(views.CALLS) == 1


def test_chunked_upload_over_the_cap_is_413_without_reading_it_all() -> None:
    """A chunked body over max_body_size is 413, and at most limit + 1 bytes are read."""
    limit = 1000
    calls: list[Event] = []

    @verify_webhook(SECRET, max_body_size=limit)
    def view(request: HttpRequest, event: Event) -> HttpResponse:
        calls.append(event)
        return HttpResponse()

    body = envelope("new_lead", {"id": "l_1", "message": "x" * 50_000})
    environ = _wsgi_chunked(body)
    request = RequestFactory().post(
        "/x/", b"", content_type="application/json", headers=signed_headers(body), **environ
    )
    response = view(request)
    assert response.status_code == 413
    assert environ["wsgi.input"].tell() <= limit + 1
    assert calls == []


def test_django_data_upload_limit_is_413() -> None:
    """Django's own DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig) is answered 413, not 400."""
    body, headers = _signed()
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=len(body) - 1):
        response = _post(Client(), "/function/", body, headers)
    assert response.status_code == 413
    assert json.loads(response.content) == {"error": "Payload too large"}
    assert views.CALLS == []


def test_invalid_content_length_is_400() -> None:
    """A Content-Length that is not a number is refused before reading."""
    body, headers = _signed()
    request = RequestFactory().post(
        "/x/", body, content_type="application/json", headers=headers, CONTENT_LENGTH="12x"
    )
    assert views.function_webhook(request).status_code == 400
    assert views.CALLS == []


def test_body_consumed_before_verification_is_500_not_acceptance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If something read the stream first, the request is refused (500, logged)."""
    body, headers = _signed()
    request = RequestFactory().post("/x/", body, content_type="application/json", headers=headers)
    request.read()
    response = views.function_webhook(request)
    assert response.status_code == 500
    assert views.CALLS == []
    assert "read before the webhook check" in caplog.text


def test_view_can_still_read_the_body_after_verification() -> None:
    """request.body is the verified raw bytes in the view (mixin with its own post)."""
    body, headers = _signed()
    response = _post(Client(), "/mixin/", body, headers)
    assert json.loads(response.content) == {"id": "new_lead_1", "bytes": len(body)}


# ---------------------------------------------------------------- errors and configuration


def test_exception_in_handle_event_is_500_not_401() -> None:
    """A bug in the receiver's own code is Django's 500, after the event was delivered."""
    body, headers = _signed()
    response = _post(Client(raise_request_exception=False), "/cbv-failing/", body, headers)
    assert response.status_code == 500
    assert len(views.CALLS) == 1


def test_exception_in_handle_event_propagates() -> None:
    """The exception is not swallowed or turned into a refusal."""
    body, headers = _signed()
    with pytest.raises(RuntimeError, match="own bug"):
        _post(Client(), "/cbv-failing/", body, headers)


def test_secret_from_settings_is_used() -> None:
    """Views with no secrets argument read settings.BOLTCALL_WEBHOOK_SECRET."""
    body, headers = _signed(secret=SETTINGS_SECRET)
    assert _post(Client(), "/cbv/", body, headers).status_code == 200
    _, other = _signed(secret=SECRET)
    assert _post(Client(), "/cbv/", body, other).status_code == 401


def test_changed_setting_is_picked_up() -> None:
    """A settings change (override_settings, a deploy) takes effect without a restart."""
    body, headers = _signed(secret=SECRET)
    with override_settings(BOLTCALL_WEBHOOK_SECRET=SECRET):
        assert _post(Client(), "/function/", body, headers).status_code == 200
    assert _post(Client(), "/function/", body, headers).status_code == 401


def test_argument_wins_over_settings() -> None:
    """An explicit secrets argument is used instead of the setting."""
    view = views.SyncWebhook.as_view(boltcall_secrets=SECRET)
    body = envelope("new_lead")
    request = RequestFactory().post(
        "/x/", body, content_type="application/json", headers=signed_headers(body, SECRET)
    )
    assert view(request).status_code == 200


def test_empty_setting_is_500(caplog: pytest.LogCaptureFixture) -> None:
    """An empty BOLTCALL_WEBHOOK_SECRET setting is a logged 500, never acceptance."""
    body, headers = _signed()
    with override_settings(BOLTCALL_WEBHOOK_SECRET=""):
        response = _post(Client(), "/cbv/", body, headers)
    assert response.status_code == 500
    assert views.CALLS == []
    assert any(record.levelname == "ERROR" for record in caplog.records)


def test_405_names_post_in_allow_header() -> None:
    """A GET is 405 with Allow: POST."""
    response = Client().get("/cbv/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_bare_decorator_and_unknown_option() -> None:
    """@verify_webhook without parentheses works; an unknown option is a TypeError."""

    @verify_webhook
    def view(request: HttpRequest, event: Event) -> HttpResponse:
        return HttpResponse(event.type)

    body, headers = _signed()
    request = RequestFactory().post("/x/", body, content_type="application/json", headers=headers)
    assert view(request).content == b"new_lead"
    with pytest.raises(TypeError, match="max_size"):
        verify_webhook(SECRET, max_size=10)


def test_handle_event_must_be_implemented() -> None:
    """A BoltcallWebhookView with neither handle_event nor router= fails when it is built."""
    with pytest.raises(TypeError, match="handle_event"):
        BoltcallWebhookView.as_view()


def test_missing_django_gives_an_install_hint() -> None:
    """Without Django, importing the adapter names the extra to install."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['django'] = None\n"
        "try:\n    import boltcall_webhooks.django\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "boltcall-webhooks[django]"' in result.stdout


def test_secrets_as_keyword_argument() -> None:
    """verify_webhook(secrets=...) works as documented."""

    @verify_webhook(secrets=SECRET, max_body_size=10_000)
    def view(request: HttpRequest, event: Event) -> HttpResponse:
        return HttpResponse(event.type)

    body = envelope("new_lead")
    request = RequestFactory().post(
        "/x/", body, content_type="application/json", headers=signed_headers(body)
    )
    assert view(request).content == b"new_lead"


def test_mixin_with_async_post_under_asgi() -> None:
    """The mixin on a view with its own async post(): refusals are awaited, events delivered."""
    from django.views import View

    from boltcall_webhooks.django import BoltcallWebhookMixin

    seen: list[Event] = []

    class AsyncRaw(BoltcallWebhookMixin, View):
        async def post(self, request: HttpRequest) -> HttpResponse:
            seen.append(self.event)
            return HttpResponse(str(len(request.body)))

    view = AsyncRaw.as_view(boltcall_secrets=SECRET)
    body = envelope("review_received")

    async def run(headers: dict[str, str]) -> HttpResponse:
        request = RequestFactory().post(
            "/x/", body, content_type="application/json", headers=headers
        )
        response: HttpResponse = await view(request)
        return response

    assert asyncio.run(run(signed_headers(body))).content == str(len(body)).encode()
    assert asyncio.run(run({SIGNATURE_HEADER: "0" * 64})).status_code == 401
    assert len(seen) == 1


def test_client_leaving_mid_body_is_400_not_500() -> None:
    """A body cut short by the client (UnreadablePostError) is a 400; the view never runs."""

    class Leaving(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise ConnectionResetError("reset by peer")

    body, headers = _signed()
    request = RequestFactory().post(
        "/function/", b"", content_type="application/json", headers=headers,
        CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BufferedReader(Leaving())},
    )  # fmt: skip
    response = views.function_webhook(request)
    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "Client disconnected"}
    assert views.CALLS == []
