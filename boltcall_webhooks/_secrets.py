"""Secrets configuration: one secret, several, or a mapping bound to event types.

A *secret* is the string Boltcall shows once when a webhook is registered
(``whsec_...``). It is used as the HMAC key exactly as issued, UTF-8 encoded:
nothing is stripped, decoded or trimmed.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from boltcall_webhooks._errors import ConfigurationError

__all__ = ["SECRET_ENV_VAR", "KeyRing", "Secret", "Secrets", "resolve_secrets", "secrets_from_env"]

logger = logging.getLogger("boltcall_webhooks")

SECRET_ENV_VAR: Final = "BOLTCALL_WEBHOOK_SECRET"  # noqa: S105 - a name, not a secret
"""The environment variable read when no secret is given (comma-separated for several)."""

Secret: TypeAlias = str | bytes
"""One webhook secret, as issued by Boltcall (``str``) or already encoded (``bytes``)."""

Secrets: TypeAlias = Secret | Sequence[Secret] | Mapping[str, Secret | Sequence[Secret]]
"""One secret, several secrets (rotation), or a mapping ``event type -> secret(s)``."""

_KNOWN_EVENT_TYPES: Final = frozenset(
    {"new_lead", "missed_call", "appointment_booked", "call_completed", "review_received"}
)
_CACHE_LIMIT: Final = 64
_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Secrets ready for hashing.

    Attributes:
        keys: The distinct HMAC keys, in the order given.
        scopes: For a mapping, the event types each key is registered for (same
            order as ``keys``); ``None`` when every key is valid for every event.
    """

    keys: tuple[bytes, ...]
    scopes: tuple[frozenset[str], ...] | None = None

    def __repr__(self) -> str:
        return f"KeyRing(<{len(self.keys)} secret(s) hidden>, bound={self.scopes is not None})"


_cache: dict[object, KeyRing] = {}
single_keys: dict[str, bytes] = {}
"""The HMAC key of each one-secret ``str`` configuration resolved (hot-path look-ups)."""


def resolve_secrets(secrets: Secrets | None) -> KeyRing:
    """Turn any accepted secrets value into a :class:`KeyRing`.

    Raises:
        ConfigurationError: ``secrets`` is ``None``, empty, of a wrong type, or
            holds an empty or whitespace-only secret.
    """
    # Hashable configurations (the usual str, bytes or tuple) are resolved once.
    if secrets.__class__ is str:
        ring = _cache.get(secrets)
        if ring is not None:
            return ring
    cacheable = isinstance(secrets, (str, bytes, tuple))
    if cacheable:
        try:
            ring = _cache.get(secrets)
        except TypeError:  # a tuple holding something unhashable: checked below
            cacheable = False
            ring = None
        if ring is not None:
            return ring
    ring = _build(secrets)
    if cacheable:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
            single_keys.clear()
        _cache[secrets] = ring
        if isinstance(secrets, str):
            single_keys[secrets] = ring.keys[0]
    return ring


def secrets_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Read the secrets in ``BOLTCALL_WEBHOOK_SECRET`` (comma-separated).

    Raises:
        ConfigurationError: The variable is unset, empty, or has an empty entry.
    """
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV_VAR)
    if value is None or not value.strip():
        raise ConfigurationError(
            f"No webhook secret configured: pass secrets=... or set {SECRET_ENV_VAR} "
            "(comma-separated for several)."
        )
    parts = tuple(value.split(","))
    if any(not part.strip() for part in parts):
        raise ConfigurationError(f"{SECRET_ENV_VAR} has an empty entry; remove the stray comma.")
    return parts


def _build(secrets: Secrets | None) -> KeyRing:
    if secrets is None:
        raise ConfigurationError(
            "No webhook secret configured: a missing secret never means 'accept everything'."
        )
    if isinstance(secrets, (str, bytes)):
        return KeyRing((_encode(secrets, "secret"),))
    if isinstance(secrets, Mapping):
        return _build_mapping(secrets)
    if isinstance(secrets, Sequence):
        keys = _encode_all(secrets, "secrets")
        return KeyRing(keys)
    raise ConfigurationError(
        "secrets must be a str, bytes, a sequence of them, or a mapping of event type to "
        f"secret(s); got {type(secrets).__name__}."
    )


def _build_mapping(mapping: Mapping[str, Secret | Sequence[Secret]]) -> KeyRing:
    if not mapping:
        raise ConfigurationError("The secrets mapping is empty.")
    scopes: dict[bytes, set[str]] = {}
    unknown: list[str] = []
    # Keys are never echoed unless known: a mapping written backwards has secrets as keys.
    for event_type, value in mapping.items():
        if not isinstance(event_type, str) or not event_type:
            raise ConfigurationError(
                "Keys of the secrets mapping must be event type names; got "
                f"{type(event_type).__name__ if event_type else 'an empty string'}."
            )
        name = str.__str__(event_type)  # plain str, also for EventType members
        where = f"secrets[{name!r}]"
        if name not in _KNOWN_EVENT_TYPES:
            if not _EVENT_NAME.fullmatch(name) or name.startswith("whsec"):
                raise ConfigurationError(
                    "A key of the secrets mapping is not an event type name. The mapping goes "
                    "event type -> secret(s); is it written the other way round (reversed)?"
                )
            unknown.append(name)
            where = "a value of the secrets mapping (under an unknown event type)"
        if isinstance(value, (str, bytes)):
            keys: tuple[bytes, ...] = (_encode(value, where),)
        elif isinstance(value, Sequence):
            keys = _encode_all(value, where)
        else:
            raise ConfigurationError(
                f"{where} must be a secret or a sequence of secrets; got {type(value).__name__}."
            )
        for key in keys:
            scopes.setdefault(key, set()).add(name)
    for name in unknown:  # only once every value is known to be a real secret
        close = difflib.get_close_matches(name, sorted(_KNOWN_EVENT_TYPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        if close and not any(close[0] in scope for scope in scopes.values()):
            hint += f" No secret is registered for {close[0]!r}, so those events are refused."
        logger.warning(
            "The secrets mapping names an event type this version does not know: %r%s", name, hint
        )
    return KeyRing(tuple(scopes), tuple(frozenset(s) for s in scopes.values()))


def _encode_all(values: Sequence[object], where: str) -> tuple[bytes, ...]:
    if not values:
        raise ConfigurationError(f"{where} is empty: configure at least one secret.")
    keys: dict[bytes, None] = {}
    for index, value in enumerate(values):
        keys[_encode(value, f"{where}[{index}]")] = None
    return tuple(keys)


def _encode(value: object, where: str) -> bytes:
    if isinstance(value, str):
        try:
            key = value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError(f"{where} is not valid text (lone surrogate).") from None
    elif isinstance(value, bytes):
        key = value
    else:
        raise ConfigurationError(f"{where} must be str or bytes; got {type(value).__name__}.")
    text = value if isinstance(value, str) else key.decode("latin-1")
    # HMAC pads keys with NUL bytes, so a key of NULs is the empty key.
    if not text.replace("\x00", "").strip():
        raise ConfigurationError(f"{where} is empty or only whitespace.")
    if text in _KNOWN_EVENT_TYPES:
        raise ConfigurationError(
            f"{where} is an event type name, not a secret. The mapping goes event type -> "
            "secret(s); is it written the other way round (reversed)?"
        )
    if text != text.strip():
        logger.warning(
            "%s has leading or trailing whitespace; it is used verbatim, as Boltcall issued "
            "secrets have none. Check for a stray newline or space in its source.",
            where,
        )
    return key
