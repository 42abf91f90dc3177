"""A hand-driven ASGI connection: scripted ``receive`` messages, recorded ``send`` messages.

Starlette's TestClient always delivers the body as one message with a
Content-Length; these helpers let tests feed chunks, omit keys, lie about the
length or disconnect half-way, and see exactly what the app did.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..contract import SECRET, signed_headers  # noqa: TID252

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

TIMEOUT = 5.0


def http_scope(
    path: str = "/hook",
    *,
    method: str = "POST",
    headers: Iterable[tuple[str, str]] = (),
    root_path: str = "",
) -> dict[str, Any]:
    """An HTTP scope as a server builds it (no ``state`` key)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def signed_scope(
    body: bytes, *, content_length: bool = True, secret: str = SECRET
) -> dict[str, Any]:
    """A POST /hook scope with Boltcall's headers for ``body``."""
    headers = list(signed_headers(body, secret).items())
    if content_length:
        headers.append(("Content-Length", str(len(body))))
    return http_scope(headers=headers)


def chunks(body: bytes, size: int) -> list[Message]:
    """``body`` as ``http.request`` messages of ``size`` bytes, the last one final."""
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


@dataclass
class Connection:
    """One ASGI connection: ``receive`` plays ``incoming``, then waits for the
    response to finish and reports ``http.disconnect`` (as uvicorn does)."""

    incoming: list[Message]
    sent: list[Message] = field(default_factory=list)
    receive_calls: int = 0
    _finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self) -> Message:
        self.receive_calls += 1
        if self.incoming:
            return self.incoming.pop(0)
        await self._finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._finished.set()

    @property
    def status(self) -> int | None:
        """The response status, or None when nothing was sent."""
        for message in self.sent:
            if message["type"] == "http.response.start":
                status: int = message["status"]
                return status
        return None

    @property
    def headers(self) -> dict[str, str]:
        """The response headers (lower-case names)."""
        for message in self.sent:
            if message["type"] == "http.response.start":
                return {k.decode(): v.decode() for k, v in message["headers"]}
        return {}

    @property
    def body(self) -> bytes:
        """The whole response body."""
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def json(self) -> Any:
        """The response body decoded as JSON."""
        return json.loads(self.body)


def drive(app: ASGIApp, scope: Scope, incoming: Sequence[Mapping[str, Any]]) -> Connection:
    """Run ``app`` on one connection (bounded by a timeout) and return what happened."""
    connection = Connection([dict(message) for message in incoming])

    async def main() -> None:
        await asyncio.wait_for(app(scope, connection.receive, connection.send), TIMEOUT)

    asyncio.run(main())
    return connection


@dataclass
class RecordingApp:
    """An inner ASGI app that records what it got and answers 200 with the body it read."""

    calls: list[tuple[Scope, Any]] = field(default_factory=list)
    received: list[Message] = field(default_factory=list)
    read_body: bool = True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.calls.append((scope, receive))
        if scope["type"] != "http":
            return
        body = b""
        if self.read_body:
            more = True
            while more:
                message = await receive()
                self.received.append(message)
                body += message.get("body", b"")
                more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
