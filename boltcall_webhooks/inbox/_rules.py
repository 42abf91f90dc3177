"""The inbox's rules, apart from any database: backoff, dedupe keys, URLs, options.

Every backend applies the same rules; they live here so that a backend only
stores and fences, and the tests can check each rule on its own.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from boltcall_webhooks._delivery import event_key
from boltcall_webhooks._errors import ConfigurationError, WebhookError
from boltcall_webhooks._events import Event

if TYPE_CHECKING:
    from boltcall_webhooks.inbox._backend import Backend

__all__ = [
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_CAP",
    "URL_ENV_VAR",
    "Backoff",
    "Dedupe",
    "InboxError",
    "as_object",
    "dedupe_key",
    "exponential_backoff",
    "open_backend",
    "redact_url",
    "resolve_backoff",
    "resolve_dedupe",
    "sqlite_path",
]

#: The environment variable ``Inbox()`` reads when no URL is given.
URL_ENV_VAR = "BOLTCALL_INBOX_URL"
#: Seconds: the upper bound of the first retry's delay (full jitter: 0 to this).
DEFAULT_BACKOFF_BASE = 10.0
#: Seconds: no retry waits longer than this.
DEFAULT_BACKOFF_CAP = 3600.0

#: ``attempt -> seconds`` to wait before the next attempt (``attempt`` = attempts so far, >= 1).
Backoff = Callable[[int], float]
#: ``"event"``, ``"body"`` or ``(body, event) -> key`` (``event`` is ``None`` for a non-envelope).
Dedupe = Union[Literal["event", "body"], Callable[[bytes, Union[Event, None]], str]]  # noqa: UP007


def as_object(value: object) -> object:
    """``value`` seen as ``object``: run-time checks for untyped callers stay reachable."""
    return value


class InboxError(WebhookError):
    """The inbox could not do what was asked (database unreachable, locked, corrupt...).

    Endpoints answer it with 503 ``{"error": "Inbox unavailable"}``. The message
    never contains a body, a secret or a URL password.
    """


def exponential_backoff(
    attempt: int,
    *,
    base: float = DEFAULT_BACKOFF_BASE,
    cap: float = DEFAULT_BACKOFF_CAP,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``.

    Full jitter (rather than a fixed delay plus noise) spreads the retries of many
    deliveries that failed together, for example when a downstream API was down.

    Args:
        attempt: Attempts made so far (1 after the first failure).
        base: The upper bound of the first delay, seconds.
        cap: The largest delay, seconds.
        rand: A ``[0, 1)`` source (tests pass a fixed one).
    """
    exponent = min(max(attempt, 1) - 1, 60)
    return rand() * min(cap, base * (2.0**exponent))


def resolve_backoff(backoff: Backoff | None) -> Backoff:
    """The backoff to use: the default one, or the caller's callable checked at each call."""
    if backoff is None:
        return exponential_backoff
    if not callable(as_object(backoff)):
        msg = "backoff must be a callable attempt -> seconds, or None for the default"
        raise ConfigurationError(msg)
    user = backoff

    def checked(attempt: int) -> float:
        seconds = float(user(attempt))
        if not seconds >= 0.0:  # also refuses NaN
            msg = f"backoff returned {seconds!r} for attempt {attempt}; it must be >= 0"
            raise ValueError(msg)
        return min(seconds, 10.0 * 365 * 86400)

    return checked


def resolve_dedupe(dedupe: Dedupe) -> Callable[[bytes, Event | None], str]:
    """The key function for a dedupe policy (``"event"``, ``"body"`` or a callable)."""
    if dedupe == "event":
        return event_key
    if dedupe == "body":
        return lambda body, _event: "sha256:" + hashlib.sha256(body).hexdigest()
    if callable(as_object(dedupe)):
        user = dedupe

        def checked(body: bytes, event: Event | None) -> str:
            key = user(body, event)
            if not isinstance(key, str) or not key:
                msg = "the dedupe callable must return a non-empty str"
                raise TypeError(msg)
            return key

        return checked
    msg = 'dedupe must be "event", "body" or a callable (body, event) -> str'
    raise ConfigurationError(msg)


def dedupe_key(dedupe: Dedupe, body: bytes, event: Event | None) -> str:
    """The key ``body`` is stored under with policy ``dedupe`` (convenience for tests)."""
    return resolve_dedupe(dedupe)(body, event)


_PASSWORD = re.compile(r"(?<=:)[^:@/]*(?=@)")
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})  # libpq URI query parameters


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for reprs, logs and errors).

    Both the ``user:password@`` one and libpq's ``?password=`` (and
    ``sslpassword=``) query parameters.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.query:
        head, mark, rest = url.partition("?")
        query, hash_mark, fragment = rest.partition("#")
        fields = query.split("&")
        redacted = [
            f"{field.split('=', 1)[0]}=***"
            if unquote_plus(field.split("=", 1)[0]).strip().lower() in _SECRET_PARAMETERS
            else field
            for field in fields
        ]
        if redacted != fields:
            url = f"{head}{mark}{'&'.join(redacted)}{hash_mark}{fragment}"
            parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL, read as SQLAlchemy and dj-database-url read it.

    ``sqlite:///inbox.sqlite3`` is relative to the working directory,
    ``sqlite:////var/lib/app/inbox.sqlite3`` is absolute. Query strings are not
    accepted (options are keyword arguments of :class:`Inbox`). ``:memory:`` is
    refused: an inbox that vanishes with the process guarantees nothing.

    Raises:
        ConfigurationError: Not a usable ``sqlite:///`` URL.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        msg = "a SQLite inbox URL looks like sqlite:///relative.sqlite3 or sqlite:////abs/path"
        raise ConfigurationError(msg)
    path = url[len(prefix) :]
    if not path or "?" in path or "#" in path:
        msg = "a SQLite inbox URL needs a file path and takes no query string"
        raise ConfigurationError(msg)
    if path == ":memory:":
        msg = "an in-memory SQLite inbox would lose every delivery with the process"
        raise ConfigurationError(msg)
    return path


@dataclass(frozen=True)
class _Scheme:
    module: str
    extra: str | None


_SCHEMES = {
    "sqlite": _Scheme("boltcall_webhooks.inbox._sqlite", None),
    "postgresql": _Scheme("boltcall_webhooks.inbox._postgres", "postgres"),
    "postgres": _Scheme("boltcall_webhooks.inbox._postgres", "postgres"),
    # "django" or "django://ALIAS": the app's models in the project's database.
    "django": _Scheme("boltcall_webhooks.django._backend", "django"),
}


def open_backend(url: str | None, options: dict[str, Any]) -> tuple[str, Backend]:
    """The backend for ``url`` (``None``: ``BOLTCALL_INBOX_URL``), not yet connected.

    Each backend module exposes ``open_backend(url: str, options: dict) -> Backend``
    that checks its options (``ConfigurationError`` for an unknown one) and does not
    connect yet (connections open on first use, after any fork).

    Returns:
        The URL with its password redacted, and the backend.

    Raises:
        ConfigurationError: No URL, an unknown scheme, a bad option, or the
            backend's extra not installed.
    """
    if url is None:
        url = os.environ.get(URL_ENV_VAR, "").strip()
        if not url:
            msg = f"no inbox URL: give one (Inbox(url), --inbox URL) or set {URL_ENV_VAR}"
            raise ConfigurationError(msg)
    if not isinstance(as_object(url), str):
        msg = "the inbox URL must be a str"
        raise ConfigurationError(msg)
    scheme = url.split(":", 1)[0].lower()  # "django" alone is a whole URL
    scheme = scheme.split("+", 1)[0]  # postgresql+psycopg:// as SQLAlchemy writes it
    found = _SCHEMES.get(scheme)
    shown = redact_url(url)
    if found is None:
        msg = (
            f"unknown inbox URL scheme in {shown!r}: "
            "use sqlite:///PATH, postgresql://... or django"
        )
        raise ConfigurationError(msg)
    try:
        module = importlib.import_module(found.module)
    except ImportError as exc:
        if exc.name == found.module:
            msg = f"the {scheme} inbox backend is not part of this installation"
            raise ConfigurationError(msg) from None
        if found.extra is None or (exc.name or "").startswith("boltcall_webhooks"):
            raise
        msg = (
            f"the {scheme} inbox needs an extra: pip install "
            f'"boltcall-webhooks[{found.extra}]" ({exc.name} is missing)'
        )
        raise ConfigurationError(msg) from None
    backend: Backend = module.open_backend(url, options)
    return shown, backend
