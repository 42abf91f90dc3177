"""Misconfiguration matrix: every bad secret fails closed, with a clear message and no leak.

Each bad configuration is tried on every core entry point (``sign``,
``verify_signature``, ``is_valid_signature``, ``construct_event`` and
``Verifier``) with a signature that is otherwise genuine. The only acceptable
outcome is a :class:`ConfigurationError` whose message says what is wrong and
never contains the secret; acceptance, ``False`` from ``is_valid_signature``,
or any other exception is a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import boltcall_webhooks as bw

BODY = (
    b'{"event":"call_completed","timestamp":"2025-03-20T09:17:22Z",'
    b'"data":{"id":"call_1","status":"completed"}}'
)
GOOD = "whsec_misconfig_" + "a1b2c3d4" * 4
SIG = hmac.new(GOOD.encode(), BODY, hashlib.sha256).hexdigest()

Entry = Callable[[Any], object]

ENTRY_POINTS: dict[str, Entry] = {
    "sign": lambda secrets: bw.sign(BODY, secrets),
    "verify_signature": lambda secrets: bw.verify_signature(BODY, SIG, secrets),
    "is_valid_signature": lambda secrets: bw.is_valid_signature(BODY, SIG, secrets),
    "construct_event": lambda secrets: bw.construct_event(BODY, SIG, secrets),
    "Verifier": lambda secrets: bw.Verifier(secrets).construct_event(BODY, SIG),
}

_WHITESPACE = "empty or only whitespace"
_NOT_STR = "must be str or bytes"

# (id, factory of the bad value, what the message must say)
BAD_SECRETS: list[Any] = [
    pytest.param(lambda: None, "No webhook secret configured", id="none"),
    pytest.param(lambda: "", _WHITESPACE, id="empty-str"),
    pytest.param(lambda: b"", _WHITESPACE, id="empty-bytes"),
    pytest.param(lambda: "   ", _WHITESPACE, id="spaces"),
    pytest.param(lambda: "\t\r\n", _WHITESPACE, id="tabs-newlines"),
    pytest.param(lambda: b" \n", _WHITESPACE, id="whitespace-bytes"),
    pytest.param(lambda: "\ud800", "not valid text", id="lone-surrogate"),
    pytest.param(lambda: 0, "got int", id="int"),
    pytest.param(lambda: 1.5, "got float", id="float"),
    pytest.param(lambda: True, "got bool", id="bool"),
    pytest.param(object, "got object", id="object"),
    pytest.param(lambda: {GOOD}, "got set", id="set"),
    pytest.param(lambda: iter([GOOD]), "got list_iterator", id="iterator"),
    pytest.param(list, "is empty", id="empty-list"),
    pytest.param(lambda: (), "is empty", id="empty-tuple"),
    pytest.param(lambda: [1, 2], r"secrets\[0\] must be str or bytes; got int", id="list-of-ints"),
    pytest.param(lambda: [GOOD, ""], r"secrets\[1\] is empty", id="list-with-empty"),
    pytest.param(lambda: [GOOD, None], r"secrets\[1\] .*got NoneType", id="list-with-none"),
    pytest.param(lambda: [GOOD, [GOOD]], r"secrets\[1\] .*got list", id="nested-list"),
    pytest.param(lambda: bytearray(GOOD.encode()), _NOT_STR, id="bytearray"),
    pytest.param(dict, "mapping is empty", id="empty-mapping"),
    pytest.param(lambda: {"call_completed": 5}, "got int", id="mapping-int-value"),
    pytest.param(lambda: {"call_completed": None}, "got NoneType", id="mapping-none-value"),
    pytest.param(lambda: {"call_completed": ""}, _WHITESPACE, id="mapping-empty-value"),
    pytest.param(lambda: {"call_completed": " "}, _WHITESPACE, id="mapping-space-value"),
    pytest.param(lambda: {"call_completed": []}, "is empty", id="mapping-empty-list"),
    pytest.param(
        lambda: {"call_completed": [GOOD, 3]}, r"\[1\] must be str or bytes", id="mapping-list-int"
    ),
    pytest.param(lambda: {"call_completed": {"a": GOOD}}, "got dict", id="mapping-dict-value"),
    pytest.param(lambda: {5: GOOD}, "event type names", id="mapping-int-key"),
    pytest.param(lambda: {"": GOOD}, "event type names", id="mapping-empty-key"),
    pytest.param(
        lambda: "\u00a0\u3000",
        _WHITESPACE,
        id="unicode-whitespace",
    ),
    pytest.param(
        lambda: b"\x00",
        "empty",
        id="nul-only",
    ),
    pytest.param(
        lambda: (GOOD, [GOOD]),
        "got list",
        id="tuple-holding-a-list",
    ),
    pytest.param(
        lambda: {GOOD: "call_completed"},
        "reversed|event type",
        id="swapped-mapping",
    ),
]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize(("make", "message"), BAD_SECRETS)
def test_bad_secret_fails_closed_with_a_clear_message(
    entry: str, make: Callable[[], object], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad secret raises ConfigurationError naming the problem, never the secret."""
    with (
        caplog.at_level(logging.DEBUG, logger="boltcall_webhooks"),
        pytest.raises(bw.ConfigurationError, match=message) as info,
    ):
        ENTRY_POINTS[entry](make())
    assert GOOD not in str(info.value)
    assert all(GOOD not in record.getMessage() for record in caplog.records)


def test_a_good_secret_is_accepted_by_every_entry_point() -> None:
    """Control for the matrix: the same calls with the right secret succeed."""
    assert bw.sign(BODY, GOOD) == SIG
    bw.verify_signature(BODY, SIG, GOOD)  # returns None; raises when refused
    assert bw.is_valid_signature(BODY, SIG, GOOD) is True
    assert bw.construct_event(BODY, SIG, GOOD).type == "call_completed"
    assert bw.Verifier(GOOD).construct_event(BODY, SIG).type == "call_completed"


# Environment variable -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(None, "No webhook secret configured", id="unset"),
        pytest.param("", "No webhook secret configured", id="empty"),
        pytest.param("  \t", "No webhook secret configured", id="whitespace"),
        pytest.param(",", "empty entry", id="only-comma"),
        pytest.param(f"{GOOD},,{GOOD}x", "empty entry", id="double-comma"),
        pytest.param(f"{GOOD},", "empty entry", id="trailing-comma"),
        pytest.param(f",{GOOD}", "empty entry", id="leading-comma"),
        pytest.param(f"{GOOD}, ,{GOOD}x", "empty entry", id="blank-entry"),
    ],
)
def test_verifier_without_a_usable_environment_secret_fails_closed(
    monkeypatch: pytest.MonkeyPatch, value: str | None, message: str
) -> None:
    """Verifier() reading BOLTCALL_WEBHOOK_SECRET refuses to start without a usable secret."""
    if value is None:
        monkeypatch.delenv(bw.SECRET_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(bw.SECRET_ENV_VAR, value)
    with pytest.raises(bw.ConfigurationError, match=message) as info:
        bw.Verifier()
    assert GOOD not in str(info.value)
    assert bw.SECRET_ENV_VAR in str(info.value)


def test_verifier_reads_several_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control: comma-separated secrets in the variable are all usable."""
    other = GOOD + "-rotated"
    monkeypatch.setenv(bw.SECRET_ENV_VAR, f"{other},{GOOD}")
    assert bw.Verifier().construct_event(BODY, SIG).type == "call_completed"


# Secrets with surrounding whitespace: used verbatim, with a warning --------------


def _padded(tag: str, pad: str) -> str:
    # A distinct secret per test: resolved secrets are cached, and the warning is
    # logged when a secret is first resolved.
    return pad + f"whsec_padded_{tag}_" + hashlib.sha256(pad.encode()).hexdigest()[:8] + pad


@pytest.mark.parametrize("pad", ["\n", " ", "\t"], ids=["newline", "space", "tab"])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_secret_with_surrounding_whitespace_is_used_verbatim_and_warned(
    entry: str, pad: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The padded secret is the key (nothing stripped), and a warning without it is logged."""
    secret = _padded(entry, pad)
    stripped = secret.strip()
    right = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    wrong = hmac.new(stripped.encode(), BODY, hashlib.sha256).hexdigest()
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        if entry == "sign":
            assert bw.sign(BODY, secret) == right
        elif entry == "is_valid_signature":
            assert bw.is_valid_signature(BODY, right, secret) is True
            assert bw.is_valid_signature(BODY, wrong, secret) is False
        else:
            check: Callable[[str], object] = {
                "verify_signature": lambda sig: bw.verify_signature(BODY, sig, secret),
                "construct_event": lambda sig: bw.construct_event(BODY, sig, secret),
                "Verifier": lambda sig: bw.Verifier(secret).construct_event(BODY, sig),
            }[entry]
            check(right)
            with pytest.raises(bw.InvalidSignatureError):
                check(wrong)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("whitespace" in message for message in warnings)
    assert all(stripped not in message for message in warnings)


def test_environment_entries_with_spaces_are_used_verbatim(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ "a, b" in the variable configures " b" (with a warning), not "b"."""
    second = GOOD + "-env-spaced"
    monkeypatch.setenv(bw.SECRET_ENV_VAR, f"{GOOD}-first, {second}")
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        verifier = bw.Verifier()
    spaced = hmac.new(f" {second}".encode(), BODY, hashlib.sha256).hexdigest()
    bare = hmac.new(second.encode(), BODY, hashlib.sha256).hexdigest()
    verifier.verify(BODY, spaced)
    with pytest.raises(bw.InvalidSignatureError):
        verifier.verify(BODY, bare)
    messages = [r.getMessage() for r in caplog.records]
    assert any("whitespace" in m for m in messages)
    assert all(second not in m for m in messages)


def test_a_backwards_mapping_never_logs_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    """{secret: event type} must not put the secret in the log."""
    secret = GOOD + "-backwards"
    with (
        caplog.at_level(logging.DEBUG, logger="boltcall_webhooks"),
        contextlib.suppress(bw.ConfigurationError),
    ):
        bw.Verifier({secret: "call_completed"})
    assert all(secret not in record.getMessage() for record in caplog.records)


def test_a_backwards_mapping_with_an_unprefixed_secret_never_echoes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """{secret: event type} with a lower-case secret lacking whsec_ must not leak it either."""
    secret = "a1b2c3d4e5f6a7b8c9d0e1f2"
    with (
        caplog.at_level(logging.DEBUG, logger="boltcall_webhooks"),
        pytest.raises(bw.ConfigurationError, match="reversed") as info,
    ):
        bw.Verifier({secret: "call_completed"})
    assert secret not in str(info.value)
    assert all(secret not in record.getMessage() for record in caplog.records)


# Options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"tolerance": math.nan}, "finite", id="tolerance-nan"),
        pytest.param({"tolerance": math.inf}, "finite", id="tolerance-inf"),
        pytest.param({"tolerance": -1}, "negative", id="tolerance-negative"),
        pytest.param({"tolerance": timedelta(seconds=-1)}, "negative", id="tolerance-neg-td"),
        pytest.param({"tolerance": 1e300}, "too large", id="tolerance-huge"),
        pytest.param({"tolerance": "300"}, "got str", id="tolerance-str"),
        pytest.param({"tolerance": True}, "got bool", id="tolerance-bool"),
        pytest.param({"max_body_size": 0}, "max_body_size", id="max-size-zero"),
        pytest.param({"max_body_size": -1}, "max_body_size", id="max-size-negative"),
        pytest.param({"max_body_size": False}, "max_body_size", id="max-size-false"),
        pytest.param({"max_body_size": 1.5}, "max_body_size", id="max-size-float"),
        pytest.param({"max_body_size": True}, "max_body_size", id="max-size-bool"),
        pytest.param({"max_body_size": "1024"}, "max_body_size", id="max-size-str"),
        pytest.param({"clock": "now"}, "clock", id="clock-not-callable"),
    ],
)
def test_bad_verifier_option_fails_closed(options: dict[str, Any], message: str) -> None:
    """A bad option is a ConfigurationError when the Verifier is built, never later."""
    with pytest.raises(bw.ConfigurationError, match=message):
        bw.Verifier(GOOD, **options)


@pytest.mark.parametrize("size", [0, -1, 1.5, True, False, "1024"])
def test_a_bad_max_body_size_fails_every_adapter_at_start_up(size: object) -> None:
    """Every adapter builds its verifier through VerifierSource: a bad cap fails there.

    The Flask and Django decorators, the Django view and middleware (from
    ``BOLTCALL_WEBHOOK_MAX_BODY_SIZE``) and the Starlette endpoint and
    middleware all pass their options to ``VerifierSource``, with or without
    secrets, before the first request.
    """
    from boltcall_webhooks._http import VerifierSource

    for secrets in (GOOD, None):
        with pytest.raises(bw.ConfigurationError, match="positive number of bytes"):
            VerifierSource(secrets, {"max_body_size": size})


def test_a_positive_max_body_size_is_kept() -> None:
    """One byte is the smallest cap; the message of a refusal names the limit."""
    verifier = bw.Verifier(GOOD, max_body_size=1)
    assert verifier.max_body_size == 1
    with pytest.raises(bw.PayloadTooLargeError):
        verifier.construct_event(BODY, SIG)


def test_an_almost_event_type_key_names_the_closest_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A mapping key one letter off an event type warns "did you mean ...?"."""
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        verifier = bw.Verifier({"new_leads": GOOD, "call_completed": GOOD})
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert message == (
        "The secrets mapping names an event type this version does not know: 'new_leads'; "
        "did you mean 'new_lead'? No secret is registered for 'new_lead', so those events "
        "are refused."
    )
    assert GOOD not in message
    assert verifier.construct_event(BODY, SIG).type == "call_completed"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("missed_calls", "did you mean 'missed_call'?"),
        ("appointment_booking", "did you mean 'appointment_booked'?"),
        ("lead_scored", "does not know: 'lead_scored'."),
    ],
)
def test_unknown_mapping_keys_warn_with_a_suggestion_only_when_one_is_close(
    key: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A future event type gets no suggestion; a typo does."""
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        bw.Verifier({key: GOOD, "missed_call": "whsec_other_" + "9" * 16})
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1
    assert expected in messages[0]
    if key == "missed_calls":  # the intended type has its own secret: nothing is refused
        assert "refused" not in messages[0]


@pytest.mark.parametrize(
    "tolerance", [math.nan, -1, "300", True], ids=["nan", "negative", "str", "bool"]
)
def test_bad_tolerance_fails_closed_in_construct_event(tolerance: object) -> None:
    """construct_event checks its options before accepting anything."""
    with pytest.raises(bw.ConfigurationError):
        bw.construct_event(BODY, SIG, GOOD, tolerance=tolerance)  # type: ignore[arg-type]


def test_a_clock_returning_a_naive_datetime_fails_closed() -> None:
    """A clock without a time zone is a ConfigurationError, not a silent comparison."""
    from datetime import datetime

    verifier = bw.Verifier(GOOD, tolerance=60, clock=lambda: datetime(2025, 3, 20, 9, 17, 22))
    with pytest.raises(bw.ConfigurationError, match="aware"):
        verifier.construct_event(BODY, SIG)


# Property: whatever junk is configured, nothing but ConfigurationError escapes -------

_FOREIGN_SIG = hmac.new(b"whsec_someone_else_entirely_0000", BODY, hashlib.sha256).hexdigest()

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=12),
)
_junk = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(_scalars, _scalars),  # see the tuple-holding-a-list case above
        st.dictionaries(st.one_of(st.text(max_size=20), st.integers()), inner, max_size=4),
    ),
    max_leaves=10,
)


@given(secrets=_junk)
def test_any_configured_value_fails_closed_or_refuses_a_foreign_signature(
    secrets: object,
) -> None:
    """Junk secrets raise ConfigurationError or, if usable, still refuse a foreign key."""
    for entry in (
        lambda: bw.is_valid_signature(BODY, _FOREIGN_SIG, secrets),  # type: ignore[arg-type]
        lambda: bw.verify_signature(BODY, _FOREIGN_SIG, secrets),  # type: ignore[arg-type]
        lambda: bw.construct_event(BODY, _FOREIGN_SIG, secrets),  # type: ignore[arg-type]
    ):
        try:
            result = entry()
        except bw.ConfigurationError:
            continue
        except bw.InvalidSignatureError:
            continue
        assert result is False, "a foreign signature was accepted"
