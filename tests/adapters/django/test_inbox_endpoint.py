"""``BoltcallWebhookView.as_view(inbox=...)``: store, answer, then a worker runs it.

Every check runs against the sync view (WSGI test client: ``inbox.store``) and
the async one (``boltcall_async=True``, ASGI test client: ``await
inbox.store_async``). The URLconf is built per test around that test's inbox.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from asgiref.sync import iscoroutinefunction
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from boltcall_webhooks.django import BoltcallWebhookView
from boltcall_webhooks.inbox import Inbox, Stored

from ..contract import SECRET, Reply  # noqa: TID252
from ..inbox_cases import (  # noqa: TID252
    Post,
    broken_inbox,
    check_construction_errors,
    check_non_envelope_is_kept_dead,
    check_refusals_store_nothing,
    check_stored_then_duplicate,
    check_unavailable,
    check_worker_processes_what_was_stored,
    make_inbox,
)

LIMIT = 2048
MODES = ["sync", "async"]


@pytest.fixture
def serve() -> Iterator[Callable[[Inbox, str], Post]]:
    """``serve(inbox, mode)``: a ``post`` through Django's sync or async test client."""
    settings: list[Any] = []

    def build(inbox: Inbox, mode: str) -> Post:
        view = BoltcallWebhookView.as_view(
            inbox=inbox,
            boltcall_secrets=SECRET,
            boltcall_options={"max_body_size": LIMIT},
            boltcall_async=mode == "async",
        )
        assert iscoroutinefunction(view) is (mode == "async")
        assert getattr(view, "csrf_exempt", False) is True
        urlconf = types.ModuleType("inbox_urls")
        urlconf.urlpatterns = [path("hook/", view)]  # type: ignore[attr-defined]
        override = override_settings(ROOT_URLCONF=urlconf)
        override.enable()
        settings.append(override)

        def post(body: bytes, headers: dict[str, str]) -> Reply:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if mode == "sync":
                client = Client(enforce_csrf_checks=True)
                response = client.post(
                    "/hook/", body, content_type="application/json", headers=headers
                )
            else:
                response = asyncio.run(
                    AsyncClient().post(
                        "/hook/", body, content_type="application/json", headers=headers
                    )
                )
            assert response["Content-Type"] == "application/json"
            return Reply(response.status_code, response.json())

        return post

    yield build
    for override in reversed(settings):
        override.disable()


@pytest.mark.parametrize("mode", MODES)
def test_stored_then_duplicate(
    tmp_path: pathlib.Path, serve: Callable[[Inbox, str], Post], mode: str
) -> None:
    """200 once committed, with ``duplicate``; the re-send is a duplicate of the same row."""
    inbox = make_inbox(tmp_path)
    check_stored_then_duplicate(serve(inbox, mode), inbox)


@pytest.mark.parametrize("mode", MODES)
def test_an_inbox_that_fails_is_503_and_logged(
    tmp_path: pathlib.Path,
    serve: Callable[[Inbox, str], Post],
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database that cannot be opened: 503, one ERROR record, never a 200."""
    post = serve(broken_inbox(tmp_path), mode)
    with caplog.at_level(logging.ERROR, logger="boltcall_webhooks"):
        check_unavailable(post, caplog.records)


@pytest.mark.parametrize("mode", MODES)
def test_refused_deliveries_store_nothing(
    tmp_path: pathlib.Path, serve: Callable[[Inbox, str], Post], mode: str
) -> None:
    """Forged, unsigned and oversize deliveries are refused before the inbox."""
    inbox = make_inbox(tmp_path)
    check_refusals_store_nothing(serve(inbox, mode), inbox, max_body_size=LIMIT)


@pytest.mark.parametrize("mode", MODES)
def test_a_signed_non_envelope_is_kept_dead_then_400(
    tmp_path: pathlib.Path, serve: Callable[[Inbox, str], Post], mode: str
) -> None:
    """Genuine but not an envelope: stored dead with its error, answered 400."""
    inbox = make_inbox(tmp_path)
    check_non_envelope_is_kept_dead(serve(inbox, mode), inbox)


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_processes_what_the_view_stored(
    tmp_path: pathlib.Path, serve: Callable[[Inbox, str], Post], mode: str
) -> None:
    """No handler runs in the request; the worker runs each handler once."""
    inbox = make_inbox(tmp_path)
    check_worker_processes_what_was_stored(serve(inbox, mode), inbox)


class _Spy(Inbox):
    """Records which thread ``store`` ran in, and which method the view called."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: list[tuple[str, int]] = []
        backend: Any = self.backend
        commit_batch = backend._commit_batch

        def spied(batch: Any) -> None:
            self.calls.append(("commit", threading.get_ident()))
            commit_batch(batch)

        backend._commit_batch = spied  # the SQLite write (store's and store_async's)

    def store(self, body: bytes, *, headers: Any = None) -> Stored:
        self.calls.append(("store", threading.get_ident()))
        return super().store(body, headers=headers)

    async def store_async(self, body: bytes, *, headers: Any = None) -> Stored:
        self.calls.append(("store_async", threading.get_ident()))
        return await super().store_async(body, headers=headers)


def test_the_async_view_awaits_store_async(
    tmp_path: pathlib.Path, serve: Callable[[Inbox, str], Post]
) -> None:
    """Under ASGI the view awaits ``store_async`` (whose SQLite write runs off the loop)."""
    inbox = _Spy(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    check_stored_then_duplicate(serve(inbox, "async"), inbox)
    assert [name for name, _ in inbox.calls] == [
        "store_async", "commit", "store_async", "commit"
    ]  # fmt: skip
    loop_thread = inbox.calls[0][1]
    assert inbox.calls[1][1] != loop_thread  # the write ran in the inbox's writer thread


def test_construction_errors(tmp_path: pathlib.Path) -> None:
    """``inbox=`` takes an Inbox, and not with ``router=``."""

    def build(**kwargs: Any) -> Any:
        return BoltcallWebhookView.as_view(boltcall_secrets=SECRET, **kwargs)

    check_construction_errors(build, make_inbox(tmp_path))
