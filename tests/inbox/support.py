"""Helpers shared by the inbox tests (bodies, backends, a ledger written by handlers)."""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from boltcall_webhooks.testing._samples import encode_body, sample_payload

HERE = pathlib.Path(__file__).resolve().parent
PROC = HERE / "proc.py"
TIMEOUT = 60
OPTIONS_ENV = "BOLTCALL_TEST_INBOX_OPTIONS"
LEDGER_SQL = "CREATE TABLE IF NOT EXISTS ledger (key TEXT NOT NULL, handler TEXT NOT NULL)"


def lead_body(number: int, *, event: str = "new_lead", spaced: bool = False) -> bytes:
    """A genuine-looking envelope whose dedupe key is unique per ``number``."""
    payload = sample_payload(event, id=f"lead_{number:06d}")
    if spaced:  # the same event, serialised differently (a dashboard re-send)
        return json.dumps(payload, indent=2).encode()
    return encode_body(payload)


@dataclass
class Setup:
    """One backend's database for one test.

    Attributes:
        url: The inbox URL.
        options: Backend keyword options for ``Inbox(url, **options)``.
        query: Runs one SQL statement on that database (autocommit), returns the rows.
        placeholder: The driver's parameter marker (``?`` or ``%s``).
    """

    url: str
    options: dict[str, Any] = field(default_factory=dict[str, Any])
    query: Callable[..., list[tuple[Any, ...]]] = lambda *_: []
    placeholder: str = "?"

    def ledger_insert(self, connection: Any, key: str, handler: str) -> None:
        """Write one ledger row through ``connection`` (``delivery.connection``)."""
        mark = self.placeholder
        connection.execute(
            f"INSERT INTO ledger (key, handler) VALUES ({mark}, {mark})", (key, handler)
        )

    def env(self) -> dict[str, str]:
        """Environment for a child process (``proc.py``) to open the same inbox."""
        return {OPTIONS_ENV: json.dumps(self.options)}


@contextmanager
def sqlite_backend(tmp: pathlib.Path) -> Iterator[Setup]:
    """A fresh SQLite inbox file."""
    path = tmp / "inbox.sqlite3"

    def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as conn:
            return conn.execute(sql, params).fetchall()

    yield Setup(url=f"sqlite:///{path}", query=query)


#: Backends the contract tests run against: name -> factory(tmp_path) giving a Setup.
#: Add a backend with one line here.
BACKENDS: dict[str, Callable[[pathlib.Path], Any]] = {
    "sqlite": sqlite_backend,
}


def run_proc(*args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT) -> str:
    """Run ``proc.py`` in a fresh interpreter; return its stdout (fails on a non-zero exit)."""
    result = subprocess.run(
        [sys.executable, str(PROC), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_proc(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``proc.py`` in a fresh interpreter (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, str(PROC), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
