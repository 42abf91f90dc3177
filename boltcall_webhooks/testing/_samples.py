"""Realistic sample resources and envelopes, one per event type (standard library only).

The CLI's ``sample``, ``send`` and ``demo`` commands use these too, so nothing
here may import a third-party package.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

from boltcall_webhooks._events import EventType

__all__ = [
    "SAMPLE_TIMESTAMP",
    "encode_body",
    "format_timestamp",
    "sample_data",
    "sample_payload",
]

SAMPLE_TIMESTAMP: Final = datetime(2025, 3, 20, 9, 17, 22, tzinfo=timezone.utc)
"""The envelope timestamp of every sample unless another is given (UTC)."""

# Phone numbers use the 555-01xx range reserved for fiction; addresses and
# links use example.com. Ids are made up but shaped like real ones.
_CALL_COMPLETED: Final[Mapping[str, Any]] = {
    "id": "call_7d2f9a1e",
    "agent_id": "agt_4h7q1z",
    "direction": "inbound",
    "caller": "+15125550147",
    "callee": "+15125550199",
    "status": "completed",
    "duration_seconds": 184,
    "sentiment": "positive",
    "summary": (
        "Caller asked for a quote to replace a 40-gallon water heater; "
        "booked a site visit for Friday morning."
    ),
    "recording_url": "https://files.example.com/boltcall/recordings/call_7d2f9a1e.mp3",
    "transcript_url": "https://files.example.com/boltcall/transcripts/call_7d2f9a1e.txt",
    "started_at": "2025-03-20T09:14:18Z",
    "ended_at": "2025-03-20T09:17:22Z",
}

_MISSED_CALL: Final[Mapping[str, Any]] = {
    "id": "call_3c8e5b0a",
    "agent_id": "agt_4h7q1z",
    "direction": "inbound",
    "caller": "+15125550163",
    "callee": "+15125550199",
    "status": "missed",
    "duration_seconds": 0,
    "started_at": "2025-03-20T09:17:05Z",
    "ended_at": "2025-03-20T09:17:22Z",
}

_NEW_LEAD: Final[Mapping[str, Any]] = {
    "id": "lead_8f3k2m9x",
    "name": "Dana Whitfield",
    "phone": "+15125550147",
    "email": "dana.whitfield@example.com",
    "source": "call",
    "agent_id": "agt_4h7q1z",
    "call_id": "call_7d2f9a1e",
    "message": "Wants a quote to replace a water heater this week.",
    "created_at": "2025-03-20T09:17:20Z",
}

_APPOINTMENT_BOOKED: Final[Mapping[str, Any]] = {
    "id": "apt_5n1r6t2w",
    "name": "Dana Whitfield",
    "phone": "+15125550147",
    "email": "dana.whitfield@example.com",
    "service": "Water heater replacement estimate",
    "status": "confirmed",
    "start_time": "2025-03-21T15:00:00Z",
    "end_time": "2025-03-21T16:00:00Z",
    "agent_id": "agt_4h7q1z",
    "lead_id": "lead_8f3k2m9x",
    "call_id": "call_7d2f9a1e",
    "notes": "Gate code 4417; the heater is in the garage.",
    "created_at": "2025-03-20T09:17:21Z",
}

_REVIEW_RECEIVED: Final[Mapping[str, Any]] = {
    "id": "rev_9q4v8k3p",
    "rating": 5,
    "text": "Booked a plumber at 9pm on a Sunday in two minutes. Great service.",
    "author": "Marcus O.",
    "source": "google",
    "url": "https://reviews.example.com/r/rev_9q4v8k3p",
    "created_at": "2025-03-20T09:12:40Z",
}

_SAMPLES: Final[Mapping[str, Mapping[str, Any]]] = {
    EventType.NEW_LEAD.value: _NEW_LEAD,
    EventType.MISSED_CALL.value: _MISSED_CALL,
    EventType.APPOINTMENT_BOOKED.value: _APPOINTMENT_BOOKED,
    EventType.CALL_COMPLETED.value: _CALL_COMPLETED,
    EventType.REVIEW_RECEIVED.value: _REVIEW_RECEIVED,
}


def format_timestamp(moment: datetime) -> str:
    """Write an aware ``datetime`` the way Boltcall does: UTC, ``Z``, no fraction unless needed.

    Raises:
        ValueError: ``moment`` is naive.
    """
    if moment.utcoffset() is None:
        msg = "timestamps must be timezone-aware (for example datetime.now(timezone.utc))"
        raise ValueError(msg)
    utc = moment.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def sample_data(event_type: EventType | str) -> dict[str, Any]:
    """Return a fresh copy of the sample resource (``data``) for ``event_type``.

    An event type this version does not know gets a minimal resource
    (``{"id": "obj_0001"}``), handy for testing :class:`UnknownEvent` handling.
    """
    name = _type_name(event_type)
    sample = _SAMPLES.get(name)
    if sample is None:
        return {"id": "obj_0001"}
    return copy.deepcopy(dict(sample))


def sample_payload(
    event_type: EventType | str,
    *,
    timestamp: datetime | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build a realistic envelope ``{"event", "timestamp", "data"}`` for ``event_type``.

    Args:
        event_type: One of the five event types, or any other name (for an
            event type this version does not know).
        timestamp: The envelope timestamp: an aware ``datetime`` or an ISO-8601
            string used verbatim. Default: :data:`SAMPLE_TIMESTAMP`.
        **fields: Values that replace or add fields of ``data``. A
            ``datetime`` is written as an ISO-8601 string.

    Returns:
        A new, JSON-serialisable dictionary.

    Raises:
        ValueError: ``event_type`` is empty, or a ``datetime`` given is naive.
    """
    name = _type_name(event_type)
    if not name:
        msg = "event_type must not be empty"
        raise ValueError(msg)
    stamp = SAMPLE_TIMESTAMP if timestamp is None else timestamp
    data = sample_data(name)
    data.update({key: _json_value(value) for key, value in fields.items()})
    return {
        "event": name,
        "timestamp": stamp if isinstance(stamp, str) else format_timestamp(stamp),
        "data": data,
    }


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Serialise an envelope to compact UTF-8 JSON bytes, as a sender would.

    ``datetime`` values anywhere in ``payload`` are written as ISO-8601 strings.
    """
    return json.dumps(payload, separators=(",", ":"), default=_json_default).encode("utf-8")


def _type_name(event_type: EventType | str) -> str:
    if isinstance(event_type, EventType):
        return event_type.value
    return str(event_type)


def _json_value(value: object) -> object:
    return format_timestamp(value) if isinstance(value, datetime) else value


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return format_timestamp(value)
    msg = f"Object of type {type(value).__name__} is not JSON serializable"
    raise TypeError(msg)
