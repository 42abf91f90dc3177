"""``boltcall_webhooks.starlette.webhook_endpoint(inbox=...)``: store off the loop, answer.

Each case runs against a Starlette ``Route``, a FastAPI ``add_api_route`` and a
Starlette app behind :class:`BoltcallWebhookMiddleware` (the endpoint then
stores the middleware's verified body), through Starlette's TestClient.
"""

from __future__ import annotations

import logging
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from boltcall_webhooks.inbox import Inbox, Stored
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware, webhook_endpoint

from ..contract import SECRET, Reply  # noqa: TID252
from ..inbox_cases import (  # noqa: TID252
    Post,
    broken_inbox,
    check_construction_errors,
    check_non_envelope_is_kept_dead,
    check_refusals_store_nothing,
    check_stored_then_duplicate,
    check_strict_refusal_is_kept_dead,
    check_unavailable,
    check_worker_processes_what_was_stored,
    make_inbox,
)
from ._apps import TestClient

PATH = "/webhooks/boltcall"
LIMIT = 2048


def _starlette(inbox: Inbox) -> Any:
    endpoint = webhook_endpoint(inbox=inbox, secrets=SECRET, max_body_size=LIMIT)
    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])


def _fastapi(inbox: Inbox) -> Any:
    app = FastAPI()
    endpoint = webhook_endpoint(inbox=inbox, secrets=SECRET, max_body_size=LIMIT)
    app.add_api_route(PATH, endpoint, methods=["POST"])
    return app


def _behind_middleware(inbox: Inbox) -> Any:
    endpoint = webhook_endpoint(inbox=inbox, secrets=SECRET, max_body_size=LIMIT)
    middleware = Middleware(
        BoltcallWebhookMiddleware, paths=[PATH], secrets=SECRET, max_body_size=LIMIT
    )
    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])], middleware=[middleware])


APPS: dict[str, Callable[[Inbox], Any]] = {
    "starlette": _starlette,
    "fastapi": _fastapi,
    "middleware": _behind_middleware,
}


@pytest.fixture(params=list(APPS))
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[[Inbox], Post]]:
    """``serve(inbox)``: a ``post`` through a TestClient over one of :data:`APPS`."""
    clients: list[TestClient] = []

    def build(inbox: Inbox) -> Post:
        client = TestClient(APPS[request.param](inbox))
        client.__enter__()
        clients.append(client)

        def post(body: bytes, headers: dict[str, str]) -> Reply:
            response = client.post(PATH, content=body, headers=headers)
            assert response.headers["content-type"] == "application/json"
            return Reply(response.status_code, response.json())

        return post

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def test_stored_then_duplicate(tmp_path: pathlib.Path, serve: Callable[[Inbox], Post]) -> None:
    """200 once committed, with ``duplicate``; the re-send is a duplicate of the same row."""
    inbox = make_inbox(tmp_path)
    check_stored_then_duplicate(serve(inbox), inbox)


def test_an_inbox_that_fails_is_503_and_logged(
    tmp_path: pathlib.Path,
    serve: Callable[[Inbox], Post],
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    """A database that cannot be opened: 503, one ERROR record, never a 200."""
    post = serve(broken_inbox(tmp_path))
    # Behind the middleware, a non-envelope is refused (400) before the endpoint runs.
    reaches = request.node.callspec.params["serve"] != "middleware"
    with caplog.at_level(logging.ERROR, logger="boltcall_webhooks"):
        check_unavailable(post, caplog.records, non_envelope_reaches_endpoint=reaches)


def test_refused_deliveries_store_nothing(
    tmp_path: pathlib.Path, serve: Callable[[Inbox], Post]
) -> None:
    """Forged, unsigned and oversize deliveries are refused before the inbox."""
    inbox = make_inbox(tmp_path)
    check_refusals_store_nothing(serve(inbox), inbox, max_body_size=LIMIT)


def test_a_worker_processes_what_the_endpoint_stored(
    tmp_path: pathlib.Path, serve: Callable[[Inbox], Post]
) -> None:
    """No handler runs in the request; the worker runs each handler once."""
    inbox = make_inbox(tmp_path)
    check_worker_processes_what_was_stored(serve(inbox), inbox)


@pytest.mark.parametrize("app", ["starlette", "fastapi"])
def test_a_signed_non_envelope_is_kept_dead_then_400(tmp_path: pathlib.Path, app: str) -> None:
    """Genuine but not an envelope: stored dead with its error, answered 400."""
    inbox = make_inbox(tmp_path)
    with TestClient(APPS[app](inbox)) as client:

        def post(body: bytes, headers: dict[str, str]) -> Reply:
            response = client.post(PATH, content=body, headers=headers)
            return Reply(response.status_code, response.json())

        check_non_envelope_is_kept_dead(post, inbox)


class _Spy(Inbox):
    """Records the thread of each ``store``/``store_async`` call."""

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


def test_storing_never_blocks_the_loop(
    tmp_path: pathlib.Path, serve: Callable[[Inbox], Post]
) -> None:
    """The endpoint awaits ``store_async``; the SQLite write runs in another thread."""
    inbox = _Spy(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    check_stored_then_duplicate(serve(inbox), inbox)
    assert [name for name, _ in inbox.calls] == [
        "store_async", "commit", "store_async", "commit"
    ]  # fmt: skip
    assert inbox.calls[1][1] != inbox.calls[0][1]  # the inbox's writer thread
    assert inbox.calls[3][1] != inbox.calls[2][1]


def test_the_endpoint_hands_its_parsed_event_to_the_inbox(
    tmp_path: pathlib.Path, serve: Callable[[Inbox], Post], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain ``Inbox`` is not made to parse the verified body a second time."""
    import boltcall_webhooks.inbox as inbox_module

    parsed: list[bytes] = []
    parse_event = inbox_module.parse_event

    def counting(body: Any) -> Any:
        parsed.append(body)
        return parse_event(body)

    monkeypatch.setattr(inbox_module, "parse_event", counting)
    inbox = Inbox(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    check_stored_then_duplicate(serve(inbox), inbox)
    assert parsed == []
    # The keys, types and states are those of an inbox that parsed the body itself.
    for delivery in inbox.list():
        assert delivery.body is not None
        assert delivery.key == inbox._prepare(delivery.body).key
        assert delivery.event_type == "new_lead"


def test_construction_errors(tmp_path: pathlib.Path) -> None:
    """``inbox=`` takes an Inbox, and not with ``router=``."""

    def build(**kwargs: Any) -> Any:
        return webhook_endpoint(secrets=SECRET, **kwargs)

    check_construction_errors(build, make_inbox(tmp_path))


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
def test_a_strict_refusal_is_kept_dead_then_400(tmp_path: pathlib.Path, framework: str) -> None:
    """``strict=True``: a wrong-typed field is refused 400 and kept dead, never run."""
    inbox = make_inbox(tmp_path)
    endpoint = webhook_endpoint(inbox=inbox, secrets=SECRET, strict=True)
    if framework == "fastapi":
        app: Any = FastAPI()
        app.add_api_route(PATH, endpoint, methods=["POST"])
    else:
        app = Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])
    with TestClient(app) as client:

        def post(body: bytes, headers: dict[str, str]) -> Reply:
            response = client.post(PATH, content=body, headers=headers)
            return Reply(response.status_code, response.json())

        check_strict_refusal_is_kept_dead(post, inbox)
