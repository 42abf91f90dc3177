"""Property tests of the middleware's header parsing and body reading."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from boltcall_webhooks import InvalidSignatureError, NewLeadEvent
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware, _read_headers, _Refused

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252
from ._asgi import RecordingApp, drive, http_scope

LIMIT = 2000

header_names = st.sampled_from(
    [b"content-length", b"x-boltcall-signature", b"content-type", b"x-other"]
)
header_values = st.one_of(
    st.binary(max_size=30),
    st.integers(min_value=0, max_value=10**30).map(lambda n: str(n).encode()),
    st.text(alphabet="0123456789abcdefABCDEF +-", max_size=70).map(str.encode),
    st.integers(min_value=4000, max_value=6000).map(lambda n: b" " + b"9" * n + b" "),
)


@given(st.lists(st.tuples(header_names, header_values), max_size=6))
def test_read_headers_returns_or_refuses_never_crashes(headers: list[tuple[bytes, bytes]]) -> None:
    """Any raw header list gives (length, signature) or a refusal, nothing else."""
    try:
        length, signature = _read_headers({"headers": headers})
    except (_Refused, InvalidSignatureError):
        return
    lengths = {v for n, v in headers if n == b"content-length"}
    signatures = {v for n, v in headers if n == b"x-boltcall-signature"}
    assert len(lengths) <= 1
    assert len(signatures) <= 1
    if signatures:
        assert signature == signatures.pop().decode("latin-1")
    else:
        assert signature is None
    if length is not None:
        (raw,) = lengths
        assert raw.decode("latin-1").strip().isdigit()
        assert length >= 0


@given(st.integers(min_value=0, max_value=10**40))
def test_read_headers_reads_any_decimal_length(value: int) -> None:
    """A decimal Content-Length is read exactly, or as 'enormous' beyond 18 digits."""
    length, _ = _read_headers({"headers": [(b"content-length", str(value).encode())]})
    assert length is not None
    if value < 10**18:
        assert length == value
    else:
        assert length >= 10**18


def _messages(body: bytes, cuts: list[int], drop_keys: list[bool]) -> list[dict[str, Any]]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    parts = [body[a:b] for a, b in itertools.pairwise(points)] or [b""]
    messages: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        message: dict[str, Any] = {"type": "http.request"}
        last = i == len(parts) - 1
        drop = drop_keys[i % len(drop_keys)] if drop_keys else False
        if part or not drop:
            message["body"] = part
        if not last:
            message["more_body"] = True
        elif not drop:
            message["more_body"] = False
        messages.append(message)
    return messages


@settings(max_examples=60, deadline=None)
@given(
    note=st.text(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    drop_keys=st.lists(st.booleans(), max_size=4),
    with_length=st.booleans(),
)
def test_any_chunking_of_a_genuine_body_is_replayed_exactly(
    note: str, cuts: list[int], drop_keys: list[bool], with_length: bool
) -> None:
    """However the body is split (and whether optional keys are sent), the app gets it whole."""
    body = envelope("new_lead", {"id": "l_1", "note": note})
    headers = list(signed_headers(body).items())
    if with_length:
        headers.append(("Content-Length", str(len(body))))
    inner = RecordingApp()
    app = BoltcallWebhookMiddleware(inner, paths=["/hook"], secrets=SECRET, max_body_size=LIMIT)
    conn = drive(app, http_scope(headers=headers), _messages(body, cuts, drop_keys))
    if len(body) > LIMIT:
        assert conn.status == 413
        assert inner.calls == []
    else:
        assert conn.status == 200
        assert conn.body == body
        assert isinstance(inner.calls[0][0]["state"]["boltcall_event"], NewLeadEvent)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(min_value=LIMIT + 1, max_value=4 * LIMIT), chunk=st.integers(1, 700))
def test_streams_over_the_cap_are_refused_early(size: int, chunk: int) -> None:
    """Without Content-Length, a stream over the cap is refused at the first chunk past it."""
    body = b"x" * size
    messages = [
        {"type": "http.request", "body": body[i : i + chunk], "more_body": i + chunk < size}
        for i in range(0, size, chunk)
    ]
    inner = RecordingApp()
    app = BoltcallWebhookMiddleware(inner, paths=["/hook"], secrets=SECRET, max_body_size=LIMIT)
    conn = drive(app, http_scope(headers=list(signed_headers(body).items())), messages)
    assert conn.status == 413
    assert inner.calls == []
    assert conn.receive_calls == LIMIT // chunk + 1
