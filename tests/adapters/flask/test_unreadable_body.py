"""A server's input stream that fails while the body is read: 400 ``Invalid body``, never 500.

The stream stands in for gunicorn's, which raises its own parse errors
(``InvalidChunkSize``...; not ``OSError``) for a malformed chunked body, and
for cheroot's, which raises ``ValueError``. The real servers are exercised in
``tests/servers/test_malformed_bodies.py``.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from flask import Flask

from boltcall_webhooks import Event
from boltcall_webhooks.flask import verify_webhook

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252


class InvalidChunkSize(Exception):  # noqa: N818 - named like gunicorn's
    """Like gunicorn's ``http.errors.InvalidChunkSize``: a ``ParseException``, not an OSError."""


class FailingInput:
    """A WSGI input holding ``head``, then a bad chunk: like gunicorn's, a read wants it all.

    A read that ``head`` can satisfy returns its bytes; a read of more (or of
    everything) reaches the bad chunk and raises ``error``.
    """

    def __init__(self, error: Exception, head: bytes = b"") -> None:
        self._error = error
        self._head = head

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > len(self._head):
            raise self._error
        data, self._head = self._head[:size], self._head[size:]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        return self.read(size)


def _app() -> tuple[Flask, list[Event]]:
    app = Flask(__name__)
    app.testing = True  # an exception that escapes fails the test instead of a silent 500
    calls: list[Event] = []

    @app.post("/hook")
    @verify_webhook(SECRET)
    def hook(event: Event) -> Any:
        calls.append(event)
        return {"type": event.type}

    return app, calls


def _environ(stream: object, body: bytes, *, chunked: bool) -> dict[str, Any]:
    if chunked:  # gunicorn's chunked upload: no Content-Length, input terminated
        return {"CONTENT_LENGTH": "", "wsgi.input": stream, "wsgi.input_terminated": True}
    return {"CONTENT_LENGTH": str(len(body)), "wsgi.input": stream}


SERVER_ERRORS = [
    pytest.param(InvalidChunkSize("Invalid chunk size: 'zz'"), id="gunicorn-parse-error"),
    pytest.param(ValueError("Bad chunked transfer size: b'zz'"), id="cheroot-value-error"),
    pytest.param(RuntimeError("anything else"), id="other"),
]


@pytest.mark.parametrize("error", SERVER_ERRORS)
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_stream_error_is_400_invalid_body_logged_once_without_traceback(
    error: Exception, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Any non-OSError from the server's read: 400, one INFO line naming the type, no view call."""
    app, calls = _app()
    body = envelope("new_lead")
    stream = FailingInput(error, head=body[:10])
    caplog.set_level(logging.DEBUG)
    response = app.test_client().post(
        "/hook",
        headers=signed_headers(body),
        environ_overrides=_environ(stream, body, chunked=chunked),
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "Invalid body"}
    assert calls == []
    records = [r for r in caplog.records if r.name == "boltcall_webhooks"]
    assert len(records) == 1
    (record,) = records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    message = record.getMessage()
    assert type(error).__qualname__ in message
    assert str(error) not in message  # a server's message may quote the body


def test_type_error_from_the_stream_is_a_bug_and_propagates() -> None:
    """A ``TypeError`` means the stream was called wrongly: not the client's fault, not hidden."""
    app, calls = _app()
    body = envelope("new_lead")
    stream = FailingInput(TypeError("size must be an integer type"))
    with pytest.raises(TypeError, match="size must be an integer type"):
        app.test_client().post(
            "/hook",
            headers=signed_headers(body),
            environ_overrides=_environ(stream, body, chunked=True),
        )
    assert calls == []


def test_os_error_from_the_stream_is_still_client_disconnected() -> None:
    """gunicorn's ``NoMoreData`` (an ``OSError``) keeps its own answer."""
    app, calls = _app()
    body = envelope("new_lead")
    stream = FailingInput(OSError("No more data"), head=body[:10])
    response = app.test_client().post(
        "/hook",
        headers=signed_headers(body),
        environ_overrides=_environ(stream, body, chunked=True),
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "Client disconnected"}
    assert calls == []


def test_genuine_body_through_the_wrapped_stream_still_reaches_the_view() -> None:
    """The wrapper is transparent for a readable body, chunked or with Content-Length."""
    app, calls = _app()
    body = envelope("new_lead")
    for chunked in (True, False):
        environ = _environ(FailingInput(OSError("unused")), body, chunked=chunked)
        environ["wsgi.input"] = io.BytesIO(body)
        response = app.test_client().post(
            "/hook", headers=signed_headers(body), environ_overrides=environ
        )
        assert response.status_code == 200, response.data
    assert len(calls) == 2
