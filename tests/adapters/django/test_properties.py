"""Property tests of the Django adapter's body reading (Content-Length and streamed)."""

from __future__ import annotations

import io

from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from boltcall_webhooks import SIGNATURE_HEADER, Event, sign
from boltcall_webhooks.django import verify_webhook

from ..contract import SECRET, envelope  # noqa: TID252


class TricklingInput(io.RawIOBase):
    """A server input that hands out at most a few bytes per read, counting them."""

    def __init__(self, data: bytes, steps: list[int]) -> None:
        super().__init__()
        self._data = data
        self._steps = steps
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


bodies = st.integers(min_value=0, max_value=1500).map(
    lambda n: envelope("new_lead", {"id": "l_1", "note": "x" * n})
)


def _view(limit: int, seen: list[bytes]) -> object:
    @verify_webhook(SECRET, max_body_size=limit)
    def view(request: HttpRequest, event: Event) -> HttpResponse:
        seen.append(request.body)
        return HttpResponse(event.type)

    return view


@settings(max_examples=60, deadline=None)
@given(
    body=bodies,
    limit=st.integers(min_value=1, max_value=1700),
    steps=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=5),
)
def test_streamed_body_is_delivered_whole_or_refused_early(
    body: bytes, limit: int, steps: list[int]
) -> None:
    """No Content-Length, server-terminated input: a body within the cap arrives byte for
    byte, a larger one is 413 after at most limit + 1 bytes, whatever the read sizes."""
    seen: list[bytes] = []
    view = _view(limit, seen)
    stream = TricklingInput(body, steps)
    request = RequestFactory().post(
        "/hook/",
        b"",
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(body, SECRET)},
        CONTENT_LENGTH="",
        **{"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    response = view(request)  # type: ignore[operator]
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
    seen: list[bytes] = []
    view = _view(limit, seen)
    stream = io.BytesIO(body)
    request = RequestFactory().post(
        "/hook/",
        b"",
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(body, SECRET)},
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": stream},
    )
    response = view(request)  # type: ignore[operator]
    if len(body) <= limit:
        assert response.status_code == 200
        assert seen == [body]
    else:
        assert response.status_code == 413
        assert stream.tell() == 0
