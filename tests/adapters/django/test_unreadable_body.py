"""A server's input stream that fails while the body is read: 400 ``Invalid body``, never 500.

The stream stands in for gunicorn's, which raises its own parse errors
(``InvalidChunkSize``...; not ``OSError``) for a malformed chunked body, and
for cheroot's, which raises ``ValueError``. Each entry point is driven through
Django's test ``Client`` (the whole middleware stack; an exception that
escapes fails the test). The real servers are exercised in
``tests/servers/test_malformed_bodies.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from boltcall_webhooks import SIGNATURE_HEADER, sign

from ..contract import envelope  # noqa: TID252
from . import settings as test_settings
from . import views

MIDDLEWARE = [*test_settings.MIDDLEWARE, "boltcall_webhooks.django.BoltcallWebhookMiddleware"]
# The class-based view, both decorators, and the middleware in front of a plain view.
URLS = ["/cbv/", "/function/", "/function-async/", "/guarded/"]


@pytest.fixture(autouse=True)
def _guarded_and_fresh() -> Iterator[None]:
    views.CALLS.clear()
    with override_settings(MIDDLEWARE=MIDDLEWARE, BOLTCALL_WEBHOOK_PATHS=["/guarded/"]):
        yield
    views.CALLS.clear()


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


def _post(url: str, stream: FailingInput, *, chunked: bool) -> Any:
    body = envelope("new_lead")
    headers = {SIGNATURE_HEADER: sign(body, test_settings.BOLTCALL_WEBHOOK_SECRET)}
    environ: dict[str, Any] = {"wsgi.input": stream}
    if chunked:  # gunicorn's chunked upload: no Content-Length, input terminated
        environ.update({"CONTENT_LENGTH": "", "wsgi.input_terminated": True})
    return Client().post(url, body, content_type="application/json", headers=headers, **environ)


SERVER_ERRORS = [
    pytest.param(InvalidChunkSize("Invalid chunk size: 'zz'"), id="gunicorn-parse-error"),
    pytest.param(ValueError("Bad chunked transfer size: b'zz'"), id="cheroot-value-error"),
    pytest.param(RuntimeError("anything else"), id="other"),
]


@pytest.mark.parametrize("error", SERVER_ERRORS)
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize("url", URLS)
def test_stream_error_is_400_invalid_body_logged_once_without_traceback(
    url: str, chunked: bool, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """Any non-OSError from the server's read: 400, one INFO line naming the type, no view call."""
    caplog.set_level(logging.DEBUG, logger="boltcall_webhooks")
    response = _post(url, FailingInput(error, head=b'{"event":'), chunked=chunked)
    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "Invalid body"}
    assert views.CALLS == []
    records = [r for r in caplog.records if r.name == "boltcall_webhooks"]
    assert len(records) == 1
    (record,) = records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert type(error).__qualname__ in record.getMessage()
    assert str(error) not in record.getMessage()  # a server's message may quote the body


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_type_error_from_the_stream_is_a_bug_and_propagates(chunked: bool) -> None:
    """A ``TypeError`` means the stream was called wrongly: not the client's fault, not hidden."""
    stream = FailingInput(TypeError("size must be an integer type"))
    with pytest.raises(TypeError, match="size must be an integer type"):
        _post("/function/", stream, chunked=chunked)
    assert views.CALLS == []


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_os_error_from_the_stream_is_still_client_disconnected(chunked: bool) -> None:
    """gunicorn's ``NoMoreData`` (an ``OSError``) keeps its own answer."""
    response = _post("/function/", FailingInput(OSError("No more data")), chunked=chunked)
    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "Client disconnected"}
    assert views.CALLS == []
