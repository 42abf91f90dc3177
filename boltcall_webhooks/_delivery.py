"""What a handler knows about the delivery it runs for: :class:`Delivery` and its states.

The router hands every handler that asks for it a :class:`Delivery`; the inbox
builds one per attempt from its stored row, and without an inbox the router
makes a one-off delivery (``attempts=1``). It lives in the core so that the
router, which is standard library only, never imports the inbox.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, cast

from boltcall_webhooks._events import Event
from boltcall_webhooks._parsing import parse_event

__all__ = ["Delivery", "DeliveryState", "event_key"]


class DeliveryState(str, enum.Enum):
    """Where a stored delivery is in its life (members are strings: ``"pending"``...).

    ``pending`` (stored, due at ``next_attempt_at``) -> ``processing`` (leased by a
    worker) -> ``done``; a failed attempt goes back to ``pending`` with a backoff,
    and after ``max_attempts`` the delivery is ``dead``.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"

    def __str__(self) -> str:
        return self.value


def _fields_key(event: Event) -> str | None:
    """``type:data.id:timestamp`` from the envelope's own strings, if it has them."""
    data: object = event.raw.get("data")
    timestamp: object = event.raw.get("timestamp")
    if isinstance(data, Mapping) and isinstance(timestamp, str):
        resource_id: object = cast("Mapping[str, object]", data).get("id")
        if isinstance(resource_id, str) and resource_id:
            return f"{event.type}:{resource_id}:{timestamp}"
    return None


def event_key(body: bytes, event: Event | None) -> str:
    """The ``"event"`` dedupe key: ``type:data.id:timestamp``, else ``sha256:<hex>``.

    The timestamp is the envelope's own string, so a dashboard re-send (same
    event, same timestamp) has the same key however the body is re-serialised.
    """
    key = _fields_key(event) if event is not None else None
    return key if key is not None else "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One stored delivery, as a handler or an operator sees it (read-only).

    Attributes:
        id: The inbox's id for it (``None`` for a one-off delivery without an inbox).
        key: The dedupe key; the same on every attempt and for a dashboard re-send,
            so pass it downstream as an idempotency key.
        state: The :class:`DeliveryState` when this snapshot was taken.
        event_type: The envelope's ``event``; ``None`` if the body is not an envelope.
        received_at: When it was first stored (aware, UTC).
        attempts: Attempts so far; inside a handler, the number of this attempt.
        next_attempt_at: When it is next due (``pending``), else ``None``.
        last_error: The last failure (``"Type: message"``, per handler), if any.
        last_traceback: The traceback of that failure, if any.
        duplicates: How many times the same key was stored again.
        body: The raw body, ``None`` once purged.
        connection: Inside a handler only: the inbox's own DB-API connection, whose
            writes commit in one transaction with the handler's success mark.
    """

    id: int | None
    key: str
    state: DeliveryState
    event_type: str | None
    received_at: datetime
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_traceback: str | None = field(default=None, repr=False)
    duplicates: int = 0
    body: bytes | None = field(default=None, repr=False)
    connection: Any = field(default=None, repr=False, compare=False)

    @cached_property
    def event(self) -> Event:
        """The body parsed as a typed event (lenient, as the adapters parse it).

        Raises:
            PayloadError: The body was purged or is not an event envelope.
        """
        if self.body is None:
            from boltcall_webhooks._errors import PayloadError  # noqa: PLC0415

            raise PayloadError(f"delivery {self.id} has no body (purged)")
        return parse_event(self.body)

    @classmethod
    def one_off(cls, event: Event, body: bytes | None = None) -> Delivery:
        """A delivery for an event dispatched without an inbox (``attempts=1``)."""
        key = _fields_key(event)
        if key is None:
            if body is None:
                import json  # noqa: PLC0415

                body = json.dumps(dict(event.raw), separators=(",", ":")).encode()
            key = event_key(body, event)
        delivery = cls(
            id=None,
            key=key,
            state=DeliveryState.PROCESSING,
            event_type=event.type,
            received_at=datetime.now(timezone.utc),
            attempts=1,
            body=body,
        )
        delivery.__dict__["event"] = event  # already parsed: no second parse
        return delivery
