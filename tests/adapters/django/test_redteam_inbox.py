"""Red team: ``Inbox("django")`` stores a signed body with a lone surrogate or NUL in ``data.id``.

``"\\ud800"`` and ``"\\u0000"`` are valid JSON escapes, so such a body verifies
and parses. The core now falls back to the body's SHA-256 for such a dedupe key;
the Django backend also copies ``data.id`` into ``resource_id`` (for the admin's
search), where SQLite raised ``UnicodeEncodeError`` and PostgreSQL refuses NUL:
the genuine delivery could never be stored (503 on every re-send).
"""

from __future__ import annotations

import pytest

from boltcall_webhooks.inbox import DeliveryState, Inbox

from .inbox_db import django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures

TIMESTAMP = "2025-03-20T09:17:22Z"


_LONG_ID = "".join(chr(ord("a") + (n * 7919) % 26) + str(n % 97) for n in range(3000))


@pytest.mark.parametrize(
    ("event", "odd_id"),
    [
        ("new_lead", "lead_\\ud800"),
        ("new_lead", "lead_\\u0000x"),
        ("new_lead", _LONG_ID),  # PostgreSQL's unique index refused a key of kilobytes
        ("x" * 300, "x_1"),  # longer than the event_type column (varchar 255 on PostgreSQL)
    ],
    ids=["surrogate", "nul", "long-id", "long-type"],
)
def test_a_signed_body_with_an_odd_data_id_is_stored(
    inbox_db: None, event: str, odd_id: str
) -> None:
    body = (f'{{"event":"{event}","timestamp":"{TIMESTAMP}","data":{{"id":"{odd_id}"}}}}').encode()
    inbox = Inbox("django")
    try:
        first = inbox.store(body)
        again = inbox.store(body)
        assert not first.duplicate
        assert again.duplicate
        assert again.id == first.id
        stored = inbox.get(first.id)
        assert stored.body == body
        assert stored.state is DeliveryState.PENDING
    finally:
        inbox.close()
