"""A fake Boltcall management API on 127.0.0.1, for the client and CLI tests.

It speaks real HTTP (a threaded stdlib server on a free port), checks the
bearer key and the JSON bodies the way the documented API does, keeps
webhooks in memory, and can be told to answer the next request(s) with
anything: an error status, a ``Retry-After``, a malformed body, or a slow
answer for timeout tests.

It is bounded: it stops by itself after ``lifetime`` seconds and refuses to
serve more than ``max_requests`` requests. Use it as a context manager::

    with FakeBoltcallApi() as api:
        client = WebhooksClient(TEST_API_KEY, base_url=api.base_url)
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEST_API_KEY = "bc_test_5f2b8e0c9d7a4e61"
KNOWN_EVENTS = frozenset(
    {"new_lead", "missed_call", "appointment_booked", "call_completed", "review_received"}
)
_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake API received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ScriptedAnswer:
    """A canned answer for the next request, whatever it is."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict[str, str])
    delay: float = 0.0
    method: str | None = None  # only a request with this method takes it


class FakeBoltcallApi:
    """An in-memory Boltcall management API served on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self, api_key: str = TEST_API_KEY, *, max_requests: int = 200, lifetime: float = 60.0
    ) -> None:
        self.api_key = api_key
        self.max_requests = max_requests
        self.lifetime = lifetime
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self._script: list[ScriptedAnswer] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._counter = 0

    # Lifecycle ---------------------------------------------------------------

    def start(self) -> FakeBoltcallApi:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        fake = self

        class Handler(_Handler):
            api = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); slow scripted answers are cut short."""
        self._stopping.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeBoltcallApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None, "the fake API is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The API root to give the client, like ``https://api.boltcall.org/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # Test controls -----------------------------------------------------------

    def script(
        self,
        status: int,
        body: bytes | str | object = b"",
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with this, before any auth or routing.

        ``body`` is sent as is when ``bytes``, UTF-8 encoded when ``str``, and
        as JSON otherwise. With ``method``, only requests of that method take
        the answer (the others are served normally).
        """
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        else:
            raw = json.dumps(body).encode("utf-8")
        answer = ScriptedAnswer(status, raw, dict(headers or {}), delay, method)
        with self._lock:
            self._script.extend([answer] * times)

    def add_webhook(
        self, url: str, trigger_event: str, name: str | None = None, *, is_active: bool = True
    ) -> dict[str, Any]:
        """Register a webhook directly; returns it with its secret."""
        with self._lock:
            return self._create(url, trigger_event, name, is_active=is_active)

    # Internals -----------------------------------------------------------------

    def _create(
        self, url: str, trigger_event: str, name: str | None, *, is_active: bool = True
    ) -> dict[str, Any]:
        self._counter += 1
        webhook_id = f"wh_{self._counter:04d}{secrets.token_hex(3)}"
        webhook: dict[str, Any] = {
            "id": webhook_id,
            "name": name,
            "url": url,
            "trigger_event": trigger_event,
            "is_active": is_active,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")[:-6] + "Z",
            "secret": "whsec_" + secrets.token_hex(24),
        }
        self.webhooks[webhook_id] = webhook
        return dict(webhook)

    def _next_scripted(self, method: str) -> ScriptedAnswer | None:
        with self._lock:
            for index, answer in enumerate(self._script):
                if answer.method in {None, method}:
                    return self._script.pop(index)
            return None

    def _record(self, request: RecordedRequest) -> bool:
        """Keep the request; False once the request budget is spent."""
        with self._lock:
            self.requests.append(request)
            return len(self.requests) <= self.max_requests

    def _answer(self, request: RecordedRequest) -> tuple[int, object]:
        """The documented API's answer to an authenticated-or-not request."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "Invalid API key", "type": "authentication_error"}}
        path = urllib.parse.urlsplit(request.path).path
        if path == "/v1/webhooks":
            if request.method == "GET":
                with self._lock:
                    listed = [_public(hook) for hook in self.webhooks.values()]
                return 200, {"data": listed}
            if request.method == "POST":
                return self._answer_create(request)
            return 405, {"error": {"message": "Method not allowed"}}
        if path.startswith("/v1/webhooks/") and request.method == "DELETE":
            webhook_id = urllib.parse.unquote(path.removeprefix("/v1/webhooks/"))
            with self._lock:
                removed = self.webhooks.pop(webhook_id, None)
            if removed is None:
                return 404, {"error": {"message": "Webhook not found"}}
            return 200, {"deleted": True}
        return 404, {"error": {"message": "Not found"}}

    def _answer_create(self, request: RecordedRequest) -> tuple[int, object]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 415, {"error": {"message": "Content-Type must be application/json"}}
        try:
            payload = json.loads(request.body)
        except ValueError:
            return 400, {"error": {"message": "Body is not valid JSON"}}
        if not isinstance(payload, dict):
            return 422, {"error": {"message": "Body must be a JSON object"}}
        unknown = set(payload) - {"name", "url", "trigger_event"}
        if unknown:
            return 422, {"error": {"message": f"Unknown fields: {sorted(unknown)}"}}
        url, event, name = payload.get("url"), payload.get("trigger_event"), payload.get("name")
        if not isinstance(url, str) or not url.startswith("https://"):
            return 422, {"error": {"message": "url must be an HTTPS URL"}}
        if event not in KNOWN_EVENTS:
            return 422, {"error": {"message": "trigger_event is not a known event"}}
        if name is not None and not isinstance(name, str):
            return 422, {"error": {"message": "name must be a string"}}
        with self._lock:
            return 201, self._create(url, event, name)


def _public(webhook: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in webhook.items() if key != "secret"}


class _Handler(BaseHTTPRequestHandler):
    api: FakeBoltcallApi
    server_version = "FakeBoltcall/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""
        request = RecordedRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        if not self.api._record(request):
            self._send(503, b'{"error": "request budget of the fake API spent"}', {})
            return
        scripted = self.api._next_scripted(self.command)
        if scripted is not None:
            if scripted.delay and self.api._stopping.wait(scripted.delay):
                return  # stopped while "slow": drop the connection
            self._send(scripted.status, scripted.body, scripted.headers)
            return
        status, document = self.api._answer(request)
        self._send(status, json.dumps(document).encode("utf-8"), {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            if not any(name.lower() == "content-type" for name in headers):
                self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except OSError:
            pass  # the client gave up (a timeout test): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet: the tests inspect ``api.requests`` instead."""
