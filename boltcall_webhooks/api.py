"""A typed client for Boltcall's webhook management API: list, create, delete.

::

    from boltcall_webhooks.api import WebhooksClient

    client = WebhooksClient()  # reads BOLTCALL_API_KEY
    created = client.create_webhook("https://example.com/boltcall", "new_lead", name="CRM")
    save_secret(created.secret)  # Boltcall shows it only this once

The client uses the standard library only (:mod:`urllib.request`). It never
retries on its own (a retried ``create`` could register a webhook twice) and
never follows redirects (the API key must not travel to another host).

Every failure of a call is an :class:`ApiError`, itself a
:class:`~boltcall_webhooks.WebhookError`, so one ``except`` catches the library::

    WebhookError
    ├── ConfigurationError         no API key, or a bad base_url / timeout (at construction)
    └── ApiError                   a call failed (.status, .body)
        ├── AuthenticationError    401 or 403: the key is wrong, revoked or lacks rights
        ├── NotFoundError          404: no such webhook
        ├── RateLimitError         429 (.retry_after)
        └── ApiConnectionError     no HTTP answer at all (.status is None)
            └── ApiTimeoutError    no answer within ``timeout`` seconds

A bad argument (a non-HTTPS ``url``, an unknown ``trigger_event``) raises
:class:`ValueError` before any request is sent. The API key and webhook
secrets never appear in reprs, log records or error messages. Each call is
logged at ``DEBUG`` level on the logger ``boltcall_webhooks.api`` (method,
route, status and duration only).
"""

from __future__ import annotations

import email.utils
import ipaddress
import itertools
import json
import logging
import math
import os
import platform
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from http.client import HTTPException
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from boltcall_webhooks import __version__
from boltcall_webhooks._errors import ConfigurationError, WebhookError
from boltcall_webhooks._events import EventType
from boltcall_webhooks._parsing import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "API_KEY_ENV_VAR",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "CreatedWebhook",
    "NotFoundError",
    "RateLimitError",
    "Webhook",
    "WebhooksClient",
]

_logger = logging.getLogger("boltcall_webhooks.api")

API_KEY_ENV_VAR: Final = "BOLTCALL_API_KEY"
"""The environment variable read when no ``api_key`` is given."""

DEFAULT_BASE_URL: Final = "https://api.boltcall.org/v1"
"""The Boltcall management API."""

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds to wait for the connection and for each read of the answer."""

_MAX_RESPONSE_SIZE: Final = 8 * 1024 * 1024
_MAX_MESSAGE_LENGTH: Final = 300
_MIN_REDACTED_RUN: Final = 8  # this many consecutive characters of the key are hidden
_REDACTED: Final = "[redacted]"
_KNOWN_EVENTS: Final = tuple(member.value for member in EventType)
_DELAY_SECONDS: Final = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,6})?")


# Errors ---------------------------------------------------------------------


class ApiError(WebhookError):
    """A call to the Boltcall management API failed.

    Attributes:
        status: The HTTP status of the answer, or ``None`` when there was none
            (connection failure, timeout).
        body: The raw body of the answer (empty when there was none). For a
            ``create_webhook`` answer that could not be read it may hold the new
            secret, which Boltcall never shows again: treat it as a secret.
    """

    status: int | None
    body: bytes

    def __init__(self, message: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class AuthenticationError(ApiError):
    """The API refused the key (HTTP 401) or its rights (HTTP 403)."""


class NotFoundError(ApiError):
    """The webhook (or the API path) does not exist (HTTP 404)."""


class RateLimitError(ApiError):
    """Too many requests (HTTP 429).

    Attributes:
        retry_after: Seconds to wait before retrying, from the ``Retry-After``
            header (a number of seconds or an HTTP date), or ``None`` when the
            header is absent or unreadable.
    """

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class ApiConnectionError(ApiError):
    """The API could not be reached: DNS, refused connection, TLS, a broken answer.

    ``status`` is ``None``. Whether the request took effect is unknown: after a
    failed ``create_webhook``, list the webhooks before trying again.
    """


class ApiTimeoutError(ApiConnectionError):
    """The API did not answer within the client's ``timeout``."""


# Models ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """A webhook subscription: one HTTPS URL listening to one event type.

    Attributes:
        id: Boltcall's identifier (a JSON number is turned into its decimal string).
        name: The optional label, or ``None``.
        url: The HTTPS URL Boltcall posts the events to.
        trigger_event: The event type it listens to, such as ``"new_lead"``. A
            plain ``str`` (an event type newer than this library is kept);
            compare it with :class:`~boltcall_webhooks.EventType` members.
        is_active: Whether Boltcall currently delivers to it.
        created_at: When it was registered (aware, UTC).
    """

    id: str
    name: str | None
    url: str
    trigger_event: str
    is_active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedWebhook(Webhook):
    """A newly registered :class:`Webhook` plus its signing ``secret``.

    Boltcall shows the secret only in the answer to the creation: store it
    (for example as ``BOLTCALL_WEBHOOK_SECRET`` where the receiver runs). The
    secret is left out of the ``repr``.

    Attributes:
        secret: The signing secret, ``whsec_...``, exactly as issued.
    """

    secret: str

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{item.name}={getattr(self, item.name)!r}"
            for item in fields(self)
            if item.name != "secret"
        )
        return f"{type(self).__name__}({shown}, secret=<hidden>)"


# The client -----------------------------------------------------------------


class WebhooksClient:
    """List, register and delete the webhooks of a Boltcall workspace.

    Args:
        api_key: The workspace's API key; ``None`` reads ``BOLTCALL_API_KEY``.
            Surrounding whitespace (a stray newline) is removed.
        base_url: The API root. It must be ``https://``; plain ``http://`` is
            accepted only for loopback hosts (``127.0.0.1``, ``::1``,
            ``localhost``), for local fakes in tests. Loopback URLs bypass any
            configured proxy.
        timeout: Seconds to wait for the connection and for each read of the
            answer (a socket timeout, not a total deadline).

    Raises:
        ConfigurationError: No API key is given or set, the key cannot be sent
            in an HTTP header, or ``base_url`` or ``timeout`` is unusable.
    """

    __slots__ = ("_api_key", "_base_url", "_opener", "_timeout", "_user_agent")

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._api_key = _resolve_api_key(api_key)
        self._base_url, loopback = _check_base_url(base_url)
        self._timeout = _check_timeout(timeout)
        handlers: list[urllib.request.BaseHandler] = [_RefuseRedirects()]
        if loopback:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)
        self._user_agent = f"boltcall-webhooks/{__version__} python/{platform.python_version()}"

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._base_url

    @property
    def timeout(self) -> float:
        """The socket timeout in seconds."""
        return self._timeout

    def __repr__(self) -> str:
        return f"WebhooksClient(base_url={self._base_url!r}, timeout={self._timeout!r})"

    def list_webhooks(self) -> list[Webhook]:
        """Return every webhook of the workspace (``GET /webhooks``).

        Raises:
            ApiError: The call failed or the answer is not a webhook list; see
                the subclasses for the common causes.
        """
        status, body = self._send("GET", "/webhooks")
        document = _decode_json(body, status, "GET /webhooks")
        try:
            items = _as_list(_as_object(document, "the answer").get("data"), "data")
            return [
                Webhook(**_webhook_fields(item, f"data[{index}]"))
                for index, item in enumerate(items)
            ]
        except _MalformedError as exc:
            raise _unexpected(exc, status, body, "GET /webhooks") from None

    def create_webhook(
        self, url: str, trigger_event: EventType | str, *, name: str | None = None
    ) -> CreatedWebhook:
        """Register a webhook and return it with its secret (``POST /webhooks``).

        Args:
            url: The ``https://`` URL Boltcall will post the events to.
            trigger_event: The one event type it listens to (an
                :class:`~boltcall_webhooks.EventType` or its value).
            name: An optional label.

        Returns:
            The new webhook; ``secret`` is shown by Boltcall only this once.

        Raises:
            ValueError: ``url`` is not an ``https://`` URL or ``trigger_event``
                is not a known event type (nothing is sent).
            TypeError: ``name`` is neither ``None`` nor a string.
            ApiError: The call failed or the answer is not a created webhook. A
                :class:`ApiConnectionError` leaves unknown whether the webhook
                was created: list the webhooks before trying again.
        """
        payload: dict[str, str] = {
            "url": _check_target_url(url),
            "trigger_event": _check_trigger_event(trigger_event),
        }
        if name is not None:
            payload["name"] = _check_name(name)
        status, body = self._send("POST", "/webhooks", payload)
        document = _decode_json(body, status, "POST /webhooks")
        try:
            created = _as_object(document, "the answer")
            if "id" not in created and isinstance(created.get("data"), dict):
                created = _as_object(created["data"], "data")  # a {"data": {...}} wrapper
            values = _webhook_fields(created, "webhook")
            secret = created.get("secret")
            if not isinstance(secret, str) or not secret.strip():
                _malformed("webhook.secret is missing or not a non-empty string")
            return CreatedWebhook(**values, secret=secret)
        except _MalformedError as exc:
            raise _unexpected(exc, status, body, "POST /webhooks") from None

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook (``DELETE /webhooks/{id}``); Boltcall stops delivering to it.

        Raises:
            ValueError: ``webhook_id`` is empty, ``.``/``..`` or holds control
                characters (nothing is sent).
            TypeError: ``webhook_id`` is not a string.
            NotFoundError: There is no webhook with this id.
            ApiError: The call failed, or Boltcall did not confirm the deletion.
        """
        path = "/webhooks/" + urllib.parse.quote(_check_webhook_id(webhook_id), safe="")
        status, body = self._send("DELETE", path)
        if not body.strip():
            return  # 204 No Content, or an empty 200
        document = _decode_json(body, status, "DELETE /webhooks/{id}")
        confirmation = _maybe_object(document)
        if confirmation is not None and confirmation.get("deleted") is True:
            return
        msg = (
            'The Boltcall API did not confirm the deletion (expected {"deleted": true}); '
            "list the webhooks to check."
        )
        raise ApiError(msg, status=status, body=body)

    # Transport ----------------------------------------------------------------

    def _send(
        self, method: str, path: str, payload: Mapping[str, object] | None = None
    ) -> tuple[int, bytes]:
        """Send one request; return the status and body of a 2xx answer, else raise."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        data = None
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked: http(s) only)
            self._base_url + path, data=data, headers=headers, method=method
        )
        where = f"{method} {_route(path)}"
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status: int = response.status
                body = _read_limited(response)
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                body = _read_limited(exc)
            except (OSError, HTTPException, ApiError):
                body = b""
            finally:
                exc.close()
            _logger.debug("%s -> HTTP %s in %.0f ms", where, status, _ms_since(started))
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            raise self._error_for(status, body, retry_after, where) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out(where) from None
            reason = exc.reason if isinstance(exc.reason, str) else type(exc.reason).__name__
            detail = exc.reason.strerror if isinstance(exc.reason, OSError) else None
            msg = f"Could not reach the Boltcall API for {where}: {detail or reason}."
            raise ApiConnectionError(msg) from exc
        except TimeoutError:
            raise self._timed_out(where) from None
        except (OSError, HTTPException) as exc:
            msg = f"The Boltcall API connection failed during {where} ({type(exc).__name__})."
            raise ApiConnectionError(msg) from exc
        _logger.debug("%s -> HTTP %s in %.0f ms", where, status, _ms_since(started))
        return status, body

    def _timed_out(self, where: str) -> ApiTimeoutError:
        msg = (
            f"The Boltcall API did not answer {where} within {self._timeout:g} s "
            "(raise timeout= if the network is slow)."
        )
        return ApiTimeoutError(msg)

    def _error_for(
        self, status: int, body: bytes, retry_after_header: str | None, where: str
    ) -> ApiError:
        # An API that echoes the key back must not put it, or a piece of it, into our message.
        detail = _api_message(body, self._api_key)
        told = f": {detail}" if detail else ""
        if status in {401, 403}:
            hint = (
                "the API key was refused"
                if status == 401
                else "the API key lacks the rights for this"
            )
            msg = (
                f"Boltcall API {where} failed with HTTP {status}{told} "
                f"({hint}; check {API_KEY_ENV_VAR})."
            )
            return AuthenticationError(msg, status=status, body=body)
        if status == 404:
            return NotFoundError(
                f"Boltcall API {where} failed with HTTP 404{told}.", status=status, body=body
            )
        if status == 429:
            retry_after = _parse_retry_after(retry_after_header)
            wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
            msg = f"Boltcall API {where} was rate limited (HTTP 429){told}.{wait}"
            return RateLimitError(msg, status=status, body=body, retry_after=retry_after)
        if 300 <= status < 400:
            msg = (
                f"Boltcall API {where} answered with a redirect (HTTP {status}); redirects "
                "are not followed so that the API key stays with base_url. Check base_url."
            )
            return ApiError(msg, status=status, body=body)
        return ApiError(
            f"Boltcall API {where} failed with HTTP {status}{told}.", status=status, body=body
        )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error: urllib would resend the Authorization header."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Helpers --------------------------------------------------------------------


class _MalformedError(Exception):
    """An answer whose JSON does not have the documented shape (internal)."""


def _malformed(message: str) -> NoReturn:
    raise _MalformedError(message)


def _unexpected(exc: _MalformedError, status: int, body: bytes, where: str) -> ApiError:
    msg = f"The Boltcall API sent an unexpected answer to {where}: {exc}."
    return ApiError(msg, status=status, body=body)


def _resolve_api_key(api_key: object) -> str:
    source = "api_key"
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV_VAR)
        source = API_KEY_ENV_VAR
        if api_key is None:
            msg = f"No Boltcall API key: pass api_key=... or set {API_KEY_ENV_VAR}."
            raise ConfigurationError(msg)
    if not isinstance(api_key, str):
        msg = f"api_key must be a string; got {type(api_key).__name__}."
        raise ConfigurationError(msg)
    key = api_key.strip()
    if not key:
        msg = f"The Boltcall API key in {source} is empty."
        raise ConfigurationError(msg)
    if not all("!" <= char <= "~" for char in key):
        msg = (
            f"The Boltcall API key in {source} holds spaces or characters that cannot be "
            "sent in an HTTP header; copy it again from the dashboard."
        )
        raise ConfigurationError(msg)
    return key


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: object) -> tuple[str, bool]:
    """Return the base URL without a trailing slash and whether it is a loopback one."""
    if not isinstance(base_url, str):
        msg = f"base_url must be a string; got {type(base_url).__name__}."
        raise ConfigurationError(msg)
    parts = urllib.parse.urlsplit("")
    try:
        parts = urllib.parse.urlsplit(base_url)
        host = parts.hostname
        _ = parts.port  # a bad port raises ValueError here
    except ValueError:
        host = None
    scheme = parts.scheme.lower() if host else ""
    if scheme not in {"https", "http"} or not host or not base_url.isprintable():
        msg = "base_url must be an absolute https:// URL, such as https://api.boltcall.org/v1."
        raise ConfigurationError(msg)
    if parts.username is not None or parts.password is not None:
        msg = "base_url must not hold credentials; pass the API key as api_key."
        raise ConfigurationError(msg)
    if parts.query or parts.fragment:
        msg = "base_url must not have a query or a fragment."
        raise ConfigurationError(msg)
    loopback = _is_loopback(host)
    if scheme == "http" and not loopback:
        msg = (
            "base_url must use https:// so that the API key is never sent in clear text; "
            "http:// is accepted only for loopback hosts (127.0.0.1, ::1, localhost)."
        )
        raise ConfigurationError(msg)
    return base_url.rstrip("/"), loopback


def _check_timeout(timeout: object) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        msg = "timeout must be a positive number of seconds."
        raise ConfigurationError(msg)
    return float(timeout)


def _check_target_url(url: object) -> str:
    if not isinstance(url, str):
        msg = f"url must be a string; got {type(url).__name__}."
        raise TypeError(msg)
    parts = urllib.parse.urlsplit("")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    # The URL itself is not echoed: receivers sometimes carry a token in it.
    if not host or parts.scheme.lower() != "https":
        msg = "url must be an absolute https:// URL: Boltcall delivers webhooks over HTTPS only."
        raise ValueError(msg)
    if not url.isprintable() or any(char.isspace() for char in url):
        msg = "url must not hold spaces or control characters."
        raise ValueError(msg)
    return "https" + url[len(parts.scheme) :]  # the scheme in lower case, nothing else touched


def _check_trigger_event(trigger_event: object) -> str:
    if isinstance(trigger_event, str):
        value = str.__str__(trigger_event)
        if value in _KNOWN_EVENTS:
            return value
        shown = repr(value[:40])
    else:
        shown = type(trigger_event).__name__
    msg = f"trigger_event must be one of {', '.join(_KNOWN_EVENTS)}; got {shown}."
    raise ValueError(msg)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        msg = f"name must be a string or None; got {type(name).__name__}."
        raise TypeError(msg)
    return name


def _check_webhook_id(webhook_id: object) -> str:
    if not isinstance(webhook_id, str):
        msg = f"webhook_id must be a string; got {type(webhook_id).__name__}."
        raise TypeError(msg)
    if webhook_id in {"", ".", ".."} or not webhook_id.isprintable():
        msg = "webhook_id must be a webhook's id as listed by list_webhooks()."
        raise ValueError(msg)
    return webhook_id


def _read_limited(response: Any) -> bytes:
    body: bytes = response.read(_MAX_RESPONSE_SIZE + 1)
    if len(body) > _MAX_RESPONSE_SIZE:
        msg = f"The Boltcall API answer is larger than {_MAX_RESPONSE_SIZE} bytes."
        raise ApiError(msg, status=getattr(response, "status", None))
    return body


def _route(path: str) -> str:
    """The path as shown in messages: webhook ids are replaced by ``{id}``."""
    return "/webhooks/{id}" if path.startswith("/webhooks/") else path


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _refuse_constant(name: str) -> NoReturn:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def _decode_json(body: bytes, status: int, where: str) -> object:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        msg = f"The Boltcall API answered {where} (HTTP {status}) with a body that is not JSON."
        raise ApiError(msg, status=status, body=body) from None


def _maybe_object(value: object) -> dict[str, object] | None:
    return cast("dict[str, object]", value) if isinstance(value, dict) else None


def _as_object(value: object, path: str) -> dict[str, object]:
    members = _maybe_object(value)
    if members is None:
        _malformed(f"{path} is not a JSON object")
    return members


def _as_list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        _malformed(f"{path} is not a JSON array")
    return cast("list[object]", value)


def _webhook_fields(value: object, path: str) -> dict[str, Any]:
    """Check one webhook object and return the keyword arguments of :class:`Webhook`."""
    item = _as_object(value, path)
    raw_id = item.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id:
        _malformed(f"{path}.id is missing or not a string")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        _malformed(f"{path}.name is not a string")
    for key in ("url", "trigger_event"):
        if not isinstance(item.get(key), str):
            _malformed(f"{path}.{key} is missing or not a string")
    is_active = item.get("is_active")
    if not isinstance(is_active, bool):
        _malformed(f"{path}.is_active is missing or not a boolean")
    created = item.get("created_at")
    try:
        if not isinstance(created, str):
            raise ValueError
        created_at = parse_timestamp(created)
    except (ValueError, OverflowError):
        _malformed(f"{path}.created_at is missing or not an ISO-8601 date and time")
    return {
        "id": raw_id,
        "name": name,
        "url": item["url"],
        "trigger_event": item["trigger_event"],
        "is_active": is_active,
        "created_at": created_at,
    }


def _api_message(body: bytes, secret: str) -> str | None:
    """The human message in a JSON error body, cleaned, redacted and shortened, if any.

    Understands ``{"error": {"message": ...}}``, ``{"error": "..."}``,
    ``{"message": ...}`` and ``{"detail": "..."}``. Every run of 8 or more
    consecutive characters of ``secret`` (the API key) is replaced by
    ``[redacted]`` *before* the message is shortened, so that a key cut in two
    by the shortening is still hidden.
    """
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    members = _maybe_object(document)
    if members is None:
        return None
    error = members.get("error")
    inner = _maybe_object(error)
    candidates = (
        inner.get("message") if inner is not None else error,
        members.get("message"),
        members.get("detail"),
    )
    for candidate in candidates:
        if isinstance(candidate, str):
            text = " ".join("".join(c if c.isprintable() else " " for c in candidate).split())
            # A piece of the key that reaches into the kept characters lies whole in
            # this prefix; a piece that the prefix cuts keeps at most 7 characters.
            text = _redact(text[: _MAX_MESSAGE_LENGTH + len(secret)], secret)
            if text:
                if len(text) > _MAX_MESSAGE_LENGTH:
                    text = text[: _MAX_MESSAGE_LENGTH - 1] + "…"
                return text
    return None


def _redact(text: str, secret: str) -> str:
    """Replace each run of 8+ consecutive characters of ``secret`` in ``text`` by ``[redacted]``.

    A secret shorter than 8 characters is replaced where it appears whole.
    Overlapping or adjacent pieces become a single ``[redacted]``.
    """
    run = min(_MIN_REDACTED_RUN, len(secret))
    if run == 0 or len(text) < run:
        return text
    pieces = {secret[i : i + run] for i in range(len(secret) - run + 1)}
    hidden = [False] * len(text)
    for start in range(len(text) - run + 1):
        if text[start : start + run] in pieces:
            hidden[start : start + run] = [True] * run
    parts: list[str] = []
    for is_hidden, group in itertools.groupby(zip(hidden, text, strict=True), key=lambda p: p[0]):
        parts.append(_REDACTED if is_hidden else "".join(char for _, char in group))
    return "".join(parts)


def _parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header: seconds to wait, or ``None`` if absent or unreadable.

    Accepts a non-negative number of seconds or an HTTP date (a date in the past
    gives ``0.0``).

    Args:
        value: The header value.
        now: The current time for HTTP dates (default: now, UTC).
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    try:
        return max(0.0, (moment - current).total_seconds())
    except OverflowError:
        return None
