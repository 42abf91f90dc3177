"""Spellings of a guarded path through real gunicorn and Django, sent with raw sockets.

A small Django site (written to a temporary folder) has the URL patterns
whose other spellings reached the view behind 0.1.0's
``BoltcallWebhookMiddleware``: a ``re_path`` with an optional slash, one
without ``$``, a ``(?i)`` one, next to a plain ``path()``, an ``include()``
and a path converter. gunicorn serves it with and without ``SCRIPT_NAME``;
requests go over raw sockets so that no client normalises the target. Each
view appends to a record file, which must stay empty of forged requests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import pathlib
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("django")
pytest.importorskip("gunicorn")

from adapters.path_spellings import REGRESSIONS, spellings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boltcall_webhooks import SECRET_ENV_VAR, SIGNATURE_HEADER, sign

from .deliveries import SECRET, envelope
from .gunicorn_util import run_gunicorn

pytestmark = pytest.mark.servers

FORGED = envelope("new_lead", "lead_FORGED")
GUARDED = [
    "/webhooks/boltcall/",
    "/re/boltcall/",
    "/prefix/boltcall/",
    "/ci/boltcall/",
    "/hooks/boltcall/",
    "/inc/hook/",
]

SETTINGS_MODULE = f'''
"""Settings and URLconf of the path-guard test site."""
import os

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

SECRET_KEY = "path-guard-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "pathguard_settings"
USE_TZ = True
DATABASES = {{}}
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = [
    "boltcall_webhooks.django.BoltcallWebhookMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
BOLTCALL_WEBHOOK_PATHS = {GUARDED!r}


def _record(request):
    with open(os.environ["PATH_GUARD_RECORD"], "a", encoding="utf-8") as record:
        record.write(repr(request.path_info) + "\\n")


@csrf_exempt
def view(request, **kwargs):
    _record(request)
    return JsonResponse({{"reached": True}})


@csrf_exempt
def lenient_view(request, provider):
    if provider.strip().casefold() == "boltcall":
        _record(request)
    return JsonResponse({{"reached": True}})


urlpatterns = [
    path("webhooks/boltcall/", view),
    re_path(r"^re/boltcall/?$", view),
    re_path(r"^prefix/boltcall", view),
    re_path(r"(?i)^ci/boltcall/$", view),
    path("hooks/<str:provider>/", lenient_view),
    path("inc/", include([path("hook/", view)])),
]
'''

WSGI_MODULE = """
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
"""


@dataclass
class Server:
    """A running gunicorn: where it listens, its SCRIPT_NAME and its record file."""

    host: str
    port: int
    script_name: str
    record: pathlib.Path

    def recorded(self) -> list[str]:
        """The paths the views recorded, so far."""
        return self.record.read_text("utf-8").splitlines()


@contextlib.contextmanager
def _serve(factory: pytest.TempPathFactory, script_name: str) -> Iterator[Server]:
    workdir = factory.mktemp("pathguard-django")
    (workdir / "pathguard_settings.py").write_text(SETTINGS_MODULE, "utf-8")
    (workdir / "pathguard_wsgi.py").write_text(WSGI_MODULE, "utf-8")
    record = workdir / "record.txt"
    record.write_text("", "utf-8")
    env = {
        SECRET_ENV_VAR: SECRET,
        "DJANGO_SETTINGS_MODULE": "pathguard_settings",
        "PATH_GUARD_RECORD": str(record),
        "SCRIPT_NAME": script_name,
    }
    with run_gunicorn("pathguard_wsgi:application", env=env, cwd=workdir) as url:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        assert parts.port is not None
        yield Server(parts.hostname, parts.port, script_name, record)


@pytest.fixture(scope="module", params=["", "/app"], ids=["no-script-name", "script-name"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The site under gunicorn (one sync worker), with or without SCRIPT_NAME."""
    with _serve(tmp_path_factory, request.param) as running:
        yield running


def send_raw(
    server: Server, target: str, body: bytes = FORGED, signature: str = "0" * 64
) -> tuple[int, bytes]:
    """POST ``body`` to SCRIPT_NAME + ``target`` exactly as written; (status, body)."""
    head = (
        f"POST {server.script_name}{target} HTTP/1.1\r\n"
        f"Host: {server.host}:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"{SIGNATURE_HEADER}: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head.encode("ascii") + body)
        response = http.client.HTTPResponse(sock)  # parses chunked answers too
        response.begin()
        return response.status, response.read()


def _assert_refused(server: Server, target: str) -> None:
    before = server.recorded()
    status, payload = send_raw(server, target)
    assert server.recorded() == before, f"forged POST {target!r} reached the view ({status})"
    assert not 200 <= status < 300, (target, status, payload)


@pytest.mark.parametrize("guarded", GUARDED)
def test_a_newline_is_an_invalid_path(server: Server, guarded: str) -> None:
    """POST <guarded path>%0A with a forged signature: 400 Invalid path, no view runs."""
    status, payload = send_raw(server, guarded + "%0A")
    assert (status, json.loads(payload)) == (400, {"error": "Invalid path"})
    assert server.recorded() == []


@pytest.mark.parametrize("guarded", GUARDED)
@pytest.mark.parametrize("template", REGRESSIONS)
def test_regression_spellings_never_reach_a_view(
    server: Server, guarded: str, template: str
) -> None:
    """The hand-picked spellings on every guarded pattern."""
    _assert_refused(server, template.format(path=guarded))


@pytest.mark.parametrize("target", ["/re/boltcall", "/prefix/boltcall/x", "/CI/BOLTCALL/"])
def test_spellings_the_resolver_accepts_are_refused(server: Server, target: str) -> None:
    """Spellings that Django's resolver does send to the view (0.1.0 let them through): 401."""
    status, _ = send_raw(server, target)
    assert status == 401
    assert server.recorded() == []


@st.composite
def _targets(draw: st.DrawFn) -> str:
    return draw(spellings(draw(st.sampled_from(GUARDED))))


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=_targets())
def test_drawn_spellings_never_reach_a_view(server: Server, target: str) -> None:
    """A reproducible sample of the property test's spellings (the fixture is per module)."""
    _assert_refused(server, target)


def test_a_genuine_delivery_still_reaches_the_view(server: Server) -> None:
    """Positive control: the exact path with a good signature runs the view (recorded)."""
    body = envelope("new_lead", "lead_genuine")
    before = server.recorded()
    status, payload = send_raw(server, "/re/boltcall/", body, sign(body, SECRET))
    assert (status, json.loads(payload)) == (200, {"reached": True})
    assert server.recorded() == [*before, repr("/re/boltcall/")]
