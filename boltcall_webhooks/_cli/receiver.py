"""A small verifying webhook receiver on 127.0.0.1, for ``demo`` and ``listen``.

Standard library only (``http.server``). Every POST goes through the public
:class:`~boltcall_webhooks.Verifier`; the answer uses the same status mapping
as the framework adapters. The receiver answers first, then reports the
delivery to a callback, so a slow callback never delays the sender.
"""

from __future__ import annotations

import socketserver
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Final, cast

from boltcall_webhooks._errors import (
    InvalidSignatureError,
    PayloadTooLargeError,
    WebhookError,
)
from boltcall_webhooks._http import (
    METHOD_NOT_ALLOWED,
    Rejection,
    parse_content_length,
    rejection_for,
)
from boltcall_webhooks._signing import SIGNATURE_HEADER

if TYPE_CHECKING:
    from collections.abc import Callable

    from boltcall_webhooks._events import Event
    from boltcall_webhooks._verifier import Verifier

__all__ = ["Delivery", "Receiver"]

HOST: Final = "127.0.0.1"
_ACCEPTED: Final = b'{"received":true}'
_LENGTH_REQUIRED: Final = Rejection(411, "Content-Length required")
_DRAIN_LIMIT: Final = 8 * 1024 * 1024
"""An oversize body up to this size is read and discarded so the sender sees the 413."""
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request the receiver answered.

    Attributes:
        method: The HTTP method.
        path: The request path.
        body: The body bytes (empty when it was refused unread).
        signature: The signature header value, if any.
        event: The verified event, or ``None`` when the request was refused.
        rejection: The refusal sent, or ``None`` when the event was accepted.
        error: The library error behind the refusal, if any.
    """

    method: str
    path: str
    body: bytes
    signature: str | None
    event: Event | None
    rejection: Rejection | None
    error: WebhookError | None = None


class Receiver(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 that verifies every POST.

    Args:
        verifier: Checks each request; nothing reaches ``on_delivery`` as an
            event unless it verified.
        on_delivery: Called once per answered request, after the answer is sent.
        port: The port to bind (``0``: any free port).
        max_requests: Stop serving after this many answered requests.
    """

    daemon_threads = False
    block_on_close = True  # server_close() waits for the (time-bounded) handlers

    def __init__(
        self,
        verifier: Verifier,
        on_delivery: Callable[[Delivery], None],
        *,
        port: int = 0,
        max_requests: int | None = None,
    ) -> None:
        self.verifier = verifier
        self.on_delivery = on_delivery
        self.max_requests = max_requests
        self._answered = 0
        self._lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` does (it can hang)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    @property
    def url(self) -> str:
        """The receiver's base URL, such as ``http://127.0.0.1:8787/``."""
        return f"http://{HOST}:{self.server_port}/"

    def handle_error(self, request: object, client_address: object) -> None:
        """Report a broken connection in one line instead of a traceback."""
        error = sys.exc_info()[1]
        print(f"receiver: connection error: {type(error).__name__}", file=sys.stderr)

    def stop_soon(self) -> None:
        """Ask ``serve_forever`` to return; safe to call from a handler thread."""
        threading.Thread(target=self.shutdown, daemon=True).start()

    def count_answer(self) -> None:
        """Count one answered request; stop after ``max_requests``."""
        with self._lock:
            self._answered += 1
            done = self.max_requests is not None and self._answered >= self.max_requests
        if done:
            self.stop_soon()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds per socket operation: a stalled client cannot hold the server
    server_version = "boltcall-webhooks-receiver"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Stay quiet: the command prints its own lines."""

    def do_POST(self) -> None:
        receiver = cast("Receiver", self.server)
        signatures = self.headers.get_all(SIGNATURE_HEADER) or []
        signature = signatures[0] if signatures else None
        body = b""
        event: Event | None = None
        error: WebhookError | None = None
        rejection: Rejection | None = None
        declared = parse_content_length(self.headers.get("Content-Length"))
        if isinstance(declared, Rejection):
            rejection = declared
        elif declared is None or self.headers.get("Transfer-Encoding"):
            rejection = _LENGTH_REQUIRED
        else:
            try:
                receiver.verifier.check_size(declared)
                body = self.rfile.read(declared)
                if len(body) < declared:
                    return  # the client went away: nothing to answer
                if len(set(signatures)) > 1:
                    msg = f"Several different {SIGNATURE_HEADER} headers were sent."
                    raise InvalidSignatureError(msg)
                event = receiver.verifier.construct_event(body, signature)
            except PayloadTooLargeError as exc:
                error, rejection = exc, rejection_for(exc)
                self._drain(declared)
            except WebhookError as exc:
                error, rejection = exc, rejection_for(exc)
        if rejection is None:
            self._answer(200, _ACCEPTED)
        else:
            self._answer(rejection.status, rejection.body, rejection.headers)
        self._report(Delivery("POST", self.path, body, signature, event, rejection, error))

    def do_GET(self) -> None:
        self._refuse_method()

    def do_PUT(self) -> None:
        self._refuse_method()

    def do_PATCH(self) -> None:
        self._refuse_method()

    def do_DELETE(self) -> None:
        self._refuse_method()

    def do_OPTIONS(self) -> None:
        self._refuse_method()

    def do_HEAD(self) -> None:
        self._refuse_method()

    def _refuse_method(self) -> None:
        answer = METHOD_NOT_ALLOWED
        self._answer(answer.status, answer.body, answer.headers)
        self._report(Delivery(self.command, self.path, b"", None, None, answer))

    def _drain(self, size: int) -> None:
        """Read and drop an oversize body (bounded) so the client can read the 413."""
        if size > _DRAIN_LIMIT:
            return
        remaining = size
        while remaining > 0:
            chunk = self.rfile.read(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)

    def _answer(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def _report(self, delivery: Delivery) -> None:
        receiver = cast("Receiver", self.server)
        try:
            receiver.on_delivery(delivery)
        finally:
            receiver.count_answer()
