"""sign / verify_signature / is_valid_signature: known answers and every error path."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess

import pytest

from boltcall_webhooks import (
    ConfigurationError,
    InvalidSignatureError,
    MissingSignatureError,
    is_valid_signature,
    sign,
    verify_signature,
)

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# The call_completed example of Boltcall's webhook docs (fields as documented),
# serialised compactly as Boltcall sends it.
CALL_COMPLETED_EXAMPLE = (
    b'{"event":"call_completed","timestamp":"2025-03-20T09:17:22Z","data":{"id":"call_8f2k1",'
    b'"agent_id":"agt_42","direction":"inbound","caller":"+15551234567","duration_seconds":184,'
    b'"status":"completed","sentiment":"positive","summary":"Caller booked a cleaning for '
    b'Friday.","recording_url":"https://cdn.boltcall.org/rec/call_8f2k1.mp3"}}'
)
EXAMPLE_SECRET = "whsec_3x4mpl3S3cr3tK3y"
# Computed independently with: printf '%s' BODY | openssl dgst -sha256 -hmac whsec_3x4mpl3S3cr3tK3y
EXAMPLE_SIGNATURE = "2704fd2682b2fb57dd0cc53ed644a42c59b97c7c976717af2860f30674505486"


def test_github_documented_vector() -> None:
    """The same scheme as GitHub's: its documented test vector signs identically."""
    assert sign(GITHUB_BODY, GITHUB_SECRET) == GITHUB_SIGNATURE
    verify_signature(GITHUB_BODY, GITHUB_SIGNATURE, GITHUB_SECRET)


def test_sign_is_lowercase_hex_of_hmac_sha256() -> None:
    """sign() is the lowercase hex HMAC-SHA256 keyed with the UTF-8 secret, prefix kept."""
    expected = hmac.new(EXAMPLE_SECRET.encode(), CALL_COMPLETED_EXAMPLE, hashlib.sha256)
    signature = sign(CALL_COMPLETED_EXAMPLE, EXAMPLE_SECRET)
    assert signature == expected.hexdigest()
    assert signature == signature.lower()
    assert len(signature) == 64


def test_bytes_and_str_secret_sign_alike() -> None:
    """A bytes secret is the UTF-8 encoding of the str secret."""
    secret = "whsec_ünïcode"
    assert sign(b"x", secret) == sign(b"x", secret.encode())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize(
    "body",
    [CALL_COMPLETED_EXAMPLE, b"", b"\x00\xff binary \r\n", "ünïcödé".encode()],
    ids=["call_completed", "empty", "binary", "utf8"],
)
def test_matches_openssl(body: bytes) -> None:
    """An independent signer (openssl dgst -hmac) agrees with sign()."""
    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", EXAMPLE_SECRET, "-r"],
        input=body,
        capture_output=True,
        check=True,
    )
    digest = result.stdout.split()[0].decode()
    assert sign(body, EXAMPLE_SECRET) == digest
    verify_signature(body, digest, EXAMPLE_SECRET)


def test_verify_accepts_whitespace_and_uppercase() -> None:
    """Surrounding whitespace and upper-case hex are accepted."""
    signature = sign(GITHUB_BODY, GITHUB_SECRET)
    verify_signature(GITHUB_BODY, f"  {signature.upper()}\t\n", GITHUB_SECRET)
    assert is_valid_signature(GITHUB_BODY, signature.upper(), GITHUB_SECRET)


@pytest.mark.parametrize("value", [None, "", "   ", "\t\r\n"])
def test_missing_signature(value: str | None) -> None:
    """None, empty or blank headers are MissingSignatureError."""
    with pytest.raises(MissingSignatureError, match="X-Boltcall-Signature"):
        verify_signature(GITHUB_BODY, value, GITHUB_SECRET)
    assert not is_valid_signature(GITHUB_BODY, value, GITHUB_SECRET)


@pytest.mark.parametrize(
    "value",
    [
        GITHUB_SIGNATURE[:-1],
        GITHUB_SIGNATURE + "0",
        GITHUB_SIGNATURE[:-2] + "zz",
        "sha256=" + GITHUB_SIGNATURE,
        " ".join(GITHUB_SIGNATURE[i : i + 2] for i in range(0, 64, 2))[:64],
        GITHUB_SIGNATURE[:62] + "é0",
        GITHUB_SIGNATURE[:62] + "\u0663\u0664",  # Arabic-Indic digits
        GITHUB_SIGNATURE[:63] + "\x00",
        GITHUB_SIGNATURE.encode(),
        [GITHUB_SIGNATURE],
        64,
    ],
    ids=[
        "short",
        "long",
        "non-hex",
        "prefixed",
        "inner-spaces",
        "latin1",
        "unicode-digits",
        "nul",
        "bytes",
        "list",
        "int",
    ],
)
def test_malformed_signature_is_invalid_not_a_crash(value: object) -> None:
    """Anything but 64 hex digits is InvalidSignatureError, never TypeError/ValueError."""
    with pytest.raises(InvalidSignatureError, match=r"malformed|must be the header value"):
        verify_signature(GITHUB_BODY, value, GITHUB_SECRET)  # type: ignore[arg-type]
    assert not is_valid_signature(GITHUB_BODY, value, GITHUB_SECRET)  # type: ignore[arg-type]


def test_wrong_signature_message_hints_at_causes() -> None:
    """A mismatch names the usual causes and holds neither secret nor digest."""
    wrong = sign(GITHUB_BODY, "whsec_other")
    with pytest.raises(InvalidSignatureError) as info:
        verify_signature(GITHUB_BODY, wrong, GITHUB_SECRET)
    message = str(info.value)
    assert "raw bytes" in message
    assert "subscription" in message
    assert GITHUB_SECRET not in message
    assert wrong not in message
    assert GITHUB_SIGNATURE not in message


def test_every_secret_is_checked_without_early_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each configured secret is hashed even when the first one already matches."""
    calls: list[bytes] = []
    real_digest = hmac.digest

    def counting_digest(key: bytes, msg: bytes, digest: str) -> bytes:
        calls.append(key)
        return real_digest(key, msg, digest)

    monkeypatch.setattr(hmac, "digest", counting_digest)
    secrets = ["whsec_first", "whsec_second", "whsec_third"]
    verify_signature(b"body", sign(b"body", "whsec_first"), secrets)
    assert calls == [s.encode() for s in secrets]
    calls.clear()
    assert not is_valid_signature(b"body", sign(b"body", "whsec_none"), secrets)
    assert len(calls) == 3


def test_rotation_accepts_old_and_new() -> None:
    """With two secrets configured, a signature made with either is valid."""
    for secret in ("whsec_old", "whsec_new"):
        verify_signature(b"b", sign(b"b", secret), ["whsec_old", "whsec_new"])


def test_mapping_accepts_any_of_its_secrets() -> None:
    """verify_signature with a mapping accepts a signature made with any of its secrets."""
    mapping = {"new_lead": "whsec_a", "missed_call": ["whsec_b", "whsec_c"]}
    for secret in ("whsec_a", "whsec_b", "whsec_c"):
        verify_signature(b"b", sign(b"b", secret), mapping)
    with pytest.raises(InvalidSignatureError):
        verify_signature(b"b", sign(b"b", "whsec_d"), mapping)


@pytest.mark.parametrize("body", ["text", {"event": "x"}, None, 42])
def test_body_must_be_bytes(body: object) -> None:
    """A str or parsed body is a programming error (TypeError), and never valid."""
    signature = sign(b"text", "whsec_a")
    with pytest.raises(TypeError, match="raw request body as bytes"):
        verify_signature(body, signature, "whsec_a")  # type: ignore[arg-type]
    assert not is_valid_signature(body, signature, "whsec_a")  # type: ignore[arg-type]


def test_bytearray_and_memoryview_bodies() -> None:
    """Other bytes-like objects verify without a copy being required of the caller."""
    signature = sign(b"abc", "whsec_a")
    verify_signature(bytearray(b"abc"), signature, "whsec_a")  # type: ignore[arg-type]
    verify_signature(memoryview(b"abc"), signature, "whsec_a")  # type: ignore[arg-type]


def test_is_valid_signature_raises_only_for_bad_secrets() -> None:
    """Bad configuration is still loud in the predicate."""
    with pytest.raises(ConfigurationError):
        is_valid_signature(b"b", GITHUB_SIGNATURE, "")


def test_sign_takes_one_secret() -> None:
    """sign() refuses several secrets: it would be ambiguous."""
    with pytest.raises(TypeError, match="exactly one"):
        sign(b"b", ["whsec_a", "whsec_b"])
    with pytest.raises(TypeError, match="raw request body"):
        sign("text", "whsec_a")  # type: ignore[arg-type]


def test_call_completed_example_known_answer() -> None:
    """The documented call_completed example verifies against the openssl-computed answer."""
    from boltcall_webhooks import CallCompletedEvent, construct_event

    assert sign(CALL_COMPLETED_EXAMPLE, EXAMPLE_SECRET) == EXAMPLE_SIGNATURE
    event = construct_event(CALL_COMPLETED_EXAMPLE, EXAMPLE_SIGNATURE, EXAMPLE_SECRET)
    assert isinstance(event, CallCompletedEvent)
    assert event.data.id == "call_8f2k1"
    assert event.data.duration_seconds == 184
    assert event.data.sentiment == "positive"
    assert event.data.recording_url == "https://cdn.boltcall.org/rec/call_8f2k1.mp3"
