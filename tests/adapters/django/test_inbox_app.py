"""The inbox as a Django app: migrations, the view and the middleware on ``Inbox("django")``.

Also: a project that does not install the app gets no models and no tables.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from boltcall_webhooks.django import BoltcallWebhookView
from boltcall_webhooks.inbox import DeliveryState, Inbox

from ..contract import SECRET, Reply, envelope, signed_headers  # noqa: TID252
from ..inbox_cases import (  # noqa: TID252
    DUPLICATE,
    STORED,
    Post,
    check_non_envelope_is_kept_dead,
    check_refusals_store_nothing,
    check_stored_then_duplicate,
    check_worker_processes_what_was_stored,
)
from .inbox_db import django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures

LIMIT = 2048
MODES = ["sync", "async"]


@pytest.fixture
def inbox(inbox_db: None) -> Iterator[Inbox]:
    """``Inbox("django")`` on empty tables (no backoff: the tests run the worker)."""
    inbox = Inbox("django", backoff=lambda _attempt: 0.0)
    yield inbox
    inbox.close()


def _urlconf(*patterns: object) -> object:
    import types

    module = types.ModuleType("inbox_app_urls")
    module.urlpatterns = list(patterns)  # type: ignore[attr-defined]
    return module


def _post_with(client_mode: str, url: str) -> Post:
    def post(body: bytes, headers: dict[str, str]) -> Reply:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if client_mode == "sync":
            response = Client(enforce_csrf_checks=True).post(
                url, body, content_type="application/json", headers=headers
            )
        else:
            response = asyncio.run(
                AsyncClient().post(url, body, content_type="application/json", headers=headers)
            )
        return Reply(response.status_code, response.json())

    return post


@pytest.fixture
def serve(inbox: Inbox) -> Iterator[Callable[[str], Post]]:
    """``serve(mode)``: ``post`` to ``BoltcallWebhookView.as_view(inbox=Inbox("django"))``."""
    overrides: list[override_settings] = []

    def build(mode: str, **settings: object) -> Post:
        view = BoltcallWebhookView.as_view(
            inbox=inbox,
            boltcall_secrets=SECRET,
            boltcall_options={"max_body_size": LIMIT},
            boltcall_async=mode == "async",
        )
        override = override_settings(ROOT_URLCONF=_urlconf(path("hook/", view)), **settings)
        override.enable()
        overrides.append(override)
        return _post_with(mode, "/hook/")

    yield build
    for override in reversed(overrides):
        override.disable()


# -- the app -------------------------------------------------------------------------


def test_the_migrations_match_the_models(django_database: None) -> None:
    """``makemigrations --check`` finds nothing to do; the tables exist after migrate."""
    call_command("makemigrations", "boltcall_webhooks", "--check", "--dry-run", verbosity=0)
    tables = set(connection.introspection.table_names())
    assert {"boltcall_webhooks_delivery", "boltcall_webhooks_handlerrun"} <= tables


def test_without_the_app_there_are_no_models_and_no_tables(tmp_path: pathlib.Path) -> None:
    """Only the adapter: it works, the models are never imported, migrate creates nothing."""
    script = textwrap.dedent(
        f"""
        import sys
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
            DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3",
                                    "NAME": {str(tmp_path / "plain.sqlite3")!r}}}}},
            ROOT_URLCONF=__name__, SECRET_KEY="x", ALLOWED_HOSTS=["testserver"],
        )
        django.setup()
        from boltcall_webhooks import Router
        from boltcall_webhooks.django import BoltcallWebhookView
        from django.urls import path
        urlpatterns = [path("hook/", BoltcallWebhookView.as_view(router=Router(),
                                                                  boltcall_secrets="whsec_x"))]
        from django.test import Client
        assert Client().post("/hook/", b"{{}}", content_type="application/json").status_code == 401
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.db import connection
        tables = connection.introspection.table_names()
        assert not [t for t in tables if "boltcall" in t], tables
        assert "boltcall_webhooks.django.models" not in sys.modules
        from boltcall_webhooks import ConfigurationError
        from boltcall_webhooks.inbox import Inbox
        try:
            Inbox("django").stats()
        except ConfigurationError as exc:
            assert "INSTALLED_APPS" in str(exc), exc
        else:
            raise AssertionError("Inbox('django') worked without the app")
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_a_bad_django_inbox_url_or_option_is_a_configuration_error() -> None:
    """``django``, ``django://ALIAS``; anything else, or an option, is refused at once."""
    from boltcall_webhooks import ConfigurationError

    assert Inbox("django://default").url == "django://default"
    for url in ("django:", "django://", "django://a/b", "djangox"):
        with pytest.raises(ConfigurationError):
            Inbox(url)
    with pytest.raises(ConfigurationError, match="synchronous"):
        Inbox("django", synchronous="OFF")


# -- the view and the middleware -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_view_stores_then_counts_duplicates(
    serve: Callable[..., Post], inbox: Inbox, mode: str
) -> None:
    """200 once committed in the project's database; the re-send is a duplicate."""
    check_stored_then_duplicate(serve(mode), inbox)


@pytest.mark.parametrize("mode", MODES)
def test_the_view_refuses_before_storing(
    serve: Callable[..., Post], inbox: Inbox, mode: str
) -> None:
    """Forged, unsigned and oversize deliveries store nothing."""
    check_refusals_store_nothing(serve(mode), inbox, max_body_size=LIMIT)


@pytest.mark.parametrize("mode", MODES)
def test_a_signed_non_envelope_is_kept_dead(
    serve: Callable[..., Post], inbox: Inbox, mode: str
) -> None:
    """Stored ``dead`` with its error, then 400."""
    check_non_envelope_is_kept_dead(serve(mode), inbox)


def test_the_worker_processes_what_the_view_stored(
    serve: Callable[..., Post], inbox: Inbox
) -> None:
    """One worker pass runs each handler once; a later re-send runs nothing."""
    check_worker_processes_what_was_stored(serve("sync"), inbox)


def test_atomic_requests_commit_before_the_answer(
    serve: Callable[..., Post], inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``ATOMIC_REQUESTS`` the store joins the request's transaction, committed first."""
    backend = inbox.backend
    inside: list[bool] = []
    original = backend.store

    def spy(item: object) -> object:
        inside.append(connection.in_atomic_block)
        return original(item)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "store", spy)
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    post = serve("sync")
    body = envelope("new_lead", {"id": "lead_atomic"})
    assert post(body, signed_headers(body)).json == STORED
    assert post(body, signed_headers(body)).json == DUPLICATE
    assert inside == [True, True]
    monkeypatch.undo()
    [delivery] = inbox.list()  # committed, seen from outside the request
    assert (delivery.state, delivery.duplicates) == (DeliveryState.PENDING, 1)


def test_the_middleware_guards_a_view_that_stores(inbox: Inbox) -> None:
    """``BoltcallWebhookMiddleware`` verifies; the project's own view stores the body."""

    def store(request: HttpRequest) -> JsonResponse:
        stored = inbox.store(request.body)
        return JsonResponse({"id": stored.id, "duplicate": stored.duplicate})

    middleware = ["boltcall_webhooks.django.BoltcallWebhookMiddleware"]
    with override_settings(
        ROOT_URLCONF=_urlconf(path("guarded/", store)),
        MIDDLEWARE=middleware,
        BOLTCALL_WEBHOOK_PATHS=["/guarded/"],
        BOLTCALL_WEBHOOK_SECRET=SECRET,
    ):
        post = _post_with("sync", "/guarded/")
        body = envelope("new_lead", {"id": "lead_mw"})
        assert post(body, {"Content-Type": "application/json"}).status == 401
        assert inbox.list() == []
        reply = post(body, signed_headers(body))
        assert reply.status == 200
        assert reply.json["duplicate"] is False
        assert inbox.get(reply.json["id"]).body == body
