"""A forged body never reaches a view through another spelling of a guarded path (Django).

The ASGI middleware of 0.1.0 compared exact strings and let ``/path%0A``
through (Starlette's ``$`` matches before a final newline). Django's own
resolver is stricter (``path()`` ends its regex with ``\\Z``; a ``re_path``
ending in ``$`` is matched with ``fullmatch``), but a ``re_path`` written
``r"^re/boltcall/?$"``, ``(?i)`` or without ``$`` sends other spellings to
the view, and 0.1.0's middleware (``request.path_info in paths``) let a forged
POST to ``/re/boltcall`` or ``/prefix/boltcall/%0A`` reach it.

The URLconf below has those patterns, ``include()``, a path converter with a
lenient view, all CSRF-exempt (as webhook views often are, so that no CSRF
403 hides a bypass). Requests are WSGI environs built the way gunicorn builds
them from a raw request target (``PATH_INFO`` percent-decoded, ``SCRIPT_NAME``
stripped), sent through Django's test client handler.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.test.client import FakePayload
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from boltcall_webhooks import SIGNATURE_HEADER, sign

from ..contract import envelope  # noqa: TID252
from ..path_spellings import REGRESSIONS, spellings  # noqa: TID252
from . import settings as test_settings

view_calls: list[str] = []
open_calls: list[str] = []
FORGED = envelope("new_lead", {"id": "lead_FORGED"})
SECRET = test_settings.BOLTCALL_WEBHOOK_SECRET


@csrf_exempt
def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """A webhook view guarded only by the middleware; records every call."""
    view_calls.append(request.path_info)
    return JsonResponse({"reached": True})


@csrf_exempt
def lenient_view(request: HttpRequest, provider: str) -> HttpResponse:
    """A view behind a path converter that is lenient about the value's spelling."""
    if provider.strip().casefold() == "boltcall":
        view_calls.append(request.path_info)
    return JsonResponse({"reached": True})


@csrf_exempt
def open_view(request: HttpRequest) -> HttpResponse:
    """An unguarded view: the middleware must leave it alone."""
    open_calls.append(request.path_info)
    return JsonResponse({"open": True})


urlpatterns = [
    path("webhooks/boltcall/", view),
    re_path(r"^re/boltcall/?$", view),
    re_path(r"^prefix/boltcall", view),
    re_path(r"(?i)^ci/boltcall/$", view),
    path("hooks/<str:provider>/", lenient_view),
    path("inc/", include([path("hook/", view)])),
    path("open/", open_view),
]

GUARDED = [
    "/webhooks/boltcall/",
    "/re/boltcall/",
    "/prefix/boltcall/",
    "/ci/boltcall/",
    "/hooks/boltcall/",
    "/inc/hook/",
]
MIDDLEWARE = [
    "boltcall_webhooks.django.BoltcallWebhookMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
SCRIPT_NAMES = ["", "/app"]
GUARD = override_settings(
    ROOT_URLCONF=__name__, MIDDLEWARE=MIDDLEWARE, BOLTCALL_WEBHOOK_PATHS=GUARDED
)
NO_GUARD = override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=MIDDLEWARE[1:])


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    view_calls.clear()
    open_calls.clear()
    yield
    view_calls.clear()
    open_calls.clear()


def environ(
    target: str, *, script_name: str = "", body: bytes = FORGED, signature: str = "0" * 64
) -> dict[str, Any]:
    """The WSGI environ gunicorn builds for ``POST target`` (``SCRIPT_NAME`` set)."""
    raw_path, _, query = target.partition("?")
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": script_name,
        "PATH_INFO": urllib.parse.unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_"): signature,
        "wsgi.input": FakePayload(body),
    }


def post(target: str, *, script_name: str = "", **options: Any) -> int:
    """Send the request through a fresh test client (middleware loaded now); the status."""
    response = Client().request(**environ(target, script_name=script_name, **options))
    status: int = response.status_code
    return status


def _assert_never_reached(target: str, script_name: str) -> int:
    view_calls.clear()
    status = post(target, script_name=script_name)
    assert view_calls == [], f"forged POST {target!r} (SCRIPT_NAME {script_name!r}) -> {status}"
    assert not 200 <= status < 300, (target, status)
    return status


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str]:
    return draw(spellings(draw(st.sampled_from(GUARDED)))), draw(st.sampled_from(SCRIPT_NAMES))


@GUARD
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
@example(("/re/boltcall", ""))
@example(("/prefix/boltcall/%0A", ""))
@example(("/prefix/boltcall/x", "/app"))
@example(("/CI/BOLTCALL/", ""))
@example(("/hooks/boltcall%0A/", ""))
def test_a_forged_body_never_reaches_a_view(request_: tuple[str, str]) -> None:
    """Any spelling of a guarded path, with or without SCRIPT_NAME: no view runs."""
    _assert_never_reached(*request_)


@GUARD
@settings(max_examples=300, deadline=None)
@given(_requests())
def test_the_middleware_answers_every_spelling_itself(request_: tuple[str, str]) -> None:
    """Every drawn spelling is refused by the middleware itself: 400 Invalid path with a
    control or invisible character, else 401 for the forged signature (never a 404 or a
    redirect, which would leave the decision to the resolver)."""
    target, script_name = request_
    assert post(target, script_name=script_name) in {400, 401}, request_


@GUARD
@pytest.mark.parametrize("guarded", GUARDED)
@pytest.mark.parametrize("template", REGRESSIONS)
def test_regression_spellings_never_reach_a_view(guarded: str, template: str) -> None:
    """The hand-picked spellings on every guarded path, with and without SCRIPT_NAME."""
    for script_name in SCRIPT_NAMES:
        _assert_never_reached(template.format(path=guarded), script_name)


@GUARD
@pytest.mark.parametrize("guarded", GUARDED)
def test_a_newline_is_an_invalid_path(guarded: str) -> None:
    """A path with %0A near a guarded path: 400 {"error": "Invalid path"}, signed or not."""
    for target in (guarded + "%0A", guarded.rstrip("/") + "%0A/"):
        response = Client().request(**environ(target))
        assert response.status_code == 400
        assert response.json() == {"error": "Invalid path"}
        body = envelope("new_lead")
        response = Client().request(**environ(target, body=body, signature=sign(body, SECRET)))
        assert response.status_code == 400
    assert view_calls == []


@GUARD
@pytest.mark.parametrize("guarded", GUARDED)
@pytest.mark.parametrize("script_name", SCRIPT_NAMES)
def test_a_genuine_delivery_on_the_exact_path_still_reaches_the_view(
    guarded: str, script_name: str
) -> None:
    """Positive control: the exact path with a good signature runs the view once."""
    body = envelope("new_lead")
    status = post(guarded, script_name=script_name, body=body, signature=sign(body, SECRET))
    assert status == 200
    assert view_calls == [guarded]


@GUARD
@pytest.mark.parametrize(
    "target", ["/prefix/boltcall/x", "/prefix/boltcallx", "/re/boltcall", "/CI/BOLTCALL/"]
)
def test_what_the_resolver_sends_to_a_guarded_pattern_is_verified(target: str) -> None:
    """Spellings only the resolver knows (an unanchored or optional-slash re_path): a
    genuine delivery is verified and handled, a forged one is 401."""
    assert post(target) == 401
    body = envelope("new_lead")
    assert post(target, body=body, signature=sign(body, SECRET)) == 200
    assert view_calls == [target]


@GUARD
@pytest.mark.parametrize("target", ["/open/", "/hooks/stripe/", "/open/%0A", "/inc/other/"])
def test_other_paths_pass_untouched(target: str) -> None:
    """Unguarded paths, another value of the guarded path converter, a control character
    far from any guarded path: the middleware does not answer them."""
    status = post(target)
    assert status in {200, 404}, (target, status)
    if target == "/open/":
        assert open_calls == ["/open/"]


@NO_GUARD
@pytest.mark.parametrize(
    ("target", "reached"),
    [
        ("/re/boltcall", "/re/boltcall"),
        ("/prefix/boltcall/%0A", "/prefix/boltcall/\n"),
        ("/prefix/boltcall/x", "/prefix/boltcall/x"),
        ("/CI/BOLTCALL/", "/CI/BOLTCALL/"),
    ],
)
def test_django_does_route_these_spellings_to_the_view(target: str, reached: str) -> None:
    """Positive control: without the middleware the resolver sends these forged
    requests to the view, which is why the property above can fail."""
    assert post(target) == 200
    assert view_calls == [reached]


@GUARD
@pytest.mark.parametrize("template", ["{path}%0A", "{path};x", "{path}%00"])
@pytest.mark.parametrize("guarded", ["/re/boltcall/", "/prefix/boltcall/", "/inc/hook/"])
def test_async_stack_never_reaches_a_view(guarded: str, template: str) -> None:
    """The same under Django's ASGI handler (AsyncClient): the middleware runs async."""

    async def main() -> int:
        client: Any = AsyncClient()
        response = await client.post(
            template.format(path=guarded),
            FORGED,
            content_type="application/json",
            headers={SIGNATURE_HEADER: "0" * 64},
        )
        status: int = response.status_code
        return status

    status = asyncio.run(main())
    assert view_calls == []
    assert status in {400, 401}
