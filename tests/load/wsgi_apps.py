"""``examples/flask_app.py`` as the load run serves it, with a recorder and a baseline route.

gunicorn serves ``wsgi_apps:flask_app`` from ``tests/load``. The example is
loaded from its file (the server imports the *installed* ``boltcall_webhooks``)
and served as written: its ready view, ``webhook_view(router=router)``, at
``/webhooks/boltcall``. One more handler is registered on the example's own
router (``on_any``) to record every event it dispatches.

``POST /bare`` is the baseline of the same app: it parses the same body with
``json.loads``, writes the same record line as the recorder (to a file the
driver does not count) and answers the same JSON as the ready view
(``{"received": true}``, ``application/json``) without verifying anything, so
router endpoint/baseline is the cost of verification and dispatch alone.
"""

from __future__ import annotations

import json
from typing import Final

from flask import Flask, current_app, request
from recording import BARE_PATH, WEBHOOK_PATH, Recorder, check_installed, load_example
from werkzeug.wrappers import Response

from boltcall_webhooks import Event, Router

__all__ = ["flask_app"]

check_installed()
_recorder: Final = Recorder()
_baseline_recorder: Final = Recorder(prefix="baseline")
_example = load_example("flask_app")
flask_app: Flask = _example.app
_router: Router = _example.router

_rules = {rule.rule: rule.endpoint for rule in flask_app.url_map.iter_rules()}
if WEBHOOK_PATH not in _rules:  # pragma: no cover - the example changed
    msg = f"examples/flask_app.py no longer serves {WEBHOOK_PATH}."
    raise RuntimeError(msg)


@_router.on_any
def _record(event: Event) -> None:
    """Record the event: one more handler on the example's router (the view is unchanged)."""
    _recorder.record(event)


_BASELINE_BODY: Final = json.dumps({"received": True}).encode()


@flask_app.post(BARE_PATH)
def _baseline() -> Response:
    """Parse the body, record its id and answer what the ready view answers; verify nothing."""
    _baseline_recorder.record_id(json.loads(request.get_data())["data"].get("id"))
    response: Response = current_app.response_class(
        _BASELINE_BODY, status=200, content_type="application/json"
    )
    return response
