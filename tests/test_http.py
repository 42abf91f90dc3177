"""The shared HTTP mapping used by every adapter."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest

from boltcall_webhooks import (
    SECRET_ENV_VAR,
    ConfigurationError,
    InvalidSignatureError,
    MissingSignatureError,
    PayloadError,
    PayloadTooLargeError,
    StaleEventError,
    WebhookError,
    sign,
)
from boltcall_webhooks._http import (
    METHOD_NOT_ALLOWED,
    Rejection,
    VerifierSource,
    parse_content_length,
    rejection_for,
)

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (MissingSignatureError("m"), 401, "Missing signature"),
        (InvalidSignatureError("m"), 401, "Invalid signature"),
        (
            StaleEventError("m", timestamp=NOW, now=NOW, tolerance=NOW - NOW),
            401,
            "Stale event",
        ),
        (PayloadTooLargeError("m", max_body_size=1), 413, "Payload too large"),
        (PayloadError("m"), 400, "Invalid payload"),
        (ConfigurationError("m"), 500, "Webhook receiver misconfigured"),
    ],
)
def test_each_error_has_one_status(error: WebhookError, status: int, message: str) -> None:
    """Every library error maps to exactly one status and a JSON {"error": ...} body."""
    rejection = rejection_for(error)
    assert rejection.status == status
    assert json.loads(rejection.body) == {"error": message}
    assert rejection.content_type == "application/json"


def test_configuration_errors_are_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A 500 for missing configuration is logged at ERROR level for the operator."""
    with caplog.at_level(logging.INFO, logger="boltcall_webhooks"):
        rejection_for(ConfigurationError("No webhook secret configured"))
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_method_not_allowed_says_post() -> None:
    """405 answers carry Allow: POST."""
    assert METHOD_NOT_ALLOWED.status == 405
    assert ("Allow", "POST") in METHOD_NOT_ALLOWED.headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("0", 0), ("42", 42), (" 7 ", 7)],
)
def test_content_length_values(value: str | None, expected: int | None) -> None:
    """Absent lengths are None; digits are read."""
    assert parse_content_length(value) == expected


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "1e3", "\u0661\u0662", "0x10"])
def test_invalid_content_length_is_400(value: str) -> None:
    """A Content-Length that is not a plain number is a 400."""
    result = parse_content_length(value)
    assert isinstance(result, Rejection)
    assert result.status == 400


class TestVerifierSource:
    """Secrets: the argument, else the framework setting, else the environment."""

    def test_argument_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An explicit secret is used even when a setting and the env var exist."""
        monkeypatch.setenv(SECRET_ENV_VAR, "whsec_env")
        source = VerifierSource("whsec_arg", {}, lambda: "whsec_setting")
        source.get().verify(b"b", sign(b"b", "whsec_arg"))

    def test_setting_then_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The setting beats the environment; without it, the environment is read."""
        monkeypatch.setenv(SECRET_ENV_VAR, "whsec_env")
        setting: list[str | None] = ["whsec_setting"]
        source = VerifierSource(None, {}, lambda: setting[0])
        source.get().verify(b"b", sign(b"b", "whsec_setting"))
        setting[0] = None
        source.get().verify(b"b", sign(b"b", "whsec_env"))

    def test_follows_changes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A changed environment is picked up; an unchanged one reuses the verifier."""
        monkeypatch.setenv(SECRET_ENV_VAR, "whsec_one")
        source = VerifierSource(None, {"max_body_size": 10})
        first = source.get()
        assert source.get() is first
        monkeypatch.setenv(SECRET_ENV_VAR, "whsec_two")
        second = source.get()
        assert second is not first
        second.verify(b"b", sign(b"b", "whsec_two"))
        assert second.max_body_size == 10

    def test_nothing_configured(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No argument, setting or env var: ConfigurationError at every request."""
        monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
        source = VerifierSource(None, {}, lambda: None)
        for _ in range(2):
            with pytest.raises(ConfigurationError):
                source.get()

    def test_empty_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty setting is an error, not a fall-through to the environment."""
        monkeypatch.setenv(SECRET_ENV_VAR, "whsec_env")
        with pytest.raises(ConfigurationError):
            VerifierSource(None, {}, lambda: " ").get()

    def test_unknown_option(self) -> None:
        """A misspelt option is a TypeError at construction."""
        with pytest.raises(TypeError, match="max_size"):
            VerifierSource("whsec_a", {"max_size": 1})

    def test_bad_explicit_secret_fails_at_start(self) -> None:
        """An explicit but empty secret fails when the adapter is built."""
        with pytest.raises(ConfigurationError):
            VerifierSource("", {})


def test_enormous_content_length_is_over_any_cap() -> None:
    """A Content-Length of thousands of digits is a huge size, never a crash in int()."""
    result = parse_content_length("9" * 5000)
    assert isinstance(result, int)
    assert result >= 10**18


def test_bad_option_fails_at_start_even_without_secrets() -> None:
    """An invalid option is refused when the adapter is built, not at the first request."""
    with pytest.raises(ConfigurationError, match="max_body_size"):
        VerifierSource(None, {"max_body_size": -1})
    with pytest.raises(ConfigurationError, match="tolerance"):
        VerifierSource(None, {"tolerance": "soon"})


def test_secret_revoked_in_place_is_no_longer_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A settings list changed in place (a secret revoked) rebuilds the verifier."""
    monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
    configured = ["whsec_old_secret", "whsec_new_secret"]
    source = VerifierSource(None, {}, lambda: configured)
    source.get().verify(b"b", sign(b"b", "whsec_old_secret"))
    configured.remove("whsec_old_secret")
    with pytest.raises(InvalidSignatureError):
        source.get().verify(b"b", sign(b"b", "whsec_old_secret"))
    source.get().verify(b"b", sign(b"b", "whsec_new_secret"))


def test_mapping_setting_changed_in_place_rebuilds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same holds for a mapping whose list of secrets changes in place."""
    monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
    configured: dict[str, list[str]] = {"new_lead": ["whsec_old_secret", "whsec_new_secret"]}
    source = VerifierSource(None, {}, lambda: configured)
    source.get().verify(b"b", sign(b"b", "whsec_old_secret"))
    configured["new_lead"].pop(0)
    with pytest.raises(InvalidSignatureError):
        source.get().verify(b"b", sign(b"b", "whsec_old_secret"))
