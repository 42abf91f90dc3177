"""Fuzz ``parse_event`` (lenient and strict) with arbitrary bytes and text.

The whole input is the body. Checked on every input:

* only ``PayloadError`` leaves the parser (anything else is a crash);
* a refused bytes body is kept, unchanged, on the error (``.body``);
* strict mode never accepts what lenient mode refuses, and when strict accepts,
  lenient gives the same event;
* an accepted event has an aware UTC timestamp and ``raw`` matching its type;
* text input gives the same outcome as the same text encoded as UTF-8.

Run: ``python tests/fuzz/fuzz_parse.py [libFuzzer options] [CORPUS_DIR]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from _common import OUTCOMES, bw, main

Outcome = tuple[str, object]


def _parse(body: bytes | str, *, strict: bool) -> Outcome:
    try:
        event = bw.parse_event(body, strict=strict)
    except bw.PayloadError as exc:
        if isinstance(body, bytes) and exc.body != body:
            msg = "PayloadError.body is not the body as received"
            raise AssertionError(msg) from exc
        return ("refused", exc.path)
    _check_event(event)
    return ("accepted", event)


def _check_event(event: bw.Event) -> None:
    if event.timestamp.utcoffset() != timedelta(0):
        msg = "timestamp is not in UTC"
        raise AssertionError(msg)
    if not isinstance(event.raw, Mapping) or event.raw.get("event") != event.type:
        msg = "raw does not hold the envelope of this event"
        raise AssertionError(msg)
    known = {t.value for t in bw.EventType}
    if isinstance(event, bw.UnknownEvent):
        data: object = event.data
        if not isinstance(data, Mapping):
            msg = "UnknownEvent.data is not a mapping"
            raise AssertionError(msg)
    elif event.type not in known or not isinstance(event.data.id, str):
        msg = "a typed event without a known type and a string id"
        raise AssertionError(msg)


def test_one(data: bytes) -> None:
    """Parse ``data`` both ways and compare the outcomes."""
    lenient = _parse(data, strict=False)
    strict = _parse(data, strict=True)
    OUTCOMES[f"lenient {lenient[0]}"] += 1
    OUTCOMES[f"strict {strict[0]}"] += 1
    if lenient[0] == "refused" and strict[0] != "refused":
        msg = "strict mode accepted a body that lenient mode refused"
        raise AssertionError(msg)
    if strict[0] == "accepted" and strict[1] != lenient[1]:
        msg = "strict and lenient modes disagree on an accepted body"
        raise AssertionError(msg)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    as_text = _parse(text, strict=False)
    if as_text[0] != lenient[0] or (as_text[0] == "accepted" and as_text[1] != lenient[1]):
        msg = "text and bytes inputs disagree"
        raise AssertionError(msg)


if __name__ == "__main__":
    main(test_one)
