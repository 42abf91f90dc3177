"""Red team: a signed body with a lone surrogate or a NUL in its ``data.id`` or ``event``.

``"\\ud800"`` and ``"\\u0000"`` are valid JSON string escapes, so such a body
verifies and parses. Before the fix, its dedupe key (``type:data.id:timestamp``)
and its event type were bound as text: SQLite raised ``UnicodeEncodeError`` (not
an ``InboxError``), PostgreSQL refuses NUL in text. The delivery could never be
stored (503 on every re-send), and in a SQLite group commit the error failed the
whole batch: concurrent genuine deliveries of other requests got 503 as well,
and Boltcall never retries. Now the key falls back to the body's SHA-256 and the
type is stored escaped; the body is kept as received.
"""

from __future__ import annotations

import json
import pathlib
import threading
from collections.abc import Callable

import pytest

from boltcall_webhooks import Router, UnknownEvent
from boltcall_webhooks.inbox import DeliveryState, Inbox, InboxError

TIMESTAMP = "2025-03-20T09:17:22Z"
ODD_LEAD = f'{{"event":"new_lead","timestamp":"{TIMESTAMP}","data":{{"id":"lead_\\ud800"}}}}'
ODD_NUL = f'{{"event":"new_lead","timestamp":"{TIMESTAMP}","data":{{"id":"lead_\\u0000x"}}}}'
ODD_TYPE = f'{{"event":"odd\\udfff\\u0000","timestamp":"{TIMESTAMP}","data":{{"id":"x_1"}}}}'


def _body(lead: str) -> bytes:
    envelope = {"event": "new_lead", "timestamp": TIMESTAMP, "data": {"id": lead}}
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("odd", [ODD_LEAD, ODD_NUL, ODD_TYPE], ids=["surrogate", "nul", "type"])
def test_an_odd_but_signed_body_is_stored_deduplicated_and_processed(
    tmp_path: pathlib.Path, odd: str
) -> None:
    body = odd.encode()
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3")
    try:
        first = inbox.store(body)
        again = inbox.store(body)  # a dashboard re-send
        assert not first.duplicate
        assert again.duplicate
        assert again.id == first.id
        stored = inbox.get(first.id)
        assert stored.body == body
        assert stored.state is DeliveryState.PENDING
        seen: list[str] = []
        router = Router()

        @router.on_any
        def handler(event: object) -> None:
            seen.append(type(event).__name__)

        assert inbox.work(router, once=True) == 1
        assert inbox.get(first.id).state is DeliveryState.DONE
        assert len(seen) == 1
        if odd is ODD_TYPE:
            assert seen == [UnknownEvent.__name__]
            assert inbox.list(type=stored.event_type)[0].id == first.id
    finally:
        inbox.close()


def test_one_odd_body_never_fails_the_other_stores_of_its_group_commit(
    tmp_path: pathlib.Path,
) -> None:
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3")
    bodies = [_body(f"lead_{number}") for number in range(40)]
    bodies[5] = ODD_LEAD.encode()
    bodies[25] = ODD_TYPE.encode()
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(bodies))

    def store(body: bytes) -> None:
        barrier.wait()
        try:
            inbox.store(body)
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=store, args=(body,)) for body in bodies]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert [type(error).__name__ for error in errors] == []
        assert inbox.stats()["pending"] == len(bodies)
    finally:
        inbox.close()


def test_a_dedupe_callable_returning_an_unstorable_key_is_an_inbox_error(
    tmp_path: pathlib.Path,
) -> None:
    key: Callable[[bytes, object], str] = lambda _body, _event: "k\ud800"  # noqa: E731
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3", dedupe=key)
    try:
        with pytest.raises(InboxError, match="lone surrogate or a NUL"):
            inbox.store(_body("lead_1"))
    finally:
        inbox.close()


# A resource id of kilobytes that does not compress (PostgreSQL's unique index on the key
# refused it: "index row requires 9048 bytes, maximum size is 8191"), an event type longer
# than the Django app's column, and the odd characters above: on every backend.
_LONG_ID = "".join(chr(ord("a") + (n * 7919) % 26) + str(n % 97) for n in range(3000))
ODD_BODIES = {
    "surrogate": ODD_LEAD.encode(),
    "nul": ODD_NUL.encode(),
    "type": ODD_TYPE.encode(),
    "long-id": _body(_LONG_ID),
    "long-type": json.dumps(
        {"event": "x" * 300, "timestamp": TIMESTAMP, "data": {"id": "x_2"}}
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(ODD_BODIES))
def test_every_backend_stores_an_odd_signed_body(
    make_inbox: Callable[..., Inbox], name: str
) -> None:
    body = ODD_BODIES[name]
    inbox = make_inbox()
    first = inbox.store(body)
    assert inbox.store(body).duplicate
    stored = inbox.get(first.id)
    assert stored.body == body
    assert stored.state is DeliveryState.PENDING
    assert stored.event_type is not None
    router = Router()
    seen: list[object] = []
    router.on_any(seen.append)
    assert inbox.work(router, once=True) == 1
    assert inbox.get(first.id).state is DeliveryState.DONE
    assert len(seen) == 1
