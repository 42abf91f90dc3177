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
=====================================  ======  ================================

Refusals before any handler runs are those of :mod:`boltcall_webhooks._http`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Final, NoReturn

from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks._http import Rejection
from boltcall_webhooks._router import Router

if TYPE_CHECKING:
    from boltcall_webhooks._events import Event
    from boltcall_webhooks._router import DispatchError

__all__ = [
    "HANDLER_FAILED",
    "JSON_CONTENT_TYPE",
    "RECEIVED_BODY",
    "check_target",
    "log_failures",
    "unsupported_inbox",
]

logger = logging.getLogger("boltcall_webhooks")

JSON_CONTENT_TYPE: Final = "application/json"
RECEIVED_BODY: Final = json.dumps({"received": True}).encode("utf-8")
"""The body of the 200 answer once every handler succeeded: ``{"received": true}``."""
HANDLER_FAILED: Final = Rejection(500, "Handler failed")
"""The answer when at least one handler raised (each failure is logged)."""
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


def unsupported_inbox() -> NoReturn:
    """Refuse ``inbox=`` until the inbox backend ships (one call per adapter, to replace).

    Raises:
        ConfigurationError: Always.
    """
    msg = "inbox= arrives with boltcall_webhooks.inbox; use router= for now."
    raise ConfigurationError(msg)


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
