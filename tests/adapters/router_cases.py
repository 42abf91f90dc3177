"""What every ready endpoint test shares: a router whose handlers write to a ledger.

The router mixes plain and ``async def`` handlers over the five event types,
unknown types and ``on_any``, so one delivery of each type shows that the
right handlers ran, exactly once each, whatever the framework's sync/async
model. :data:`EXPECTED` says which handlers each type must reach.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from boltcall_webhooks import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    ConfigurationError,
    Event,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    Router,
    UnknownEvent,
)

from .contract import SECRET, envelope

EXPECTED: dict[str, list[str]] = {
    "new_lead": ["leads", "audit"],
    "missed_call": ["calls", "audit"],
    "call_completed": ["calls", "audit"],
    "appointment_booked": ["appointments", "audit"],
    "review_received": ["reviews", "audit"],
    "invoice_paid": ["unknown", "audit"],  # a type this version does not know
}
"""Event type -> the handler names it must reach (each once)."""

RECEIVED = {"received": True}
HANDLER_FAILED = {"error": "Handler failed"}


@dataclass
class Ledger:
    """What the handlers saw: (handler, event type, data.id) and the thread of each call."""

    calls: list[tuple[str, str, str]] = field(default_factory=list[tuple[str, str, str]])
    threads: dict[str, set[int]] = field(default_factory=dict[str, set[int]])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, handler: str, event: Event) -> None:
        """Record one call."""
        data: Any = event.raw.get("data")
        with self.lock:
            self.calls.append((handler, event.type, data.get("id")))
            self.threads.setdefault(handler, set()).add(threading.get_ident())

    def handlers(self) -> Counter[tuple[str, str]]:
        """How many times each (handler, event type) ran."""
        return Counter((handler, event_type) for handler, event_type, _ in self.calls)


def make_router(ledger: Ledger) -> Router:
    """Plain and async handlers for every type, unknown types, and ``on_any``."""
    router = Router()

    @router.on(NewLeadEvent, name="leads")
    def leads(event: NewLeadEvent) -> None:
        ledger.add("leads", event)

    @router.on(MissedCallEvent, CallCompletedEvent, name="calls")
    async def calls(event: MissedCallEvent | CallCompletedEvent) -> None:
        await asyncio.sleep(0)
        ledger.add("calls", event)

    @router.on("appointment_booked", name="appointments")
    def appointments(event: AppointmentBookedEvent) -> None:
        ledger.add("appointments", event)

    @router.on(ReviewReceivedEvent, name="reviews")
    async def reviews(event: ReviewReceivedEvent) -> None:
        ledger.add("reviews", event)

    @router.on(UnknownEvent, name="unknown")
    def unknown(event: UnknownEvent) -> None:
        ledger.add("unknown", event)

    @router.on_any(name="audit")
    async def audit(event: Event) -> None:
        ledger.add("audit", event)

    return router


class HandlerBoom(Exception):  # noqa: N818 - a test failure, named for what it is
    """Raised by the failing test handlers."""


def failing_router(ledger: Ledger) -> Router:
    """A sync and an async handler that raise, around one that succeeds."""
    router = Router()

    @router.on(NewLeadEvent, name="breaks_sync")
    def breaks_sync(event: NewLeadEvent) -> None:
        ledger.add("breaks_sync", event)
        raise HandlerBoom("sync handler failed")

    @router.on_any(name="still_runs")
    def still_runs(event: Event) -> None:
        ledger.add("still_runs", event)

    @router.on(NewLeadEvent, name="breaks_async")
    async def breaks_async(event: NewLeadEvent) -> None:
        ledger.add("breaks_async", event)
        raise HandlerBoom("async handler failed")

    return router


def deliveries() -> list[tuple[str, bytes]]:
    """One envelope per type of :data:`EXPECTED`, each with its own ``data.id``."""
    return [(t, envelope(t, {"id": f"{t}_router_1"})) for t in EXPECTED]


def check_ledger(ledger: Ledger) -> None:
    """Each delivery reached exactly its handlers, once each, with its own id."""
    expected = Counter((h, t) for t, handlers in EXPECTED.items() for h in handlers)
    assert ledger.handlers() == expected
    assert all(event_id == f"{t}_router_1" for _, t, event_id in ledger.calls)


def check_failure_log(records: list[logging.LogRecord], body: bytes) -> None:
    """One ERROR record per failed handler, with its own exception; nothing of the body."""
    failed = [r for r in records if r.name == "boltcall_webhooks" and r.levelno == logging.ERROR]
    assert len(failed) == 2, [r.getMessage() for r in failed]
    by_name = {
        ("breaks_sync" if "breaks_sync" in r.getMessage() else "breaks_async"): r for r in failed
    }
    assert set(by_name) == {"breaks_sync", "breaks_async"}
    for name, record in by_name.items():
        message = record.getMessage()
        assert "new_lead" in message
        assert "new_lead_router_1" in message
        assert record.exc_info is not None
        exc = record.exc_info[1]
        assert isinstance(exc, HandlerBoom)
        assert str(exc) == (
            "sync handler failed" if name == "breaks_sync" else "async handler failed"
        )
        assert SECRET not in message
        assert body.decode() not in message
        assert "timestamp" not in message


def check_construction_errors(build: Any) -> None:
    """Both or neither target, a non-router, ``inbox=`` and unknown options fail at build time."""
    router = Router()
    with pytest.raises(TypeError, match=r"router= (and|or) inbox="):
        build()
    with pytest.raises(TypeError, match="exactly one of router= and inbox="):
        build(router=router, inbox=object())
    with pytest.raises(TypeError, match="Router"):
        build(router=object())
    with pytest.raises(TypeError, match=re.escape("inbox= takes a boltcall_webhooks.inbox.Inbox")):
        build(inbox=object())
    with pytest.raises(TypeError, match="max_size"):
        build(router=router, max_size=10)
    with pytest.raises(ConfigurationError):
        build(router=router, secrets="")
