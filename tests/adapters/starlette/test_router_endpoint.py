"""``boltcall_webhooks.starlette.webhook_endpoint``: the ready endpoint in Starlette and FastAPI.

Each case runs against a Starlette ``Route`` and a FastAPI ``add_api_route``,
through Starlette's TestClient (the app runs on an event loop in a thread of
its own, as under uvicorn).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from boltcall_webhooks import SECRET_ENV_VAR, Event, Router
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware, webhook_endpoint

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
from ._apps import TestClient

PATH = "/webhooks/boltcall"


def _starlette(router: Router, **kwargs: Any) -> Any:
    return Starlette(
        routes=[Route(PATH, webhook_endpoint(router=router, **kwargs), methods=["POST"])]
    )


def _fastapi(router: Router, **kwargs: Any) -> Any:
    app = FastAPI()
    app.add_api_route(PATH, webhook_endpoint(router=router, **kwargs), methods=["POST"])
    return app


APPS: dict[str, Callable[..., Any]] = {"starlette": _starlette, "fastapi": _fastapi}


@pytest.fixture(params=list(APPS))
def build(request: pytest.FixtureRequest) -> Callable[..., TestClient]:
    """A TestClient over a Starlette or a FastAPI app serving the endpoint."""

    def make(router: Router, **kwargs: Any) -> TestClient:
        return TestClient(APPS[request.param](router, **kwargs))

    return make


def test_every_type_reaches_its_handlers_once(build: Callable[..., TestClient]) -> None:
    """Five event types and an unknown one: each reaches its handlers (sync and async), once."""
    ledger = Ledger()
    with build(make_router(ledger), secrets=SECRET) as client:
        for _, body in deliveries():
            response = client.post(PATH, content=body, headers=signed_headers(body))
            assert response.status_code == 200
            assert response.json() == RECEIVED
            assert response.headers["content-type"] == "application/json"
    check_ledger(ledger)


def test_sync_handlers_never_run_on_the_event_loop(build: Callable[..., TestClient]) -> None:
    """Plain handlers run in worker threads; ``async def`` ones on the loop's thread."""
    ledger = Ledger()
    loop_threads: set[int] = set()
    router = make_router(ledger)

    @router.on_any(name="loop_probe")
    async def loop_probe(event: Event) -> None:
        loop_threads.add(threading.get_ident())

    with build(router, secrets=SECRET) as client:
        for _, body in deliveries():
            assert client.post(PATH, content=body, headers=signed_headers(body)).status_code == 200
    assert len(loop_threads) == 1
    sync_threads = set().union(*(ledger.threads[h] for h in ("leads", "appointments", "unknown")))
    assert not sync_threads & loop_threads
    assert ledger.threads["audit"] == loop_threads


def test_a_failing_handler_is_500_logged_and_the_others_run(
    build: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Two handlers raise: 500, the third still ran, one ERROR record with traceback each."""
    ledger = Ledger()
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    with (
        build(failing_router(ledger), secrets=SECRET) as client,
        caplog.at_level(logging.ERROR, logger="boltcall_webhooks"),
    ):
        response = client.post(PATH, content=body, headers=signed_headers(body))
    assert response.status_code == 500
    assert response.json() == HANDLER_FAILED
    assert sorted(h for h, _, _ in ledger.calls) == ["breaks_async", "breaks_sync", "still_runs"]
    check_failure_log(caplog.records, body)


def test_forged_and_refused_deliveries_run_no_handler(build: Callable[..., TestClient]) -> None:
    """The middleware's refusals, as ``{"error": ...}`` in both frameworks; no handler runs."""
    ledger = Ledger()
    with build(make_router(ledger), secrets=SECRET, max_body_size=200) as client:
        body = envelope("new_lead")
        forged = client.post(PATH, content=body, headers=signed_headers(body, OTHER_SECRET))
        assert (forged.status_code, forged.json()) == (401, {"error": "Invalid signature"})
        missing = client.post(PATH, content=body, headers={"Content-Type": "application/json"})
        assert (missing.status_code, missing.json()) == (401, {"error": "Missing signature"})
        big = envelope("new_lead", {"id": "x" * 300})
        too_big = client.post(PATH, content=big, headers=signed_headers(big))
        assert (too_big.status_code, too_big.json()) == (413, {"error": "Payload too large"})
        chunks = iter([big[:100], big[100:]])
        streamed = client.post(PATH, content=chunks, headers=signed_headers(big))
        assert streamed.status_code == 413
        not_envelope = b'["not", "an", "envelope"]'
        reply = client.post(PATH, content=not_envelope, headers=signed_headers(not_envelope))
        assert (reply.status_code, reply.json()) == (400, {"error": "Invalid payload"})
        assert client.get(PATH).status_code == 405
    assert ledger.calls == []


def test_secrets_come_from_the_environment_by_default(
    build: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``secrets=``: ``BOLTCALL_WEBHOOK_SECRET``, else 500 (never accepted)."""
    ledger = Ledger()
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
    with build(make_router(ledger)) as client:
        refused = client.post(PATH, content=body, headers=signed_headers(body))
        assert (refused.status_code, refused.json()) == (
            500,
            {"error": "Webhook receiver misconfigured"},
        )
        monkeypatch.setenv(SECRET_ENV_VAR, SECRET)
        assert client.post(PATH, content=body, headers=signed_headers(body)).status_code == 200
    assert [h for h, _, _ in ledger.calls] == ["leads", "audit"]


def test_behind_the_middleware_the_event_is_verified_once() -> None:
    """Under BoltcallWebhookMiddleware the endpoint uses its event (the body was read once)."""
    ledger = Ledger()
    app = Starlette(
        routes=[
            Route(
                PATH,
                webhook_endpoint(router=make_router(ledger), secrets=SECRET),
                methods=["POST"],
            )
        ],
        middleware=[Middleware(BoltcallWebhookMiddleware, paths=[PATH], secrets=SECRET)],
    )
    with TestClient(app) as client:
        for _, body in deliveries():
            assert client.post(PATH, content=body, headers=signed_headers(body)).status_code == 200
        forged = envelope("new_lead")
        assert (
            client.post(
                PATH, content=forged, headers=signed_headers(forged, OTHER_SECRET)
            ).status_code
            == 401
        )
    check_ledger(ledger)


def test_fastapi_sees_only_the_request_parameter() -> None:
    """FastAPI adds no query or body parameter for the endpoint (its OpenAPI has none)."""
    app = _fastapi(Router(), secrets=SECRET)
    operation = app.openapi()["paths"][PATH]["post"]
    assert "parameters" not in operation
    assert "requestBody" not in operation


def test_construction_errors() -> None:
    """Exactly one of router=/inbox=, a real Router, known options, usable secrets."""
    check_construction_errors(webhook_endpoint)


def test_the_middleware_judges_each_spelling_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Path verdicts are cached per (path, raw_path, root_path), bounded, and never differ."""
    from boltcall_webhooks import starlette as adapter

    ledger = Ledger()
    app = Starlette(
        routes=[
            Route(
                PATH,
                webhook_endpoint(router=make_router(ledger), secrets=SECRET),
                methods=["POST"],
            ),
            Route("/other", webhook_endpoint(router=Router(), secrets=SECRET), methods=["POST"]),
        ],
        middleware=[Middleware(BoltcallWebhookMiddleware, paths=["/guarded"], secrets=SECRET)],
    )
    with TestClient(app) as client:
        middleware: Any = app.middleware_stack
        while not isinstance(middleware, BoltcallWebhookMiddleware):
            middleware = middleware.app
        judged: list[tuple[object, object, object]] = []
        judge = BoltcallWebhookMiddleware._judge

        def counting(self: Any, path: object, raw_path: object, root: object) -> Any:
            judged.append((path, raw_path, root))
            return judge(self, path, raw_path, root)

        monkeypatch.setattr(BoltcallWebhookMiddleware, "_judge", counting)
        body = envelope("new_lead", {"id": "new_lead_router_1"})
        for _ in range(3):
            for path in (PATH, "/other"):
                assert (
                    client.post(path, content=body, headers=signed_headers(body)).status_code
                    == 200
                )
            forged = client.post(
                "/guarded", content=body, headers=signed_headers(body, OTHER_SECRET)
            )
            assert forged.status_code == 401
        assert sorted(str(path) for path, _, _ in judged) == ["/guarded", "/other", PATH]
        for n in range(adapter._VERDICT_CACHE_SIZE + 5):
            client.post(f"/x{n}", content=body)
        assert len(middleware._verdicts) <= adapter._VERDICT_CACHE_SIZE
        # After the cache was cleared, the guarded path is still guarded.
        forged = client.post("/guarded", content=body, headers=signed_headers(body, OTHER_SECRET))
        assert forged.status_code == 401
