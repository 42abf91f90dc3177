"""Signing and signature verification: HMAC-SHA256 of the raw body, in hex."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._errors import InvalidSignatureError, MissingSignatureError
from boltcall_webhooks._secrets import resolve_secrets
from boltcall_webhooks._secrets import single_keys as _single_keys

if TYPE_CHECKING:
    from boltcall_webhooks._secrets import Secret, Secrets

__all__ = [
    "SIGNATURE_HEADER",
    "any_key_matches",
    "check_body",
    "decode_signature",
    "is_valid_signature",
    "matching_keys",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "X-Boltcall-Signature"
"""The request header that carries the signature."""

# Bound once for verify_signature's inlined one-secret case.
_hmac_digest: Final = hmac.digest
_compare_digest: Final = hmac.compare_digest
_DIGEST_HEX_LENGTH: Final = 64
_DIGEST_LENGTH: Final = 32
_MALFORMED: Final = (
    "The signature is malformed: expected 64 hexadecimal digits (HMAC-SHA256 of the body)."
)
_MISMATCH: Final = (
    "The signature does not match the body. Usual causes: the body was not passed as the "
    "raw bytes exactly as received (parsed and re-serialised JSON never matches), or the "
    "secret is not the one of the webhook subscription that sent this event."
)


def sign(body: bytes, secret: Secret) -> str:
    """Compute the signature Boltcall sends for ``body``.

    Args:
        body: The exact request body bytes.
        secret: The webhook secret, used verbatim (UTF-8 for ``str``).

    Returns:
        The lowercase hex HMAC-SHA256 digest, as in ``X-Boltcall-Signature``.

    Raises:
        ConfigurationError: The secret is empty or not ``str``/``bytes``.
        TypeError: ``body`` is not bytes, or several secrets were given.
    """
    ring = resolve_secrets(secret)
    if len(ring.keys) != 1:
        msg = "sign() takes exactly one secret."
        raise TypeError(msg)
    check_body(body)
    return hmac.new(ring.keys[0], body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, signature: str | None, secrets: Secrets) -> None:
    """Check that ``signature`` is a valid signature of ``body``.

    Every configured secret is checked, matching or not, so the time taken does
    not tell which secret (if any) matched. With a mapping of secrets, a
    signature made with any of its secrets is accepted; the binding of a secret
    to its event type is checked where the body is parsed
    (:func:`construct_event`).

    Args:
        body: The raw request body, exactly as received.
        signature: The ``X-Boltcall-Signature`` header value (``None`` when absent).
            Surrounding whitespace and upper-case hex are accepted.
        secrets: One secret, a sequence of secrets, or a mapping
            ``event type -> secret(s)``.

    Raises:
        MissingSignatureError: The header is absent or empty.
        InvalidSignatureError: The header is malformed or does not match.
        ConfigurationError: ``secrets`` is empty or invalid.
        TypeError: ``body`` is not bytes.
    """
    # The common case (one str secret, bytes body) is inlined: this function is
    # benchmarked against a bare hmac.digest + compare_digest.
    key = _single_keys.get(secrets) if type(secrets) is str else None
    keys = resolve_secrets(secrets).keys if key is None else ()
    expected = b""
    if type(signature) is str and len(signature) == _DIGEST_HEX_LENGTH:
        try:  # noqa: SIM105 - contextlib.suppress costs more than the HMAC margin here
            expected = bytes.fromhex(signature)
        except ValueError:
            pass
    if len(expected) != _DIGEST_LENGTH:  # not the plain 64 hex digits Boltcall sends
        expected = decode_signature(signature)
    if type(body) is not bytes:
        check_body(body)
    if key is not None:
        valid = _compare_digest(_hmac_digest(key, body, "sha256"), expected)
    else:
        valid = any_key_matches(keys, body, expected)
    if not valid:
        raise InvalidSignatureError(_MISMATCH)


def is_valid_signature(body: bytes, signature: str | None, secrets: Secrets) -> bool:
    """Tell whether ``signature`` is a valid signature of ``body``.

    Never raises for bad input (a missing or malformed header, a body that is
    not bytes): those are simply not valid.

    Raises:
        ConfigurationError: ``secrets`` is empty or invalid.
    """
    ring = resolve_secrets(secrets)
    try:
        expected = decode_signature(signature)
        check_body(body)
    except (MissingSignatureError, InvalidSignatureError, TypeError):
        return False
    return any_key_matches(ring.keys, body, expected)


def decode_signature(signature: object) -> bytes:
    """Turn a header value into the 32 digest bytes it claims.

    Raises:
        MissingSignatureError: ``None``, empty or whitespace only.
        InvalidSignatureError: Anything that is not 64 hex digits after stripping
            (including ``bytes``, lists and non-ASCII text).
    """
    # Fast path: exactly 64 characters, as Boltcall sends it.
    if type(signature) is str and len(signature) == _DIGEST_HEX_LENGTH:
        try:
            digest = bytes.fromhex(signature)
        except ValueError:
            digest = b""
        if len(digest) == _DIGEST_LENGTH:
            return digest
    if signature is None:
        raise MissingSignatureError(f"The {SIGNATURE_HEADER} header is missing.")
    if not isinstance(signature, str):
        msg = f"The signature must be the header value as str; got {type(signature).__name__}."
        raise InvalidSignatureError(msg)
    text = signature.strip()
    if not text:
        raise MissingSignatureError(f"The {SIGNATURE_HEADER} header is empty.")
    if len(text) != _DIGEST_HEX_LENGTH:
        raise InvalidSignatureError(_MALFORMED)
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        raise InvalidSignatureError(_MALFORMED) from None
    if len(digest) != _DIGEST_LENGTH:  # fromhex skips inner spaces
        raise InvalidSignatureError(_MALFORMED)
    return digest


def check_body(body: object) -> None:
    """Refuse a body that is not the raw bytes (a programming error, not an attack).

    Raises:
        TypeError: ``body`` is ``str``, a parsed object, or anything but bytes.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        msg = (
            "The body must be the raw request body as bytes, exactly as received; got "
            f"{type(body).__name__}. Parsed or decoded bodies cannot be verified."
        )
        raise TypeError(msg)


def any_key_matches(keys: tuple[bytes, ...], body: bytes, expected: bytes) -> bool:
    """Tell whether any key signs ``body`` as ``expected``, checking every key.

    There is deliberately no early exit: each key is hashed and compared in
    constant time whatever the result of the others, so the time taken does not
    reveal which key matched.
    """
    if len(keys) == 1:
        return hmac.compare_digest(hmac.digest(keys[0], body, "sha256"), expected)
    # count() walks the whole list; `True in` would stop at the first match.
    return matching_keys(keys, body, expected).count(True) > 0


def matching_keys(keys: tuple[bytes, ...], body: bytes, expected: bytes) -> list[bool]:
    """Hash ``body`` with every key and compare each digest in constant time."""
    digest = hmac.digest
    compare = hmac.compare_digest
    return [compare(digest(key, body, "sha256"), expected) for key in keys]


def mismatch_error() -> InvalidSignatureError:
    """The error for a well-formed signature that matches no usable secret."""
    return InvalidSignatureError(_MISMATCH)
