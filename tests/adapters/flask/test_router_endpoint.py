"""``boltcall_webhooks.flask.webhook_view``: the ready view, through Flask's test client."""

from __future__ import annotations

import logging
import threading

import pytest

pytest.importorskip("flask")

from flask import Flask

from boltcall_webhooks import SECRET_ENV_VAR, NewLeadEvent, Router
from boltcall_webhooks.flask import CONFIG_KEY, webhook_view

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

PATH = "/webhooks/boltcall"


def _app(router: Router, **kwargs: object) -> Flask:
    app = Flask(__name__)
    app.add_url_rule(PATH, view_func=webhook_view(router=router, **kwargs), methods=["POST"])
    return app


def test_every_type_reaches_its_handlers_once() -> None:
    """Five event types and an unknown one: each reaches its handlers (sync and async), once."""
    ledger = Ledger()
    client = _app(make_router(ledger), secrets=SECRET).test_client()
    for _, body in deliveries():
        response = client.post(PATH, data=body, headers=signed_headers(body))
        assert response.status_code == 200
        assert response.get_json() == RECEIVED
        assert response.content_type == "application/json"
    check_ledger(ledger)


def test_async_handlers_run_to_completion_under_wsgi() -> None:
    """An ``async def`` handler has finished before the 200 is sent, with no loop of Flask's."""
    ledger = Ledger()
    client = _app(make_router(ledger), secrets=SECRET).test_client()
    body = envelope("review_received", {"id": "review_router_1"})
    assert client.post(PATH, data=body, headers=signed_headers(body)).status_code == 200
    assert [h for h, _, _ in ledger.calls] == ["reviews", "audit"]  # both async


def test_a_failing_handler_is_500_logged_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two handlers raise: 500, the third still ran, one ERROR record with traceback each."""
    ledger = Ledger()
    client = _app(failing_router(ledger), secrets=SECRET).test_client()
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    with caplog.at_level(logging.ERROR, logger="boltcall_webhooks"):
        response = client.post(PATH, data=body, headers=signed_headers(body))
    assert response.status_code == 500
    assert response.get_json() == HANDLER_FAILED
    assert sorted(h for h, _, _ in ledger.calls) == ["breaks_async", "breaks_sync", "still_runs"]
    check_failure_log(caplog.records, body)


def test_forged_and_oversize_deliveries_run_no_handler() -> None:
    """Refusals are the decorator's (401, 413, 400, 405) and no handler runs."""
    ledger = Ledger()
    client = _app(make_router(ledger), secrets=SECRET, max_body_size=200).test_client()
    body = envelope("new_lead")
    forged = client.post(PATH, data=body, headers=signed_headers(body, OTHER_SECRET))
    assert (forged.status_code, forged.get_json()) == (401, {"error": "Invalid signature"})
    missing = client.post(PATH, data=body, headers={"Content-Type": "application/json"})
    assert (missing.status_code, missing.get_json()) == (401, {"error": "Missing signature"})
    big = envelope("new_lead", {"id": "x" * 300})
    assert client.post(PATH, data=big, headers=signed_headers(big)).status_code == 413
    not_envelope = b'["not", "an", "envelope"]'
    reply = client.post(PATH, data=not_envelope, headers=signed_headers(not_envelope))
    assert (reply.status_code, reply.get_json()) == (400, {"error": "Invalid payload"})
    assert client.get(PATH).status_code == 405
    assert ledger.calls == []


def test_secrets_lookup_is_the_decorators(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``secrets=``: app.config first, then the environment, else 500 (never accepted)."""
    ledger = Ledger()
    app = _app(make_router(ledger))
    client = app.test_client()
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
    refused = client.post(PATH, data=body, headers=signed_headers(body))
    assert refused.status_code == 500
    assert refused.get_json() == {"error": "Webhook receiver misconfigured"}
    monkeypatch.setenv(SECRET_ENV_VAR, OTHER_SECRET)
    assert (
        client.post(PATH, data=body, headers=signed_headers(body, OTHER_SECRET)).status_code == 200
    )
    app.config[CONFIG_KEY] = SECRET
    assert client.post(PATH, data=body, headers=signed_headers(body)).status_code == 200
    assert (
        client.post(PATH, data=body, headers=signed_headers(body, OTHER_SECRET)).status_code == 401
    )
    assert [h for h, _, _ in ledger.calls] == ["leads", "audit", "leads", "audit"]


def test_the_event_is_also_in_flask_g() -> None:
    """A handler can reach ``flask.g.boltcall_event`` (as with the decorator)."""
    from flask import g

    seen: list[object] = []
    router = Router()

    @router.on(NewLeadEvent)
    def lead(event: NewLeadEvent) -> None:
        seen.append(g.boltcall_event is event)

    client = _app(router, secrets=SECRET).test_client()
    body = envelope("new_lead")
    assert client.post(PATH, data=body, headers=signed_headers(body)).status_code == 200
    assert seen == [True]


def test_async_handler_with_a_running_loop_elsewhere_in_the_thread() -> None:
    """The view works from a thread of its own (as under gunicorn's gthread workers)."""
    ledger = Ledger()
    client = _app(make_router(ledger), secrets=SECRET).test_client()
    statuses: list[int] = []

    def post_all() -> None:
        for _, body in deliveries():
            statuses.append(client.post(PATH, data=body, headers=signed_headers(body)).status_code)

    threads = [threading.Thread(target=post_all) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 18
    assert sum(ledger.handlers().values()) == 3 * 12


def test_two_views_on_one_app_need_their_own_endpoint_name() -> None:
    """A second ready view registers under its own ``endpoint=``."""
    ledger = Ledger()
    app = Flask(__name__)
    app.add_url_rule(
        PATH, view_func=webhook_view(router=make_router(ledger), secrets=SECRET), methods=["POST"]
    )
    other = Router()
    app.add_url_rule(
        "/other",
        endpoint="other_webhook",
        view_func=webhook_view(router=other, secrets=OTHER_SECRET),
        methods=["POST"],
    )
    body = envelope("new_lead", {"id": "new_lead_router_1"})
    client = app.test_client()
    assert (
        client.post("/other", data=body, headers=signed_headers(body, OTHER_SECRET)).status_code
        == 200
    )
    assert ledger.calls == []


def test_construction_errors() -> None:
    """Exactly one of router=/inbox=, a real Router, known options, usable secrets."""
    check_construction_errors(webhook_view)
