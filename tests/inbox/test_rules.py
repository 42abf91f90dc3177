"""The inbox's rules on their own: backoff, URLs, redaction, options, crash points."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from datetime import timedelta

import pytest

from boltcall_webhooks import ConfigurationError
from boltcall_webhooks.inbox import Inbox, exponential_backoff
from boltcall_webhooks.inbox._crash import CRASH_POINTS
from boltcall_webhooks.inbox._rules import redact_url, resolve_backoff, sqlite_path


def test_backoff_is_full_jitter_below_an_exponential_ceiling() -> None:
    assert exponential_backoff(1, rand=lambda: 0.999999) == pytest.approx(10, rel=1e-3)
    assert exponential_backoff(2, rand=lambda: 0.5) == 10
    assert exponential_backoff(1, rand=lambda: 0.0) == 0
    ceilings = [exponential_backoff(n, rand=lambda: 1.0) for n in range(1, 20)]
    assert ceilings[:5] == [10, 20, 40, 80, 160]
    assert max(ceilings) == 3600  # capped at one hour
    assert exponential_backoff(10_000, rand=lambda: 1.0) == 3600
    samples = [exponential_backoff(3) for _ in range(2000)]
    assert all(0 <= s <= 40 for s in samples)
    assert 15 < sum(samples) / len(samples) < 25  # uniform: mean ~20


def test_a_backoff_callable_is_checked() -> None:
    assert resolve_backoff(lambda attempt: attempt * 2.0)(3) == 6.0
    with pytest.raises(ValueError, match=">= 0"):
        resolve_backoff(lambda attempt: -1.0)(1)
    with pytest.raises(ValueError, match=">= 0"):
        resolve_backoff(lambda attempt: float("nan"))(1)
    with pytest.raises(ConfigurationError):
        resolve_backoff(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///inbox.sqlite3", "inbox.sqlite3"),
        ("sqlite:///data/inbox.sqlite3", "data/inbox.sqlite3"),
        ("sqlite:////var/lib/app/inbox.sqlite3", "/var/lib/app/inbox.sqlite3"),
    ],
)
def test_sqlite_urls_read_as_sqlalchemy_reads_them(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///x.db?mode=ro", "sqlite:x"]
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Inbox(url)


def test_a_relative_url_is_relative_to_the_working_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Inbox("sqlite:///rel.sqlite3").migrate()
    assert (tmp_path / "rel.sqlite3").exists()


def test_the_url_comes_from_the_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOLTCALL_INBOX_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    assert Inbox().url.endswith("env.sqlite3")
    monkeypatch.delenv("BOLTCALL_INBOX_URL")
    with pytest.raises(ConfigurationError, match="BOLTCALL_INBOX_URL"):
        Inbox()


def test_unknown_scheme() -> None:
    with pytest.raises(ConfigurationError, match="unknown inbox URL scheme") as info:
        Inbox("mysql://root:hunter2@db/app")
    assert "hunter2" not in str(info.value)


def test_passwords_are_redacted() -> None:
    assert redact_url("postgresql://app:s3cr3t@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert redact_url("postgresql://app@db/app") == "postgresql://app@db/app"
    assert redact_url("sqlite:////x.sqlite3") == "sqlite:////x.sqlite3"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"lease": 0}, "lease"),
        ({"lease": "long"}, "lease"),
        ({"keep_bodies": timedelta(0)}, "keep_bodies"),
        ({"keep_keys": float("inf")}, "keep_keys"),
        ({"dedupe": "headers"}, "dedupe"),
        ({"clock": 5}, "clock"),
        ({"poll_interval": -1}, "poll_interval"),
    ],
)
def test_bad_inbox_options(
    tmp_path: pathlib.Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Inbox(f"sqlite:///{tmp_path / 'x.sqlite3'}", **options)  # type: ignore[arg-type]


def test_a_crash_point_kills_the_process_only_when_asked(tmp_path: pathlib.Path) -> None:
    code = (
        "from boltcall_webhooks.inbox._crash import crash_point as c;"
        " c('after_claim'); c('after_claim'); print('alive')"
    )
    quiet = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "BOLTCALL_INBOX_CRASH_AT"},
    )
    assert (quiet.returncode, quiet.stdout) == (0, "alive\n")
    for setting, expected in (
        ("after_claim", -signal.SIGKILL),
        ("after_claim:3", 0),
        ("after_handler", 0),
    ):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            check=False,
            env={**os.environ, "BOLTCALL_INBOX_CRASH_AT": setting},
        )
        assert result.returncode == expected, setting
    assert "during_purge" in CRASH_POINTS
