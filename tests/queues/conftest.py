"""Fixtures of the task-queue tests: inboxes on each backend, and the brokers."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from boltcall_webhooks.inbox import Inbox
from boltcall_webhooks.testing import FixedClock

from .support import BACKENDS, Setup


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Setup]:
    """A fresh database of each inbox backend (SQLite file, PostgreSQL schema)."""
    with BACKENDS[request.param](tmp_path) as setup:
        yield setup


@pytest.fixture
def clock() -> FixedClock:
    """A clock the test moves by hand."""
    return FixedClock("2030-01-01T00:00:00Z")


@pytest.fixture
def make_inbox(backend: Setup, clock: FixedClock) -> Iterator[Callable[..., Inbox]]:
    """``make_inbox(**options)``: an Inbox on the test's database, on the fixed clock."""
    made: list[Inbox] = []

    def make(**options: Any) -> Inbox:
        options.setdefault("clock", clock)
        inbox = Inbox(backend.url, **options)
        made.append(inbox)
        return inbox

    yield make
    for inbox in made:
        inbox.close()
