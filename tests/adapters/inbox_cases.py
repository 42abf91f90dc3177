"""What every ``inbox=`` endpoint test shares: the checks, over a ``post`` of each framework.

Each framework's ``test_inbox_endpoint.py`` builds its endpoint with a real
SQLite :class:`~boltcall_webhooks.inbox.Inbox` in a temporary directory and
hands these checks a ``post(body, headers) -> Reply`` for it. The checks read
the inbox itself (what is stored, in which state), then run a worker
(``inbox.work(router, once=True)``) over what the endpoint stored.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from boltcall_webhooks import Router
from boltcall_webhooks.inbox import DeliveryState, Inbox

from .contract import OTHER_SECRET, SECRET, Reply, envelope, signed_headers
from .router_cases import Ledger, check_ledger, deliveries, make_router

Post = Callable[[bytes, dict[str, str]], Reply]

STORED = {"received": True, "duplicate": False}
DUPLICATE = {"received": True, "duplicate": True}
UNAVAILABLE = {"error": "Inbox unavailable"}
NOT_AN_ENVELOPE = b'{"hello": "a JSON object, not an envelope"}'


def make_inbox(directory: pathlib.Path) -> Inbox:
    """A real SQLite inbox in ``directory`` (no waits: the tests run the worker themselves)."""
    return Inbox(f"sqlite:///{directory / 'inbox.sqlite3'}", backoff=lambda _attempt: 0.0)


def broken_inbox(directory: pathlib.Path) -> Inbox:
    """An inbox whose database cannot be opened: its directory does not exist."""
    return Inbox(f"sqlite:///{directory / 'no-such-directory' / 'inbox.sqlite3'}")


def check_stored_then_duplicate(post: Post, inbox: Inbox) -> None:
    """200 ``duplicate: false`` once committed; the same delivery again: ``duplicate: true``."""
    body = envelope("new_lead", {"id": "lead_inbox_1"})
    first = post(body, signed_headers(body))
    assert (first.status, first.json) == (200, STORED)
    [delivery] = inbox.list()
    assert delivery.state is DeliveryState.PENDING
    assert delivery.body == body
    assert delivery.event_type == "new_lead"
    assert delivery.duplicates == 0
    again = post(body, signed_headers(body))  # a dashboard re-send: the same bytes
    assert (again.status, again.json) == (200, DUPLICATE)
    [same] = inbox.list()
    assert same.id == delivery.id
    assert same.duplicates == 1
    assert same.key == delivery.key


def check_unavailable(
    post: Post, records: list[logging.LogRecord], *, non_envelope_reaches_endpoint: bool = True
) -> None:
    """The inbox fails: 503 ``Inbox unavailable``, logged at ERROR, never a 200 (nor a secret)."""
    body = envelope("new_lead", {"id": "lead_inbox_503"})
    reply = post(body, signed_headers(body))
    assert (reply.status, reply.json) == (503, UNAVAILABLE)
    failed = [r for r in records if r.name == "boltcall_webhooks" and r.levelno == logging.ERROR]
    assert len(failed) == 1
    record = failed[0]
    assert record.exc_info is not None
    assert "InboxError" in record.getMessage()
    text = record.getMessage() + str(record.exc_info[1])
    assert SECRET not in text
    assert body.decode() not in text
    reply = post(NOT_AN_ENVELOPE, signed_headers(NOT_AN_ENVELOPE))
    if non_envelope_reaches_endpoint:
        # A signed non-envelope with the inbox down: not stored, so not a 400 either.
        assert (reply.status, reply.json) == (503, UNAVAILABLE)
    else:
        assert reply.status == 400


def check_refusals_store_nothing(post: Post, inbox: Inbox, *, max_body_size: int) -> None:
    """Forged, unsigned, oversize and forged non-envelope deliveries: refused, nothing stored."""
    body = envelope("new_lead", {"id": "lead_forged"})
    forged = post(body, signed_headers(body, OTHER_SECRET))
    assert forged.status == 401
    unsigned = post(body, {"Content-Type": "application/json"})
    assert unsigned.status == 401
    big = envelope("new_lead", {"id": "lead_big", "notes": "x" * max_body_size})
    oversize = post(big, signed_headers(big))
    assert oversize.status == 413
    forged_junk = post(NOT_AN_ENVELOPE, signed_headers(NOT_AN_ENVELOPE, OTHER_SECRET))
    assert forged_junk.status == 401
    assert inbox.list() == []
    assert sum(inbox.stats().values()) == 0


def check_non_envelope_is_kept_dead(post: Post, inbox: Inbox) -> None:
    """A signed body that is not an envelope: stored ``dead`` with its error, then 400."""
    reply = post(NOT_AN_ENVELOPE, signed_headers(NOT_AN_ENVELOPE))
    assert (reply.status, reply.json) == (400, {"error": "Invalid payload"})
    [delivery] = inbox.list()
    assert delivery.state is DeliveryState.DEAD
    assert delivery.event_type is None
    assert delivery.body == NOT_AN_ENVELOPE
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("PayloadError")


STRICT_REFUSED = envelope("call_completed", {"id": "call_strict", "duration_seconds": "long"})
"""A genuine envelope with a field of the wrong JSON type: refused 400 under ``strict=True``."""


def check_strict_refusal_is_kept_dead(post: Post, inbox: Inbox) -> None:
    """``strict=True``: a wrong-typed field: 400, kept ``dead`` untyped, never run nor re-armed."""
    reply = post(STRICT_REFUSED, signed_headers(STRICT_REFUSED))
    assert (reply.status, reply.json) == (400, {"error": "Invalid payload"})
    [delivery] = inbox.list()
    assert delivery.state is DeliveryState.DEAD
    assert delivery.event_type is None  # no worker claims it as a call_completed
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("PayloadError")
    assert "duration_seconds" in delivery.last_error
    ledger = Ledger()
    assert inbox.work(make_router(ledger), once=True) == 0
    assert ledger.calls == []
    again = post(STRICT_REFUSED, signed_headers(STRICT_REFUSED))  # a re-send: refused again
    assert again.status == 400
    [same] = inbox.list()
    assert (same.id, same.state, same.duplicates) == (delivery.id, DeliveryState.DEAD, 1)


def check_worker_processes_what_was_stored(post: Post, inbox: Inbox) -> None:
    """Every type stored through the endpoint; one worker pass runs each handler once."""
    for _, body in deliveries():
        reply = post(body, signed_headers(body))
        assert (reply.status, reply.json) == (200, STORED)
    ledger = Ledger()
    assert ledger.calls == []  # nothing runs in the request
    router: Router = make_router(ledger)
    assert inbox.work(router, once=True) == len(deliveries())
    check_ledger(ledger)
    assert inbox.stats()["done"] == len(deliveries())
    # A re-send after processing is still a duplicate, and runs nothing again.
    _, body = deliveries()[0]
    assert post(body, signed_headers(body)).json == DUPLICATE
    assert inbox.work(router, once=True) == 0
    check_ledger(ledger)


def check_construction_errors(build: Callable[..., Any], inbox: Inbox) -> None:
    """``inbox=`` takes an Inbox; not together with ``router=``."""
    with pytest.raises(TypeError, match=r"inbox= takes a boltcall_webhooks\.inbox\.Inbox"):
        build(inbox=object())
    with pytest.raises(TypeError, match="exactly one of router= and inbox="):
        build(inbox=inbox, router=Router())
