"""``examples/flask_app.py`` rebuilt so that the load driver can count what reached the view.

gunicorn serves ``wsgi_apps:flask_app`` from ``tests/load``. The example is
loaded from its file (the server imports the *installed* ``boltcall_webhooks``).
Its view, as written below ``@verify_webhook()``, is wrapped in a recorder and
decorated again with ``verify_webhook()`` exactly as in the example; the result
replaces the route's view, so verification goes through the real decorator.
``POST /bare`` on the same app only reads the body and answers 200.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from flask import Flask, request
from recording import BARE_PATH, Recorder, check_installed, load_example

from boltcall_webhooks import Event
from boltcall_webhooks.flask import verify_webhook

__all__ = ["flask_app"]

check_installed()
_recorder: Final = Recorder()
_example = load_example("flask_app")
flask_app: Flask = _example.app

_ENDPOINT: Final = "boltcall_webhook"
if _ENDPOINT not in flask_app.view_functions:  # pragma: no cover - the example changed
    msg = f"examples/flask_app.py no longer has the endpoint {_ENDPOINT!r}."
    raise RuntimeError(msg)
# The view as the example wrote it, below its @verify_webhook() (functools.wraps keeps it).
_example_view: Callable[..., Any] = _example.boltcall_webhook.__wrapped__


def _recorded_view(event: Event) -> Any:
    """Record the event, then run the example's own view."""
    _recorder.record(event)
    return _example_view(event=event)


# Verification goes through the real decorator, configured as in the example.
flask_app.view_functions[_ENDPOINT] = verify_webhook()(_recorded_view)


@flask_app.post(BARE_PATH)
def _bare() -> dict[str, int]:
    """Read the body and answer 200: the same server and app, without verification."""
    return {"bytes": len(request.get_data())}
