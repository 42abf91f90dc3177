"""Fuzz forgery attempts: no body signed with a wrong key, or changed after signing, gets in.

Input layout: four control bytes, then the payload. The control bytes choose
the receiver's configuration (one secret, five for rotation, or a mapping of
the five event types to their own secrets) and the attack:

0. a key taken from the payload (never one of the configured keys);
1. a near miss of a configured key: a trailing newline or space, upper case,
   the ``whsec_`` prefix dropped, the last character dropped;
2. a body signed with the right key, then changed (a bit flipped, a byte added
   or removed, JSON re-serialised, whitespace added);
3. the right signature, then changed (one digit, a digit dropped or added);
4. with a mapping: a body signed with the secret of another event type.

Every entry point must refuse: ``verify_signature`` and ``Verifier.verify``
raise ``InvalidSignatureError``, ``is_valid_signature`` returns ``False``,
``construct_event``, ``Verifier.construct_event`` and
``construct_event_from_headers`` raise a ``SignatureError``. (Attack 4 is only
refused by the parsing entry points: ``verify_signature`` does not parse, so it
cannot know the event type; that is the documented contract.)

Run: ``python tests/fuzz/fuzz_wrong_key.py [libFuzzer options] [CORPUS_DIR]``.
"""

from __future__ import annotations

import json

from _common import ALL_KEYS, LEAKS, OUTCOMES, SECRETS, bw, hex_signature, main

_TYPES = list(SECRETS)
_CONFIGS: list[bw.Secrets] = [
    SECRETS["call_completed"],
    list(SECRETS.values()),
    dict(SECRETS),
]
_VERIFIERS = [bw.Verifier(c) for c in _CONFIGS]


def _configured(config: int) -> tuple[bytes, ...]:
    return ALL_KEYS[3:4] if config == 0 else ALL_KEYS


def _near_miss(key: bytes, which: int) -> bytes:
    # Not ``key + b"\0"``: HMAC pads short keys with zero bytes (RFC 2104), so a key
    # and the same key with trailing NULs are one key; that is not a forgery.
    variants = [key + b"\n", key + b" ", b" " + key, key.upper(), key[6:], key[:-1]]
    return variants[which % len(variants)]


def _changed_body(body: bytes, a: int, b: int) -> bytes:
    kind = a % 5
    if kind == 0 and body:
        i = b % len(body)
        return body[:i] + bytes([body[i] ^ (1 << (a >> 5))]) + body[i + 1 :]
    if kind == 1:
        return body + bytes([b])
    if kind == 2 and body:
        i = b % len(body)
        return body[:i] + body[i + 1 :]
    if kind == 3:
        try:
            return json.dumps(json.loads(body), separators=(",", ":")).encode()
        except (ValueError, RecursionError):
            return body + b"\n"
    return b" " + body + b"\r\n"


def _changed_signature(good: str, a: int, b: int) -> str:
    i = b % 64
    kind = a % 3
    if kind == 0:
        return good[:i] + format((int(good[i], 16) + 1 + a % 15) % 16, "x") + good[i + 1 :]
    if kind == 1:
        return good[:i] + good[i + 1 :]
    return good[:i] + "0" + good[i:]


def _attack(data: bytes) -> tuple[int, bytes, str, str | None] | None:
    """Return (config, body, signature, event type the key may sign) or None to skip."""
    c0, c1, c2, c3 = data[:4]
    payload = data[4:]
    config = c0 % len(_CONFIGS)
    keys = _configured(config)
    kind = c1 % 5
    if kind == 0:
        size = 1 + c2 % 48
        key, body = payload[:size], payload[size:]
        if not key.strip() or key.rstrip(b"\0") in ALL_KEYS:  # see _near_miss
            return None
        return config, body, hex_signature(key, body), None
    if kind == 1:
        key = _near_miss(keys[c3 % len(keys)], c2)
        return config, payload, hex_signature(key, payload), None
    if kind == 2:
        key = keys[c3 % len(keys)]
        changed = _changed_body(payload, c2, c3)
        if changed == payload:
            return None
        return config, changed, hex_signature(key, payload), None
    if kind == 3:
        good = hex_signature(keys[c3 % len(keys)], payload)
        return config, payload, _changed_signature(good, c2, c3), None
    if config != 2:
        return None
    signer = _TYPES[c2 % len(_TYPES)]
    return config, payload, hex_signature(SECRETS[signer].encode(), payload), signer


def _refused(call: object, *args: object) -> None:
    try:
        call(*args)  # type: ignore[operator]
    except bw.SignatureError as exc:
        OUTCOMES[type(exc).__name__] += 1
        LEAKS.check_error(exc)
        return
    except bw.PayloadError as exc:
        # Only reachable after the signature held: that is an acceptance.
        msg = "a forged body passed signature verification (PayloadError after it)"
        raise AssertionError(msg) from exc
    msg = "a forged body was accepted"
    raise AssertionError(msg)


def test_one(data: bytes) -> None:
    """Mount one attack and check that every entry point refuses it."""
    if len(data) < 4:
        return
    attack = _attack(data)
    if attack is None:
        return
    config, body, signature, signer = attack
    secrets = _CONFIGS[config]
    verifier = _VERIFIERS[config]
    headers = {"x-boltcall-signature": signature}
    if signer is None:
        _refused(bw.verify_signature, body, signature, secrets)
        _refused(verifier.verify, body, signature)
        if bw.is_valid_signature(body, signature, secrets):
            msg = "is_valid_signature accepted a forged body"
            raise AssertionError(msg)
        _refused(bw.construct_event, body, signature, secrets)
        _refused(verifier.construct_event, body, signature)
        _refused(verifier.construct_event_from_headers, headers, body)
        return
    # Attack 4: the signature is genuine for ``signer``; only that type may pass.
    for entry, args in (
        (bw.construct_event, (body, signature, secrets)),
        (verifier.construct_event, (body, signature)),
        (verifier.construct_event_from_headers, (headers, body)),
    ):
        try:
            event = entry(*args)
        except bw.WebhookError as exc:
            OUTCOMES[f"cross-type {type(exc).__name__}"] += 1
            continue
        OUTCOMES["cross-type accepted for its own type"] += 1
        if event.type != signer:
            msg = f"a {signer} secret was accepted for a {event.type!r} event"
            raise AssertionError(msg)


if __name__ == "__main__":
    main(test_one)
