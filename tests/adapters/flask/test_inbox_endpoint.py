"""``boltcall_webhooks.flask.webhook_view(inbox=...)``: store, answer, then a worker runs it."""

from __future__ import annotations

import logging
import pathlib

import pytest

pytest.importorskip("flask")

from flask import Flask

from boltcall_webhooks.flask import webhook_view
from boltcall_webhooks.inbox import Inbox

from ..contract import SECRET, Reply  # noqa: TID252
from ..inbox_cases import (  # noqa: TID252
    Post,
    broken_inbox,
    check_construction_errors,
    check_non_envelope_is_kept_dead,
    check_refusals_store_nothing,
    check_stored_then_duplicate,
    check_strict_refusal_is_kept_dead,
    check_unavailable,
    check_worker_processes_what_was_stored,
    make_inbox,
)

PATH = "/webhooks/boltcall"
LIMIT = 2048


def _post(inbox: Inbox, *, strict: bool = False) -> Post:
    app = Flask(__name__)
    view = webhook_view(inbox=inbox, secrets=SECRET, max_body_size=LIMIT, strict=strict)
    app.add_url_rule(PATH, view_func=view, methods=["POST"])
    client = app.test_client()

    def post(body: bytes, headers: dict[str, str]) -> Reply:
        response = client.post(PATH, data=body, headers=headers)
        assert response.content_type == "application/json"
        return Reply(response.status_code, response.get_json())

    return post


def test_stored_then_duplicate(tmp_path: pathlib.Path) -> None:
    """200 once committed, with ``duplicate``; the re-send is a duplicate of the same row."""
    inbox = make_inbox(tmp_path)
    check_stored_then_duplicate(_post(inbox), inbox)


def test_an_inbox_that_fails_is_503_and_logged(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that cannot be opened: 503, one ERROR record, never a 200."""
    with caplog.at_level(logging.ERROR, logger="boltcall_webhooks"):
        check_unavailable(_post(broken_inbox(tmp_path)), caplog.records)


def test_refused_deliveries_store_nothing(tmp_path: pathlib.Path) -> None:
    """Forged, unsigned and oversize deliveries are refused before the inbox."""
    inbox = make_inbox(tmp_path)
    check_refusals_store_nothing(_post(inbox), inbox, max_body_size=LIMIT)


def test_a_signed_non_envelope_is_kept_dead_then_400(tmp_path: pathlib.Path) -> None:
    """Genuine but not an envelope: stored dead with its error, answered 400."""
    inbox = make_inbox(tmp_path)
    check_non_envelope_is_kept_dead(_post(inbox), inbox)


def test_a_strict_refusal_is_kept_dead_then_400(tmp_path: pathlib.Path) -> None:
    """``strict=True``: a wrong-typed field is refused 400 and kept dead, never run."""
    inbox = make_inbox(tmp_path)
    check_strict_refusal_is_kept_dead(_post(inbox, strict=True), inbox)


def test_a_worker_processes_what_the_view_stored(tmp_path: pathlib.Path) -> None:
    """No handler runs in the request; the worker runs each handler once."""
    inbox = make_inbox(tmp_path)
    check_worker_processes_what_was_stored(_post(inbox), inbox)


def test_construction_errors(tmp_path: pathlib.Path) -> None:
    """``inbox=`` takes an Inbox, and not with ``router=``."""
    check_construction_errors(webhook_view, make_inbox(tmp_path))
