"""Fuzz ``construct_event`` and ``Verifier`` with arbitrary bodies, signatures and options.

Input layout: four control bytes, then the body. The control bytes choose the
secrets configuration, how the signature is made (absent, arbitrary text, right,
right but re-cased and padded, one digit off, made with a foreign key, not a
``str`` at all), the options (tolerance, strict, body cap) and the entry point.

Checked on every input:

* only ``WebhookError`` subclasses escape (anything else is a crash);
* an accepted event always carries a signature that an independent HMAC
  computation confirms for one of the configured keys, and, with a mapping of
  secrets, a key registered for the event's type;
* no error message holds a secret or the expected digest.

Run: ``python tests/fuzz/fuzz_construct.py [libFuzzer options] [CORPUS_DIR]``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from _common import FIXED_NOW, LEAKS, OUTCOMES, SECRETS, bw, hex_signature, main

_S = list(SECRETS.values())
_FOREIGN = "whsec_" + "f" * 32

# (secrets as passed, keys with the event types each may sign; None = any type)
_CONFIGS: list[tuple[bw.Secrets, dict[bytes, frozenset[str] | None]]] = [
    (_S[0], {_S[0].encode(): None}),
    (_S[1].encode(), {_S[1].encode(): None}),
    ([_S[0], _S[1]], {_S[0].encode(): None, _S[1].encode(): None}),
    (tuple(_S), {s.encode(): None for s in _S}),
    (dict(SECRETS), {s.encode(): frozenset({t}) for t, s in SECRETS.items()}),
    (
        {"call_completed": [_S[0], _S[3]], "missed_call": _S[3]},
        {
            _S[0].encode(): frozenset({"call_completed"}),
            _S[3].encode(): frozenset({"call_completed", "missed_call"}),
        },
    ),
    ({bw.EventType.NEW_LEAD: _S[2].encode()}, {_S[2].encode(): frozenset({"new_lead"})}),
    (_S[4] + "\n", {(_S[4] + "\n").encode(): None}),  # used verbatim, with a warning
]

_TOLERANCES: list[float | timedelta | None] = [
    None,
    None,
    None,
    0,
    30.0,
    timedelta(days=3650),
    1e300,
    float("nan"),
    -1,
]
_CAPS: list[int | None] = [bw.DEFAULT_MAX_BODY_SIZE, 64, 0, None]


def _signature(mode: int, pick: int, body: bytes, keys: list[bytes]) -> object:
    key = keys[pick % len(keys)]
    good = hex_signature(key, body)
    if mode == 0:
        return None
    if mode == 1:  # arbitrary text taken from the body
        return body[: pick % 90].decode("latin-1")
    if mode == 2:
        return good
    if mode == 3:
        return f" \t{good.upper()}\r\n"
    if mode == 4:  # one hex digit off
        i = pick % 64
        return good[:i] + ("0" if good[i] != "0" else "1") + good[i + 1 :]
    if mode == 5:
        return hex_signature(_FOREIGN.encode(), body)
    if mode == 6:
        return good.encode()
    return [good]


def _accepted_by(
    signature: object, body: bytes, keys: dict[bytes, frozenset[str] | None], event_type: str
) -> bool:
    """Independent oracle: is this a genuine signature allowed for this event type?"""
    if not isinstance(signature, str):
        return False
    text = signature.strip().lower()
    return any(
        hex_signature(key, body) == text and (scope is None or event_type in scope)
        for key, scope in keys.items()
    )


def test_one(data: bytes) -> None:
    """Run one verification with the configuration the control bytes choose."""
    if len(data) < 4:
        return
    c0, c1, c2, c3 = data[:4]
    body = data[4:]
    secrets, keys = _CONFIGS[c0 % len(_CONFIGS)]
    signature: Any = _signature(c1 % 8, c3, body, list(keys))  # deliberately any type
    tolerance = _TOLERANCES[c2 % len(_TOLERANCES)]
    strict = bool(c2 & 0x80)
    try:
        if c0 & 0x80:
            verifier = bw.Verifier(
                secrets,
                tolerance=tolerance,
                strict=strict,
                max_body_size=_CAPS[(c2 >> 4) % len(_CAPS)],
                clock=lambda: FIXED_NOW,
            )
            event = verifier.construct_event(body, signature)
        else:
            event = bw.construct_event(
                body,
                signature,
                secrets,
                tolerance=tolerance,
                strict=strict,
                clock=lambda: FIXED_NOW,
            )
    except bw.WebhookError as exc:
        OUTCOMES[type(exc).__name__] += 1
        LEAKS.check_error(exc, *(hex_signature(k, body) for k in keys))
        return
    OUTCOMES["accepted"] += 1
    if not _accepted_by(signature, body, keys, event.type):
        msg = "an event was accepted without a genuine signature for its type"
        raise AssertionError(msg)


if __name__ == "__main__":
    main(test_one)
