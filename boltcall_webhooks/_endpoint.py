"""What the ready-made endpoints of every adapter share (framework-free).

``flask.webhook_view``, Django's ``BoltcallWebhookView.as_view(router=...)`` and
``starlette.webhook_endpoint`` verify exactly as the adapters' decorators and
middleware do, then run a :class:`~boltcall_webhooks.Router`. This module
holds what they must agree on: the check that exactly one of ``router=`` /
``inbox=`` was given, the answers, and the log record of a failed handler.

=====================================  ======  ================================
outcome                                status  body
=====================================  ======  ================================
every handler returned                 200     ``{"received": true}``
a handler raised (``DispatchError``)   500     ``{"error": "Handler failed"}``
``inbox=``: stored and committed       200     ``{"received": true,
                                               "duplicate": false}`` (``true``
                                               for a key already stored)
``inbox=``: ``store`` raised           503     ``{"error": "Inbox unavailable"}``
=====================================  ======  ================================

With ``inbox=``, a correctly signed body that is not an envelope is stored
(``dead``, by ``Inbox.store``) and then refused 400 as without an inbox.

Refusals before any handler runs are those of :mod:`boltcall_webhooks._http`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._errors import PayloadError, PayloadTooLargeError
from boltcall_webhooks._http import Rejection
from boltcall_webhooks._router import Router

if TYPE_CHECKING:
    from boltcall_webhooks._events import Event
    from boltcall_webhooks._router import DispatchError
    from boltcall_webhooks.inbox import Stored

__all__ = [
    "HANDLER_FAILED",
    "INBOX_UNAVAILABLE",
    "JSON_CONTENT_TYPE",
    "RECEIVED_BODY",
    "check_inbox",
    "check_target",
    "genuine_body",
    "log_failures",
    "log_store_failure",
    "refusal",
    "stored_body",
]

logger = logging.getLogger("boltcall_webhooks")

JSON_CONTENT_TYPE: Final = "application/json"
RECEIVED_BODY: Final = json.dumps({"received": True}).encode("utf-8")
"""The body of the 200 answer once every handler succeeded: ``{"received": true}``."""
HANDLER_FAILED: Final = Rejection(500, "Handler failed")
"""The answer when at least one handler raised (each failure is logged)."""
INBOX_UNAVAILABLE: Final = Rejection(503, "Inbox unavailable")
"""The answer when ``inbox.store`` failed: never a 200 for a delivery not stored."""
_STORED_NEW: Final = json.dumps({"received": True, "duplicate": False}).encode("utf-8")
_STORED_DUPLICATE: Final = json.dumps({"received": True, "duplicate": True}).encode("utf-8")
_LOGGED_CHARS: Final = 100  # an event type or id longer than this is cut in the log


def check_target(router: object, inbox: object) -> None:
    """Refuse, at construction, anything but exactly one of ``router=`` and ``inbox=``.

    Raises:
        TypeError: Both or neither were given, or ``router`` is not a ``Router``.
    """
    if (router is None) == (inbox is None):
        which = "both" if router is not None else "neither"
        msg = (
            f"Pass exactly one of router= and inbox= (router: run the handlers during the "
            f"request; inbox: store the delivery, then answer); got {which}."
        )
        raise TypeError(msg)
    if router is not None and not isinstance(router, Router):
        msg = f"router= takes a boltcall_webhooks.Router, not {type(router).__name__}."
        raise TypeError(msg)


def check_inbox(inbox: object) -> None:
    """Refuse, at construction, an ``inbox=`` that cannot store.

    Raises:
        TypeError: ``inbox`` has no ``store`` and ``store_async`` methods.
    """
    if not (
        callable(getattr(inbox, "store", None)) and callable(getattr(inbox, "store_async", None))
    ):
        msg = f"inbox= takes a boltcall_webhooks.inbox.Inbox, not {type(inbox).__name__}."
        raise TypeError(msg)


def genuine_body(error: BaseException) -> PayloadError | None:
    """The refusal of a verified delivery that is not an envelope, else ``None``.

    A :class:`PayloadError` other than :class:`PayloadTooLargeError` is raised
    only after the signature matched (not an envelope, or a field of the wrong
    type under ``strict=True``): the body (``error.body``) is genuine and is
    stored all the same, ``dead`` with :func:`refusal` as its error, by the
    ``inbox=`` endpoints.
    """
    if isinstance(error, PayloadError) and not isinstance(error, PayloadTooLargeError):
        return error
    return None


def refusal(error: PayloadError) -> str:
    """The ``refused=`` reason an ``inbox=`` endpoint stores a genuine refused body with."""
    return f"PayloadError: {error}"


def stored_body(stored: Stored) -> bytes:
    """The 200 body once stored: ``{"received": true, "duplicate": false|true}``."""
    return _STORED_DUPLICATE if stored.duplicate else _STORED_NEW


def log_store_failure(error: BaseException) -> Rejection:
    """Log a failed ``inbox.store`` (ERROR, with the traceback); return the 503 answer.

    ``InboxError`` messages never contain a body, a secret or a URL password.
    """
    logger.error(
        "Webhook delivery not stored, answered 503: %s",
        type(error).__name__,
        exc_info=(type(error), error, error.__traceback__),
    )
    return INBOX_UNAVAILABLE


def log_failures(error: DispatchError, event: Event) -> None:
    """Log one ERROR record per failed handler, with its traceback.

    The message names the handler, the event type and the event's ``data.id``;
    never the body, a header or a secret.
    """
    event_type = _short(event.type)
    event_id = _short(_event_id(event))
    for name, exc in error.failures:
        logger.error(
            "Webhook handler %s failed on %s event %s",
            name,
            event_type,
            event_id,
            exc_info=(type(exc), exc, exc.__traceback__),
        )


def _event_id(event: Event) -> object:
    data: object = event.raw.get("data")
    if isinstance(data, dict):
        return data.get("id")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return None


def _short(value: object) -> str:
    """A repr cut to a bounded length (log lines stay one line, whatever was sent)."""
    text = repr(value)
    return text if len(text) <= _LOGGED_CHARS else text[: _LOGGED_CHARS - 3] + "..."
