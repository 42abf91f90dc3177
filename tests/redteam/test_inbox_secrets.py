"""Red team: a PostgreSQL password given as a libpq query parameter never shows.

libpq (and so the PostgreSQL inbox, which passes the URL's other query
parameters through) accepts ``?password=...`` and ``?sslpassword=...``. Before
the fix, only the ``user:password@`` form was redacted: ``repr(inbox)``,
``inbox.url`` and every message built from them showed the password.
"""

from __future__ import annotations

import pytest

from boltcall_webhooks import ConfigurationError
from boltcall_webhooks.inbox import Inbox
from boltcall_webhooks.inbox._rules import redact_url

PASSWORD = "hunter2-redteam"

URLS = [
    f"postgresql://app@127.0.0.1:5432/app?password={PASSWORD}",
    f"postgresql://app@127.0.0.1:5432/app?sslmode=disable&password={PASSWORD}&schema=rt",
    f"postgresql:///app?host=/tmp&pass%77ord={PASSWORD}",
    f"postgresql://app@db/app?sslpassword={PASSWORD}",
    f"postgresql://app:{PASSWORD}@db/app?password={PASSWORD}",
]


@pytest.mark.parametrize("url", URLS)
def test_redact_url_hides_query_passwords(url: str) -> None:
    shown = redact_url(url)
    assert PASSWORD not in shown
    assert "***" in shown
    assert shown.startswith(url.split("?", 1)[0].replace(PASSWORD, "***"))


def test_other_query_parameters_and_urls_are_left_alone() -> None:
    url = "postgresql:///app?host=/tmp&sslmode=require&schema=rt#x"
    assert redact_url(url) == url
    assert redact_url("sqlite:////var/lib/app/inbox.sqlite3") == (
        "sqlite:////var/lib/app/inbox.sqlite3"
    )


@pytest.mark.parametrize("url", URLS[:2])
def test_an_inbox_never_shows_a_query_password(url: str) -> None:
    refused: list[str] = []
    try:
        inbox = Inbox(url)  # nothing is opened until first use
    except ConfigurationError as error:  # the [postgres] extra is not installed here
        refused.append(str(error))
    if refused:
        assert PASSWORD not in refused[0]
        return
    try:
        assert PASSWORD not in repr(inbox)
        assert PASSWORD not in inbox.url
        assert PASSWORD not in repr(inbox.backend)
    finally:
        inbox.close()
