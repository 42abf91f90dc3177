"""Seed bodies for the fuzz corpora: realistic envelopes and the edge cases senders make."""

from __future__ import annotations

import json
from collections.abc import Iterator

__all__ = ["seed_envelopes"]


_SAMPLE_DATA: dict[str, dict[str, object]] = {
    "call_completed": {
        "id": "call_8f2k1",
        "agent_id": "agent_12",
        "direction": "inbound",
        "caller": "+15555550123",
        "duration_seconds": 184,
        "status": "completed",
        "sentiment": "positive",
        "summary": "Asked for a quote; booked a visit.",
        "recording_url": "https://cdn.example.com/rec/call_8f2k1.mp3",
        "transcript_url": "https://cdn.example.com/tr/call_8f2k1.txt",
    },
    "missed_call": {"id": "call_9x", "caller": "+15555550188", "direction": "inbound"},
    "new_lead": {
        "id": "lead_77",
        "name": "Ana Ruiz",
        "phone": "+15555550142",
        "email": "ana@example.com",
        "source": "form",
    },
    "appointment_booked": {
        "id": "apt_3",
        "start_time": "2025-03-21T15:00:00+01:00",
        "end_time": "2025-03-21T15:30:00+01:00",
        "status": "confirmed",
    },
    "review_received": {"id": "rev_1", "rating": 5, "text": "Quick and friendly."},
}


def seed_envelopes() -> Iterator[bytes]:
    """Realistic bodies, plus the edge cases a sender might produce."""
    for event, data in _SAMPLE_DATA.items():
        envelope = {"event": event, "timestamp": "2025-03-20T09:17:22Z", "data": data}
        yield json.dumps(envelope).encode()
        yield json.dumps(envelope, indent=2, ensure_ascii=False).encode()
    yield b'{"event":"future_event","timestamp":"2025-03-20T09:17:22.123456789+05:30","data":{}}'
    yield b'{"event":"call_completed","timestamp":"2025-03-20 09:17","data":{"id":7}}'
    yield b'{"event":"new_lead","timestamp":"2025-03-20T09:17:22","data":{"id":"l","x":[1,{}]}}'
    yield b'{"event":"review_received","timestamp":"0001-01-01T00:00:00-23:59","data":{"id":"r"}}'
    yield b'{"event":"missed_call","timestamp":"2025-03-20T09:17:22Z","data":{"id":"c",'
    yield b"[]"
    yield b""
