"""Fuzz header parsing: ``decode_signature`` and ``Verifier.construct_event_from_headers``.

The input drives an ``atheris.FuzzedDataProvider``: arbitrary header mappings
(names in any case, several spellings of the signature header, values that are
arbitrary text, the right signature re-cased or padded, ``bytes``, ``None`` or
lists) and an arbitrary body.

Checked on every input:

* only ``WebhookError`` subclasses escape (anything else is a crash);
* ``decode_signature`` returns 32 bytes, exactly those spelled by the stripped text;
* an accepted request carries, under every spelling of the header name that
  has a value (``None`` counts as absent), one value that an independent HMAC
  computation confirms;
* no error message holds a secret or the expected digest.

Run: ``python tests/fuzz/fuzz_headers.py [libFuzzer options] [CORPUS_DIR]``.
"""

from __future__ import annotations

import atheris  # type: ignore[import-untyped]
from _common import (
    FIXED_NOW,
    LEAKS,
    OUTCOMES,
    SECRETS,
    bw,
    hex_signature,
    main,
    seed_envelopes,
)

_KEY = SECRETS["call_completed"]
_VERIFIER = bw.Verifier(_KEY, clock=lambda: FIXED_NOW)
_NAMES = [
    "X-Boltcall-Signature",
    "x-boltcall-signature",
    "X-BOLTCALL-SIGNATURE",
    "x-Boltcall-signature",
    "X-Boltcall-Signature ",
    "X_Boltcall_Signature",
    "Content-Type",
]
_BODIES = list(seed_envelopes())
_SPACES = ["", " ", "\t", "\r\n", "\u00a0", "\u3000", "\x0b", "\x00"]


def _value(fdp: atheris.FuzzedDataProvider, good: str) -> object:
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 80))
    if kind == 1:
        return good
    if kind == 2:
        pad = fdp.PickValueInList(_SPACES)
        upper = fdp.ConsumeBool()
        return pad + (good.upper() if upper else good) + fdp.PickValueInList(_SPACES)
    if kind == 3:  # the right digits, with something spliced in
        i = fdp.ConsumeIntInRange(0, 64)
        return good[:i] + fdp.ConsumeUnicode(2) + good[i:]
    if kind == 4:
        return good.encode()
    if kind == 5:
        return None
    if kind == 6:
        return [good]
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80)).hex()


def _check_decode(value: object) -> None:
    try:
        digest = bw._signing.decode_signature(value)
    except bw.SignatureError:
        return
    if not isinstance(value, str) or bytes.fromhex(value.strip()) != digest or len(digest) != 32:
        msg = "decode_signature returned something the header does not spell"
        raise AssertionError(msg)


def test_one(data: bytes) -> None:
    """Build a header mapping and a body from ``data`` and verify them."""
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        body = fdp.PickValueInList(_BODIES)
    else:
        body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    good = hex_signature(_KEY.encode(), body)
    headers: dict[str, object] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        if fdp.ConsumeBool():
            name = fdp.PickValueInList(_NAMES)
        else:
            name = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24))
        headers[name] = _value(fdp, good)
    for value in headers.values():
        _check_decode(value)
    try:
        event = _VERIFIER.construct_event_from_headers(headers, body)  # type: ignore[arg-type]
    except bw.WebhookError as exc:
        OUTCOMES[type(exc).__name__] += 1
        LEAKS.check_error(exc, good)
        return
    OUTCOMES["accepted"] += 1
    # A None value stands for "no such header" (as in most HTTP client APIs).
    sent = [v for n, v in headers.items() if n.lower() == "x-boltcall-signature" and v is not None]
    if not sent or any(not isinstance(v, str) or v.strip().lower() != good for v in sent):
        msg = f"accepted a request whose signature headers are not all genuine ({event.type})"
        raise AssertionError(msg)


if __name__ == "__main__":
    main(test_one)
