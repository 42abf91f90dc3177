"""WebhooksClient against a fake Boltcall management API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import pickle
import platform
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from fake_boltcall_api import TEST_API_KEY, FakeBoltcallApi

import boltcall_webhooks
from boltcall_webhooks import ConfigurationError, EventType, WebhookError
from boltcall_webhooks.api import (
    API_KEY_ENV_VAR,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    CreatedWebhook,
    NotFoundError,
    RateLimitError,
    Webhook,
    WebhooksClient,
    _parse_retry_after,
)

HOOK_URL = "https://receiver.example.com/boltcall"


@pytest.fixture
def api() -> Iterator[FakeBoltcallApi]:
    with FakeBoltcallApi(max_requests=50, lifetime=30) as fake:
        yield fake


@pytest.fixture
def client(api: FakeBoltcallApi) -> WebhooksClient:
    return WebhooksClient(TEST_API_KEY, base_url=api.base_url, timeout=5)


def _stored_hook(**overrides: object) -> dict[str, object]:
    hook: dict[str, object] = {
        "id": "wh_1",
        "name": "CRM",
        "url": HOOK_URL,
        "trigger_event": "new_lead",
        "is_active": True,
        "created_at": "2025-03-20T09:17:22Z",
    }
    hook.update(overrides)
    return hook


# The happy path ----------------------------------------------------------------


def test_create_list_delete_round_trip(api: FakeBoltcallApi, client: WebhooksClient) -> None:
    """A created webhook comes back typed with its secret, is listed, and can be deleted."""
    created = client.create_webhook(HOOK_URL, "call_completed", name="Calls")
    assert isinstance(created, CreatedWebhook)
    assert isinstance(created, Webhook)
    assert created.secret == api.webhooks[created.id]["secret"]
    assert created.secret.startswith("whsec_")
    assert (created.url, created.trigger_event, created.name) == (
        HOOK_URL,
        "call_completed",
        "Calls",
    )
    assert created.is_active is True
    assert created.created_at.tzinfo is timezone.utc
    assert abs(datetime.now(timezone.utc) - created.created_at) < timedelta(minutes=5)

    listed = client.list_webhooks()
    assert listed == [
        Webhook(
            id=created.id,
            name="Calls",
            url=HOOK_URL,
            trigger_event="call_completed",
            is_active=True,
            created_at=created.created_at,
        )
    ]
    assert type(listed[0]) is Webhook  # no secret in a listing

    client.delete_webhook(created.id)
    assert client.list_webhooks() == []


def test_list_parses_every_field(api: FakeBoltcallApi, client: WebhooksClient) -> None:
    """Listed webhooks keep name None, is_active False and the offset-converted creation time."""
    api.script(
        200,
        {
            "data": [
                _stored_hook(name=None, is_active=False, created_at="2025-03-20T11:17:22+02:00"),
                _stored_hook(id=42, trigger_event="some_future_event"),
            ]
        },
    )
    first, second = client.list_webhooks()
    assert first.name is None
    assert first.is_active is False
    assert first.created_at == datetime(2025, 3, 20, 9, 17, 22, tzinfo=timezone.utc)
    assert second.id == "42"  # a numeric id is kept as its decimal string
    assert second.trigger_event == "some_future_event"  # a newer event type is not lost


def test_requests_carry_key_user_agent_and_json_body(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """Every request sends the bearer key and the versioned User-Agent; POST sends exact JSON."""
    client.create_webhook(HOOK_URL, EventType.MISSED_CALL)
    client.create_webhook(HOOK_URL, "new_lead", name="Leads")
    client.list_webhooks()
    agent = f"boltcall-webhooks/{boltcall_webhooks.__version__} python/{platform.python_version()}"
    for request in api.requests:
        assert request.headers["authorization"] == f"Bearer {TEST_API_KEY}"
        assert request.headers["user-agent"] == agent
        assert request.headers["accept"] == "application/json"
    first, second, listing = api.requests
    assert (first.method, first.path) == ("POST", "/v1/webhooks")
    assert first.headers["content-type"] == "application/json"
    assert first.json() == {"url": HOOK_URL, "trigger_event": "missed_call"}  # no "name": None
    assert second.json() == {"url": HOOK_URL, "trigger_event": "new_lead", "name": "Leads"}
    assert (listing.method, listing.path, listing.body) == ("GET", "/v1/webhooks", b"")


def test_create_accepts_an_answer_wrapped_in_data(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """A created webhook wrapped as {"data": {...}} is read like a bare one."""
    api.script(201, {"data": {**_stored_hook(), "secret": "whsec_wrapped"}})
    created = client.create_webhook(HOOK_URL, "new_lead")
    assert (created.id, created.secret) == ("wh_1", "whsec_wrapped")


def test_delete_quotes_the_id_into_one_path_segment(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """An id with a slash or a query character cannot reach another API path."""
    api.script(200, {"deleted": True})
    client.delete_webhook("a/b?c")
    assert api.requests[-1].path == "/v1/webhooks/a%2Fb%3Fc"


@pytest.mark.parametrize(
    ("status", "body"), [(204, b""), (200, b""), (200, b'{"deleted": true, "id": "wh_1"}')]
)
def test_delete_accepts_an_empty_or_confirming_answer(
    api: FakeBoltcallApi, client: WebhooksClient, status: int, body: bytes
) -> None:
    """204 No Content, an empty 200 and {"deleted": true} all mean deleted."""
    api.script(status, body)
    client.delete_webhook("wh_1")


@pytest.mark.parametrize("body", [b'{"deleted": false}', b"{}", b"[true]"])
def test_delete_without_confirmation_is_an_api_error(
    api: FakeBoltcallApi, client: WebhooksClient, body: bytes
) -> None:
    """A 200 that does not confirm the deletion is not taken as success."""
    api.script(200, body)
    with pytest.raises(ApiError, match="did not confirm the deletion") as caught:
        client.delete_webhook("wh_1")
    assert (caught.value.status, caught.value.body) == (200, body)


# Validation before any request ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://receiver.example.com/hook",
        "receiver.example.com/hook",
        "/hook",
        "ftp://receiver.example.com/hook",
        "https://",
        "https:///path-only",
        "https://receiver.example.com/a b",
        "https://receiver.example.com/\nX-Injected: 1",
        "https://[::1/hook",
        "",
    ],
)
def test_create_refuses_a_non_https_url_before_any_request(
    api: FakeBoltcallApi, client: WebhooksClient, url: str
) -> None:
    """Anything but an absolute https:// URL is a ValueError and nothing is sent."""
    with pytest.raises(ValueError, match="url must"):
        client.create_webhook(url, "new_lead")
    assert api.requests == []


@pytest.mark.parametrize("event", ["lead", "NEW_LEAD", "new_lead ", "", "*"])
def test_create_refuses_an_unknown_trigger_event_before_any_request(
    api: FakeBoltcallApi, client: WebhooksClient, event: str
) -> None:
    """An event type Boltcall does not send is a ValueError naming the known ones."""
    with pytest.raises(ValueError, match="trigger_event must be one of new_lead, missed_call"):
        client.create_webhook(HOOK_URL, event)
    assert api.requests == []


def test_create_accepts_an_uppercase_https_scheme(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """URL schemes are case-insensitive; the scheme is sent in lower case, the rest untouched."""
    created = client.create_webhook("HTTPS://receiver.example.com/X?a=%41", "review_received")
    assert api.requests[0].json()["url"] == "https://receiver.example.com/X?a=%41"
    assert created.url == "https://receiver.example.com/X?a=%41"


def test_wrong_argument_types_are_type_errors(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """A non-string url, name or id is a TypeError, and nothing is sent."""
    with pytest.raises(TypeError, match="url must be a string"):
        client.create_webhook(b"https://x.example", "new_lead")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a string"):
        client.create_webhook(HOOK_URL, "new_lead", name=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="webhook_id must be a string"):
        client.delete_webhook(7)  # type: ignore[arg-type]
    assert api.requests == []


@pytest.mark.parametrize("webhook_id", ["", ".", "..", "wh_1\n", "wh\x001"])
def test_delete_refuses_an_unusable_id(
    api: FakeBoltcallApi, client: WebhooksClient, webhook_id: str
) -> None:
    """Empty, dot-segment and control-character ids are refused before any request."""
    with pytest.raises(ValueError, match="webhook_id"):
        client.delete_webhook(webhook_id)
    assert api.requests == []


# Errors from the API ----------------------------------------------------------------


def test_a_wrong_key_is_an_authentication_error(api: FakeBoltcallApi) -> None:
    """401 becomes AuthenticationError with the API's own message and a hint."""
    client = WebhooksClient("bc_wrong_key_0000", base_url=api.base_url)
    with pytest.raises(AuthenticationError) as caught:
        client.list_webhooks()
    error = caught.value
    assert error.status == 401
    assert json.loads(error.body)["error"]["message"] == "Invalid API key"
    assert "Invalid API key" in str(error)
    assert API_KEY_ENV_VAR in str(error)
    assert "bc_wrong_key_0000" not in str(error)


def test_forbidden_is_an_authentication_error(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """403 (a key without the rights) is an AuthenticationError too."""
    api.script(403, {"error": "This key is read-only"})
    with pytest.raises(AuthenticationError, match="This key is read-only") as caught:
        client.create_webhook(HOOK_URL, "new_lead")
    assert caught.value.status == 403


def test_deleting_an_unknown_webhook_is_not_found(client: WebhooksClient) -> None:
    """404 becomes NotFoundError carrying the API's message."""
    with pytest.raises(NotFoundError, match="Webhook not found") as caught:
        client.delete_webhook("wh_missing")
    assert caught.value.status == 404


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({}, None),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_rate_limit_carries_retry_after(
    api: FakeBoltcallApi,
    client: WebhooksClient,
    header: dict[str, str],
    expected: float | None,
) -> None:
    """429 becomes RateLimitError with retry_after from the header (None when absent or bad)."""
    api.script(429, {"message": "Slow down"}, headers=header)
    with pytest.raises(RateLimitError, match="Slow down") as caught:
        client.list_webhooks()
    assert caught.value.status == 429
    assert caught.value.retry_after == expected


def test_rate_limit_retry_after_as_http_date(api: FakeBoltcallApi, client: WebhooksClient) -> None:
    """A Retry-After HTTP date becomes the seconds left until then."""
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    api.script(429, b"", headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    with pytest.raises(RateLimitError) as caught:
        client.list_webhooks()
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "url is unreachable", "code": "bad_url"}},
        {"error": "url is unreachable"},
        {"message": "url is unreachable"},
        {"detail": "url is unreachable"},
        {"error": {"message": "  url is\n\tunreachable  "}},
    ],
)
def test_json_error_messages_are_surfaced(
    api: FakeBoltcallApi, client: WebhooksClient, body: object
) -> None:
    """Each common JSON error shape puts the API's message (on one line) into ours."""
    api.script(422, body)
    with pytest.raises(ApiError) as caught:
        client.create_webhook(HOOK_URL, "new_lead")
    assert type(caught.value) is ApiError
    assert caught.value.status == 422
    assert (
        str(caught.value)
        == "Boltcall API POST /webhooks failed with HTTP 422: url is unreachable."
    )


def test_a_non_json_error_body_is_not_copied_into_the_message(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """An HTML error page stays on .body; the message names only the call and status."""
    page = b"<html><body>502 Bad Gateway from the edge</body></html>"
    api.script(502, page, headers={"Content-Type": "text/html"})
    with pytest.raises(ApiError) as caught:
        client.list_webhooks()
    assert str(caught.value) == "Boltcall API GET /webhooks failed with HTTP 502."
    assert caught.value.body == page


def test_an_api_message_echoing_the_key_is_redacted(
    api: FakeBoltcallApi, client: WebhooksClient
) -> None:
    """If the API repeats the key in its error, our message does not."""
    api.script(401, {"error": {"message": f"Key {TEST_API_KEY} was revoked"}})
    with pytest.raises(AuthenticationError) as caught:
        client.list_webhooks()
    assert TEST_API_KEY not in str(caught.value)
    assert "Key [redacted] was revoked" in str(caught.value)


# A 40-character key, as in the report: a key cut in two by the 300-character limit leaked
# 39 of its characters when the message was shortened before the key was redacted.
LONG_KEY = "bc_live_9f3Kq2Zr7Xw4Lm8Np1Tv6Yb0Hc5Jd2Gs"
CUT_OFFSETS = range(240, 311)  # the key starts before, across and after the cut at 300


def key_pieces(key: str, run: int = 8) -> set[str]:
    """Every run of ``run`` consecutive characters of the key."""
    return {key[i : i + run] for i in range(len(key) - run + 1)}


def leaked_pieces(error: BaseException, key: str) -> set[str]:
    """The 8-character pieces of the key found in str(), repr() or args of the error."""
    shown = [str(error), repr(error), *(str(arg) for arg in error.args)]
    return {piece for piece in key_pieces(key) if any(piece in text for text in shown)}


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(401, AuthenticationError), (404, NotFoundError), (429, RateLimitError), (500, ApiError)],
)
@pytest.mark.parametrize("spacing", ["x", " Invalid key "], ids=["glued", "spaced"])
def test_no_piece_of_an_echoed_key_survives_the_message_cut_at_any_offset(
    status: int, error_class: type[ApiError], spacing: str
) -> None:
    """The key redacted before the message is shortened: at every offset around the cut."""
    offsets = list(CUT_OFFSETS)
    with FakeBoltcallApi(LONG_KEY, max_requests=len(offsets) + 5, lifetime=30) as api:
        client = WebhooksClient(LONG_KEY, base_url=api.base_url, timeout=5)
        for offset in offsets:
            message = "x" * offset + spacing + LONG_KEY + " (check the dashboard)"
            api.script(status, {"error": {"message": message}})
            with pytest.raises(error_class) as caught:
                client.list_webhooks()
            assert leaked_pieces(caught.value, LONG_KEY) == set(), (offset, str(caught.value))
            shown = str(caught.value)
            # Shortened after redaction: the kept part ends in an ellipsis or in the marker.
            assert "…" in shown or "[redacted]" in shown, (offset, shown)


@pytest.mark.parametrize(
    "echoed",
    [
        LONG_KEY[:8],  # the shortest piece hidden
        LONG_KEY[5:25],  # from the middle
        LONG_KEY[-12:],  # the end
        LONG_KEY[:20] + "..." + LONG_KEY[24:],  # two pieces around an elision
    ],
    ids=["first-8", "middle", "last-12", "two-pieces"],
)
def test_any_run_of_8_characters_of_the_key_is_redacted(echoed: str) -> None:
    """A piece of the key is hidden, not only the whole key."""
    with FakeBoltcallApi(LONG_KEY, max_requests=5, lifetime=30) as api:
        client = WebhooksClient(LONG_KEY, base_url=api.base_url, timeout=5)
        api.script(401, {"error": {"message": f"Key {echoed} was revoked"}})
        with pytest.raises(AuthenticationError) as caught:
            client.list_webhooks()
    assert leaked_pieces(caught.value, LONG_KEY) == set()
    assert "Key [redacted]" in str(caught.value)


def test_text_sharing_fewer_than_8_characters_with_the_key_is_kept() -> None:
    """Ordinary words that happen to appear in the key are not redacted."""
    with FakeBoltcallApi(LONG_KEY, max_requests=5, lifetime=30) as api:
        client = WebhooksClient(LONG_KEY, base_url=api.base_url, timeout=5)
        api.script(401, {"error": {"message": "bc_live keys rotate: 9f3Kq2Z is not a key"}})
        with pytest.raises(AuthenticationError) as caught:
            client.list_webhooks()
    assert "HTTP 401: bc_live keys rotate: 9f3Kq2Z is not a key" in str(caught.value)


def test_redirects_are_not_followed(api: FakeBoltcallApi, client: WebhooksClient) -> None:
    """A 3xx is an ApiError: following it could send the key to another host."""
    api.script(302, b"", headers={"Location": f"http://127.0.0.1:{api.port}/v1/elsewhere"})
    with pytest.raises(ApiError, match="redirect") as caught:
        client.list_webhooks()
    assert caught.value.status == 302
    assert len(api.requests) == 1


def test_every_api_error_is_a_webhook_error() -> None:
    """One `except WebhookError` catches the client's errors as well as the library's."""
    for error in (AuthenticationError, NotFoundError, RateLimitError, ApiTimeoutError):
        assert issubclass(error, ApiError)
    assert issubclass(ApiTimeoutError, ApiConnectionError)
    assert issubclass(ApiError, WebhookError)


def test_errors_survive_pickling(api: FakeBoltcallApi, client: WebhooksClient) -> None:
    """Errors keep their class and attributes through pickle (task queues, multiprocessing)."""
    api.script(429, {"error": "Slow down"}, headers={"Retry-After": "3"})
    with pytest.raises(RateLimitError) as caught:
        client.list_webhooks()
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is RateLimitError
    assert (str(copy), copy.status, copy.body, copy.retry_after) == (
        str(caught.value),
        429,
        caught.value.body,
        3.0,
    )


# Malformed answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (b"not json", "not JSON"),
        (b'{"data": NaN}', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ([], "the answer is not a JSON object"),
        ({}, "data is not a JSON array"),
        ({"data": {"id": "wh_1"}}, "data is not a JSON array"),
        ({"data": ["wh_1"]}, "data[0] is not a JSON object"),
        ({"data": [_stored_hook(id=None)]}, "data[0].id is missing"),
        ({"data": [_stored_hook(id=True)]}, "data[0].id is missing"),
        ({"data": [_stored_hook(), _stored_hook(url=None)]}, "data[1].url is missing"),
        ({"data": [_stored_hook(trigger_event=5)]}, "data[0].trigger_event is missing"),
        ({"data": [_stored_hook(name=["x"])]}, "data[0].name is not a string"),
        ({"data": [_stored_hook(is_active="yes")]}, "data[0].is_active is missing"),
        ({"data": [_stored_hook(created_at="yesterday")]}, "data[0].created_at is missing"),
        ({"data": [_stored_hook(created_at=1742462242)]}, "data[0].created_at is missing"),
    ],
)
def test_a_malformed_listing_is_an_api_error_naming_the_field(
    api: FakeBoltcallApi, client: WebhooksClient, document: object, where: str
) -> None:
    """A 200 whose body is not the documented list is an ApiError that says what is wrong."""
    api.script(200, document)
    with pytest.raises(ApiError, match=r"unexpected answer|not JSON") as caught:
        client.list_webhooks()
    assert where in str(caught.value)
    assert type(caught.value) is ApiError
    assert caught.value.status == 200
    assert caught.value.__cause__ is None  # no JSONDecodeError/KeyError chained for users


@pytest.mark.parametrize(
    "document",
    [
        _stored_hook(),  # no secret
        {**_stored_hook(), "secret": ""},
        {**_stored_hook(), "secret": 1234},
        {**_stored_hook(created_at=None), "secret": "whsec_only_copy"},
        {"data": "whsec_only_copy"},
    ],
)
def test_a_malformed_creation_answer_keeps_the_body_but_never_shows_the_secret(
    api: FakeBoltcallApi, client: WebhooksClient, document: object
) -> None:
    """The raw answer (maybe the only copy of the secret) stays on .body, not in the message."""
    api.script(201, document)
    with pytest.raises(ApiError, match="unexpected answer to POST /webhooks") as caught:
        client.create_webhook(HOOK_URL, "new_lead")
    assert caught.value.body == json.dumps(document).encode()
    assert "whsec_only_copy" not in str(caught.value)
    assert "whsec_only_copy" not in repr(caught.value)


# Transport failures ---------------------------------------------------------------------


def test_a_slow_answer_is_a_timeout(api: FakeBoltcallApi) -> None:
    """No answer within `timeout` raises ApiTimeoutError quickly, with a clear message."""
    client = WebhooksClient(TEST_API_KEY, base_url=api.base_url, timeout=0.3)
    api.script(200, {"data": []}, delay=5)
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError) as caught:
        client.list_webhooks()
    assert time.monotonic() - started < 3
    assert caught.value.status is None
    assert str(caught.value) == (
        "The Boltcall API did not answer GET /webhooks within 0.3 s "
        "(raise timeout= if the network is slow)."
    )


def test_a_refused_connection_is_a_connection_error() -> None:
    """Nothing listening on the port: ApiConnectionError, status None, no traceback noise."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = WebhooksClient(TEST_API_KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(ApiConnectionError, match="Could not reach the Boltcall API") as caught:
        client.list_webhooks()
    assert caught.value.status is None
    assert not isinstance(caught.value, ApiTimeoutError)


# Configuration ----------------------------------------------------------------------------


def test_the_key_is_read_from_the_environment(
    api: FakeBoltcallApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """api_key=None reads BOLTCALL_API_KEY, ignoring a stray trailing newline."""
    monkeypatch.setenv(API_KEY_ENV_VAR, f"{TEST_API_KEY}\n")
    WebhooksClient(base_url=api.base_url).list_webhooks()
    assert api.requests[0].headers["authorization"] == f"Bearer {TEST_API_KEY}"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_key_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """No key, or an empty one, fails at construction with a message naming the variable."""
    if value is None:
        monkeypatch.delenv(API_KEY_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(API_KEY_ENV_VAR, value)
    with pytest.raises(ConfigurationError, match=API_KEY_ENV_VAR):
        WebhooksClient()


@pytest.mark.parametrize("key", ["bc key with spaces", "bc_key\r\nX-Evil: 1", "bc_kéy", 1234])
def test_an_unsendable_key_is_refused_without_echoing_it(key: object) -> None:
    """A key that cannot go into a header is a ConfigurationError; the message hides it."""
    with pytest.raises(ConfigurationError) as caught:
        WebhooksClient(key)  # type: ignore[arg-type]
    assert str(key) not in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "match"),
    [
        ("http://api.boltcall.org/v1", "must use https://"),
        ("http://10.0.0.5:8080/v1", "must use https://"),
        ("https://user:pw@api.boltcall.org/v1", "credentials"),
        ("https://api.boltcall.org/v1?x=1", "query"),
        ("ftp://api.boltcall.org/v1", "absolute https:// URL"),
        ("api.boltcall.org/v1", "absolute https:// URL"),
        ("https://api.boltcall.org:99999/v1", "absolute https:// URL"),
        ("https://api.boltcall.org/v1\n", "absolute https:// URL"),
    ],
)
def test_unsafe_or_broken_base_urls_are_refused(base_url: str, match: str) -> None:
    """The key only travels over HTTPS (plain HTTP is for loopback fakes only)."""
    with pytest.raises(ConfigurationError, match=match):
        WebhooksClient(TEST_API_KEY, base_url=base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080/v1/",
        "http://localhost/v1",
        "http://[::1]:9/v1",
        "https://api.example",
    ],
)
def test_https_and_loopback_base_urls_are_accepted(base_url: str) -> None:
    """https:// anywhere and http:// on loopback are fine; a trailing slash is dropped."""
    client = WebhooksClient(TEST_API_KEY, base_url=base_url)
    assert client.base_url == base_url.rstrip("/")


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "10"])
def test_a_bad_timeout_is_a_configuration_error(timeout: object) -> None:
    """timeout must be a positive, finite number of seconds."""
    with pytest.raises(ConfigurationError, match="timeout"):
        WebhooksClient(TEST_API_KEY, timeout=timeout)  # type: ignore[arg-type]


# Keeping the key and secrets out of sight ---------------------------------------------------


def test_reprs_hide_the_key_and_the_secret(client: WebhooksClient) -> None:
    """Neither the client's repr nor a created webhook's repr/str shows a credential."""
    assert TEST_API_KEY not in repr(client)
    created = client.create_webhook(HOOK_URL, "new_lead")
    assert created.secret not in repr(created)
    assert created.secret not in str(created)
    assert "secret=<hidden>" in repr(created)
    assert created.id in repr(created)


def test_logs_and_messages_never_hold_the_key_or_a_secret(
    api: FakeBoltcallApi, client: WebhooksClient, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG level, through success and every error class, no credential is logged or shown."""
    caplog.set_level(logging.DEBUG)
    created = client.create_webhook(HOOK_URL, "new_lead")
    client.list_webhooks()
    messages = []
    for status in (400, 401, 403, 404, 429, 500):
        api.script(status, {"error": {"message": "nope"}})
        with pytest.raises(ApiError) as caught:
            client.list_webhooks()
        messages.append(str(caught.value))
    api.script(200, {"data": [{**_stored_hook(url=7), "secret": created.secret}]})
    with pytest.raises(ApiError) as caught:
        client.list_webhooks()
    messages.append(str(caught.value))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /webhooks -> HTTP 200" in logged  # the debug log exists
    for credential in (TEST_API_KEY, created.secret):
        assert credential not in logged
        assert all(credential not in message for message in messages)


# Retry-After parsing -------------------------------------------------------------------------


def test_retry_after_reading() -> None:
    """Seconds and HTTP dates are read; a past date is 0; junk is None."""
    now = datetime(2025, 3, 20, 9, 0, 0, tzinfo=timezone.utc)
    assert _parse_retry_after("30", now=now) == 30.0
    assert _parse_retry_after(" 30 ", now=now) == 30.0
    assert _parse_retry_after("Thu, 20 Mar 2025 09:01:00 GMT", now=now) == 60.0
    assert _parse_retry_after("Thu, 20 Mar 2025 08:00:00 GMT", now=now) == 0.0
    for junk in (None, "", "-5", "1e3", "nan", "inf", "٣", "30s", "Thursday"):
        assert _parse_retry_after(junk, now=now) is None


# Properties: whatever the server answers, only an ApiError escapes -------------------------

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["new_lead", "2025-03-20T09:17:22Z", "whsec_x", TEST_API_KEY]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELD_VALUES = {
    "id": st.text(min_size=1, max_size=12) | st.integers(),
    "name": st.none() | st.text(max_size=12),
    "url": st.just(HOOK_URL),
    "trigger_event": st.sampled_from([member.value for member in EventType]),
    "is_active": st.booleans(),
    "created_at": st.datetimes(timezones=st.just(timezone.utc)).map(
        lambda moment: moment.isoformat()
    ),
    "secret": st.just("whsec_" + "ab" * 12),
}


@st.composite
def _near_webhooks(draw: st.DrawFn) -> dict[str, object]:
    """A valid webhook (with secret), often with one or two fields removed or replaced."""
    hook: dict[str, object] = draw(st.fixed_dictionaries(dict(_FIELD_VALUES)))
    if draw(st.booleans()):
        return hook
    for key in draw(st.lists(st.sampled_from(sorted(hook)), max_size=2, unique=True)):
        if draw(st.booleans()):
            del hook[key]
        else:
            hook[key] = draw(_JSON)
    return hook


_NEAR_WEBHOOK = _near_webhooks()
_ANSWERS = (
    _JSON
    | _NEAR_WEBHOOK
    | st.fixed_dictionaries({"data": st.lists(_NEAR_WEBHOOK, max_size=3) | _JSON})
    | st.fixed_dictionaries({"deleted": st.just(True) | _JSON})
)
_PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _outcome(call: Callable[[], object]) -> object:
    """The call's result, or the ApiError it raised."""
    try:
        return call()
    except ApiError as error:
        return error


@pytest.fixture(scope="module")
def shared_api() -> Iterator[FakeBoltcallApi]:
    with FakeBoltcallApi(max_requests=2000, lifetime=240) as fake:
        yield fake


@_PROPERTY_SETTINGS
@given(answer=_ANSWERS, call=st.sampled_from(["list", "create", "delete"]))
def test_any_json_answer_gives_a_result_or_an_api_error(
    shared_api: FakeBoltcallApi, answer: object, call: str
) -> None:
    """Arbitrary JSON in a 2xx answer never escapes as KeyError, TypeError or a decode error."""
    client = WebhooksClient(TEST_API_KEY, base_url=shared_api.base_url, timeout=5)
    shared_api.script(200, answer)
    calls: dict[str, Callable[[], object]] = {
        "list": client.list_webhooks,
        "create": lambda: client.create_webhook(HOOK_URL, "new_lead"),
        "delete": lambda: client.delete_webhook("wh_1"),
    }
    result = _outcome(calls[call])
    event(f"{call}: {'ApiError' if isinstance(result, ApiError) else 'result'}")
    if isinstance(result, ApiError):
        assert type(result) is ApiError
        assert result.status == 200
        assert TEST_API_KEY not in str(result)
    elif call == "list":
        assert isinstance(result, list)
        assert all(type(hook) is Webhook for hook in result)  # pyright: ignore[reportUnknownVariableType]
    elif call == "create":
        assert isinstance(result, CreatedWebhook)
        assert result.created_at.tzinfo is timezone.utc
    else:
        assert result is None


@_PROPERTY_SETTINGS
@given(body=st.binary(max_size=64), status=st.sampled_from([200, 201, 400, 409, 500, 503]))
def test_any_bytes_answer_gives_a_result_or_an_api_error(
    shared_api: FakeBoltcallApi, body: bytes, status: int
) -> None:
    """Arbitrary bytes under any status give a result (2xx only) or an ApiError."""
    client = WebhooksClient(TEST_API_KEY, base_url=shared_api.base_url, timeout=5)
    shared_api.script(status, body)
    result = _outcome(client.list_webhooks)
    if isinstance(result, ApiError):
        assert result.status == status
        assert result.body == body
    else:
        assert status < 400


@_PROPERTY_SETTINGS
@given(answer=_JSON, status=st.sampled_from([400, 401, 403, 404, 409, 422, 429, 500, 502]))
def test_any_error_answer_maps_to_its_class_without_leaking_the_key(
    shared_api: FakeBoltcallApi, answer: object, status: int
) -> None:
    """Each error status gives its ApiError subclass; the key never reaches the message."""
    client = WebhooksClient(TEST_API_KEY, base_url=shared_api.base_url, timeout=5)
    shared_api.script(
        status, {"error": {"message": answer}} if isinstance(answer, str) else answer
    )
    expected = {401: AuthenticationError, 403: AuthenticationError, 404: NotFoundError}.get(
        status, RateLimitError if status == 429 else ApiError
    )
    with pytest.raises(ApiError) as caught:
        client.list_webhooks()
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert TEST_API_KEY not in str(caught.value)
    assert "\n" not in str(caught.value)


@_PROPERTY_SETTINGS
@given(hooks=st.lists(st.fixed_dictionaries(dict(_FIELD_VALUES)), max_size=4))
def test_valid_listings_are_read_exactly(
    shared_api: FakeBoltcallApi, hooks: list[dict[str, object]]
) -> None:
    """Every documented webhook is read field for field (ids as strings, times as aware UTC)."""
    client = WebhooksClient(TEST_API_KEY, base_url=shared_api.base_url, timeout=5)
    shared_api.script(200, {"data": hooks})
    listed = client.list_webhooks()
    assert [hook.id for hook in listed] == [str(hook["id"]) for hook in hooks]
    assert [hook.name for hook in listed] == [hook["name"] for hook in hooks]
    assert [hook.is_active for hook in listed] == [hook["is_active"] for hook in hooks]
    assert [hook.created_at.isoformat() for hook in listed] == [
        hook["created_at"] for hook in hooks
    ]


@settings(max_examples=300)
@given(value=st.text(max_size=40) | st.integers(min_value=0, max_value=10**9).map(str))
def test_retry_after_is_none_or_a_finite_wait(value: str) -> None:
    """Any header text gives None or a finite, non-negative number of seconds."""
    seconds = _parse_retry_after(value)
    assert seconds is None or (seconds >= 0 and seconds != float("inf"))
    if value.isascii() and value.isdigit() and len(value) <= 20:
        assert seconds == float(value)
