"""The ready endpoints with ``router=`` under real servers, on 127.0.0.1.

Flask and Django (WSGI) run under gunicorn with threaded workers, Starlette,
FastAPI and Django (ASGI) under uvicorn. Each server imports small apps written
by this module into its working directory (the installed ``boltcall_webhooks``
serves them): a router of plain and ``async def`` handlers over the five event
types, unknown types and ``on_any``, and a router whose handlers fail. Every
handler call appends one line to a ledger file (one ``os.write`` on an
``O_APPEND`` descriptor, safe across processes and threads), which the test
reads to check that each delivery reached exactly its handlers, once each.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("httpx")

import httpx

from boltcall_webhooks import SECRET_ENV_VAR, SIGNATURE_HEADER, sign

from .deliveries import SECRET, TIMEOUT, envelope
from .gunicorn_util import run_gunicorn
from .uvicorn_util import run_uvicorn

pytestmark = pytest.mark.servers

LEDGER_VAR = "BOLTCALL_ROUTER_LEDGER"
EXPECTED: dict[str, list[str]] = {
    "new_lead": ["leads", "audit"],
    "missed_call": ["calls", "audit"],
    "call_completed": ["calls", "audit"],
    "appointment_booked": ["appointments", "audit"],
    "review_received": ["reviews", "audit"],
    "invoice_paid": ["unknown", "audit"],  # unknown to this version: an UnknownEvent
}

COMMON = '''
"""Routers whose handlers write to the ledger file named by BOLTCALL_ROUTER_LEDGER."""
import asyncio
import json
import os
import threading

from boltcall_webhooks import (
    CallCompletedEvent, MissedCallEvent, NewLeadEvent, ReviewReceivedEvent, Router, UnknownEvent,
)

_FD = os.open(os.environ["BOLTCALL_ROUTER_LEDGER"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def record(handler, event):
    line = [handler, event.type, event.raw["data"].get("id"), os.getpid(), threading.get_ident()]
    os.write(_FD, (json.dumps(line) + "\\n").encode())


def make_router():
    router = Router()

    @router.on(NewLeadEvent, name="leads")
    def leads(event):
        record("leads", event)

    @router.on(MissedCallEvent, CallCompletedEvent, name="calls")
    async def calls(event):
        await asyncio.sleep(0.001)
        record("calls", event)

    @router.on("appointment_booked", name="appointments")
    def appointments(event):
        record("appointments", event)

    @router.on(ReviewReceivedEvent, name="reviews")
    async def reviews(event):
        record("reviews", event)

    @router.on(UnknownEvent, name="unknown")
    def unknown(event):
        record("unknown", event)

    @router.on_any(name="audit")
    async def audit(event):
        record("audit", event)

    return router


class HandlerBoom(Exception):
    pass


def failing_router():
    router = Router()

    @router.on(NewLeadEvent, name="breaks_sync")
    def breaks_sync(event):
        record("breaks_sync", event)
        raise HandlerBoom("sync handler failed")

    @router.on_any(name="still_runs")
    def still_runs(event):
        record("still_runs", event)

    @router.on(NewLeadEvent, name="breaks_async")
    async def breaks_async(event):
        record("breaks_async", event)
        raise HandlerBoom("async handler failed")

    return router
'''

FLASK = """
from flask import Flask

from boltcall_webhooks.flask import webhook_view
from router_common import failing_router, make_router

app = Flask(__name__)
app.add_url_rule("/router", view_func=webhook_view(router=make_router()), methods=["POST"])
app.add_url_rule(
    "/fail", endpoint="fail", view_func=webhook_view(router=failing_router()), methods=["POST"]
)
"""

DJANGO = """
import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="router-endpoint-tests-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
    DATABASES={},
    INSTALLED_APPS=[],
    USE_TZ=True,
    BOLTCALL_WEBHOOK_SECRET=os.environ["BOLTCALL_WEBHOOK_SECRET"],
)
django.setup()

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.urls import path

from boltcall_webhooks.django import BoltcallWebhookView
from router_common import failing_router, make_router

_router, _failing = make_router(), failing_router()
urlpatterns = [
    path("router/", BoltcallWebhookView.as_view(router=_router)),
    path("router-async/", BoltcallWebhookView.as_view(router=_router, boltcall_async=True)),
    path("fail/", BoltcallWebhookView.as_view(router=_failing)),
    path("fail-async/", BoltcallWebhookView.as_view(router=_failing, boltcall_async=True)),
]
wsgi_app = get_wsgi_application()
asgi_app = get_asgi_application()
"""

ASGI = """
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Route

from boltcall_webhooks.starlette import webhook_endpoint
from router_common import failing_router, make_router

starlette_app = Starlette(
    routes=[
        Route("/router", webhook_endpoint(router=make_router()), methods=["POST"]),
        Route("/fail", webhook_endpoint(router=failing_router()), methods=["POST"]),
    ]
)
fastapi_app = FastAPI()
fastapi_app.add_api_route("/router", webhook_endpoint(router=make_router()), methods=["POST"])
fastapi_app.add_api_route("/fail", webhook_endpoint(router=failing_router()), methods=["POST"])
"""

THREADED = ["--worker-class", "gthread", "--workers", "2", "--threads", "4"]
# name: (server, "module:app", router path, failing path)
TARGETS: dict[str, tuple[str, str, str, str]] = {
    "flask-gunicorn": ("gunicorn", "router_flask:app", "/router", "/fail"),
    "django-gunicorn": ("gunicorn", "router_django:wsgi_app", "/router/", "/fail/"),
    "django-gunicorn-async-view": (
        "gunicorn",
        "router_django:wsgi_app",
        "/router-async/",
        "/fail-async/",
    ),
    "starlette-uvicorn": ("uvicorn", "router_asgi:starlette_app", "/router", "/fail"),
    "fastapi-uvicorn": ("uvicorn", "router_asgi:fastapi_app", "/router", "/fail"),
    "django-uvicorn": ("uvicorn", "router_django:asgi_app", "/router-async/", "/fail-async/"),
    "django-uvicorn-sync-view": ("uvicorn", "router_django:asgi_app", "/router/", "/fail/"),
}


class Served:
    """One server: its base URL, its paths, its ledger and its log."""

    def __init__(self, base: str, target: str, ledger: pathlib.Path, log: pathlib.Path) -> None:
        self.base = base
        _, _, self.router_path, self.fail_path = TARGETS[target]
        self.target = target
        self.ledger = ledger
        self.log = log

    def post(self, path: str, body: bytes, secret: str = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
        return httpx.post(self.base + path, content=body, headers=headers, timeout=TIMEOUT)

    def calls(self, prefix: str) -> list[list[Any]]:
        """The ledger lines whose event id starts with ``prefix``."""
        lines = [json.loads(line) for line in self.ledger.read_text().splitlines()]
        return [line for line in lines if str(line[2]).startswith(prefix)]


@pytest.fixture(scope="module", params=list(TARGETS))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """Each target's server, on its own working directory holding the apps."""
    target: str = request.param
    server, app, _, _ = TARGETS[target]
    workdir = tmp_path_factory.mktemp(target)
    for name, text in (
        ("router_common", COMMON),
        ("router_flask", FLASK),
        ("router_django", DJANGO),
        ("router_asgi", ASGI),
    ):
        (workdir / f"{name}.py").write_text(text)
    ledger = workdir / "ledger.jsonl"
    ledger.touch()
    log = workdir / "server.log"
    env = {SECRET_ENV_VAR: SECRET, LEDGER_VAR: str(ledger)}
    if server == "gunicorn":
        runner = run_gunicorn(app, env=env, cwd=workdir, args=THREADED, log_path=log)
    else:
        args = ["--lifespan", "off"] if "django" in app else []
        runner = run_uvicorn(app, env=env, cwd=workdir, args=args, log_path=log)
    with runner as base:
        yield Served(base, target, ledger, log)


def test_every_type_reaches_its_handlers_exactly_once(served: Served) -> None:
    """Five event types and an unknown one, each to the right handlers, once each."""
    prefix = f"{served.target}-all-"
    for event_type in EXPECTED:
        body = envelope(event_type, f"{prefix}{event_type}")
        response = served.post(served.router_path, body)
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True}
    calls = served.calls(prefix)
    seen = Counter((handler, event_type, event_id) for handler, event_type, event_id, *_ in calls)
    expected = Counter(
        (handler, event_type, f"{prefix}{event_type}")
        for event_type, handlers in EXPECTED.items()
        for handler in handlers
    )
    assert seen == expected


def test_concurrent_deliveries_each_run_once(served: Served) -> None:
    """Thirty deliveries at once (threads and workers share them): each handler ran once each."""
    prefix = f"{served.target}-many-"
    types = list(EXPECTED)
    bodies = [envelope(types[n % len(types)], f"{prefix}{n:03d}") for n in range(30)]

    def send(body: bytes) -> int:
        return served.post(served.router_path, body).status_code

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(send, bodies))
    assert statuses == [200] * len(bodies)
    seen = Counter((handler, event_id) for handler, _, event_id, *_ in served.calls(prefix))
    expected = Counter(
        (handler, f"{prefix}{n:03d}")
        for n in range(len(bodies))
        for handler in EXPECTED[types[n % len(types)]]
    )
    assert seen == expected


def test_forged_deliveries_run_no_handler(served: Served) -> None:
    """Wrong secret, no signature, a tampered body: 401 and the ledger has nothing of them."""
    prefix = f"{served.target}-forged-"
    body = envelope("new_lead", f"{prefix}1")
    assert served.post(served.router_path, body, "whsec_attacker").status_code == 401
    response = httpx.post(served.base + served.router_path, content=body, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (401, {"error": "Missing signature"})
    tampered = body.replace(b"new_lead", b"missed_call")
    headers = {SIGNATURE_HEADER: sign(body, SECRET)}
    response = httpx.post(
        served.base + served.router_path, content=tampered, headers=headers, timeout=TIMEOUT
    )
    assert response.status_code == 401
    assert httpx.get(served.base + served.router_path, timeout=TIMEOUT).status_code == 405
    assert served.calls(prefix) == []


def test_a_failing_handler_is_500_logged_and_the_others_run(served: Served) -> None:
    """Two handlers raise: 500, the third ran, the server log has both tracebacks."""
    event_id = f"{served.target}-fail-1"
    body = envelope("new_lead", event_id)
    response = served.post(served.fail_path, body)
    assert (response.status_code, response.json()) == (500, {"error": "Handler failed"})
    ran = sorted(handler for handler, *_ in served.calls(event_id))
    assert ran == ["breaks_async", "breaks_sync", "still_runs"]
    deadline = time.monotonic() + 5
    log = ""
    while time.monotonic() < deadline:
        log = served.log.read_text("utf-8", "replace")
        if "async handler failed" in log and "sync handler failed" in log:
            break
        time.sleep(0.1)
    for name in ("breaks_sync", "breaks_async"):
        assert f"Webhook handler {name} failed on 'new_lead' event '{event_id}'" in log, log
    assert "HandlerBoom: sync handler failed" in log
    assert "HandlerBoom: async handler failed" in log
    assert SECRET not in log
    assert body.decode() not in log
