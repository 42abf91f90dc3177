"""Property tests of the Flask adapter's body reading (Content-Length and streamed)."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boltcall_webhooks import SIGNATURE_HEADER, Event, sign
from boltcall_webhooks.flask import verify_webhook

from ..contract import SECRET, envelope  # noqa: TID252


class TricklingInput(io.RawIOBase):
    """A server input that hands out at most a few bytes per read, counting them."""

    def __init__(self, data: bytes, steps: list[int]) -> None:
        super().__init__()
        self._data = data
        self._steps = steps or [1]
        self.position = 0
        self._calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        step = self._steps[self._calls % len(self._steps)]
        self._calls += 1
        wanted = step if size is None or size < 0 else min(size, step)
        chunk = self._data[self.position : self.position + wanted]
        self.position += len(chunk)
        return chunk


def _app(limit: int) -> tuple[Flask, list[bytes]]:
    app = Flask(__name__)
    seen: list[bytes] = []

    @app.post("/hook")
    @verify_webhook(SECRET, max_body_size=limit)
    def hook(event: Event) -> Any:
        seen.append(request.get_data())
        return {"id": event.raw["data"]["id"]}

    return app, seen


bodies = st.integers(min_value=0, max_value=1500).map(
    lambda n: envelope("new_lead", {"id": "l_1", "note": "x" * n})
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    limit=st.integers(min_value=1, max_value=1700),
    steps=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=5),
)
def test_streamed_body_is_delivered_whole_or_refused_early(
    body: bytes, limit: int, steps: list[int]
) -> None:
    """No Content-Length: a body within the cap arrives byte for byte; a larger one is 413
    after reading at most limit + 1 bytes, whatever sizes the server's reads return."""
    app, seen = _app(limit)
    stream = TricklingInput(body, steps)
    environ = {"CONTENT_LENGTH": "", "wsgi.input": stream, "wsgi.input_terminated": True}
    response = app.test_client().post(
        "/hook", headers={SIGNATURE_HEADER: sign(body, SECRET)}, environ_overrides=environ
    )
    if len(body) <= limit:
        assert response.status_code == 200
        assert seen == [body]
    else:
        assert response.status_code == 413
        assert seen == []
        assert stream.position <= limit + 1


@settings(max_examples=60, deadline=None)
@given(body=bodies, limit=st.integers(min_value=1, max_value=1700))
def test_announced_length_decides_before_reading(body: bytes, limit: int) -> None:
    """With Content-Length: over the cap is 413 with nothing read; within it, delivered."""
    app, seen = _app(limit)
    stream = io.BytesIO(body)
    response = app.test_client().post(
        "/hook",
        headers={SIGNATURE_HEADER: sign(body, SECRET)},
        environ_overrides={"CONTENT_LENGTH": str(len(body)), "wsgi.input": stream},
    )
    if len(body) <= limit:
        assert response.status_code == 200
        assert seen == [body]
    else:
        assert response.status_code == 413
        assert stream.tell() == 0
