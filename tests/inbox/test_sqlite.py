"""What only the SQLite backend promises: pragmas, schema version, group commit."""

from __future__ import annotations

import pathlib
import sqlite3
import threading
from contextlib import closing

import pytest

from boltcall_webhooks import ConfigurationError
from boltcall_webhooks.inbox import Inbox, InboxError
from boltcall_webhooks.inbox._sqlite import SCHEMA_VERSION, SQLiteBackend

from .support import lead_body


def _inbox(tmp_path: pathlib.Path, **options: object) -> Inbox:
    return Inbox(f"sqlite:///{tmp_path / 'inbox.sqlite3'}", **options)  # type: ignore[arg-type]


def test_wal_synchronous_full_and_busy_timeout(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path, busy_timeout=2.5)
    inbox.store(lead_body(1))
    backend = inbox.backend
    assert isinstance(backend, SQLiteBackend)
    conn = backend._connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    normal = _inbox(tmp_path, synchronous="normal")
    normal.stats()
    assert normal.backend._connect().execute("PRAGMA synchronous").fetchone()[0] == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"synchronous": "sometimes"}, "synchronous must be one of"),
        ({"busy_timeout": "soon"}, "busy_timeout must be a number"),
        ({"busy_timeout": -1}, "busy_timeout must be >= 0"),
        ({"pool_size": 3}, "unknown SQLite inbox option"),
    ],
)
def test_bad_options(tmp_path: pathlib.Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _inbox(tmp_path, **options)


def test_schema_version_and_migrate_is_idempotent(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    inbox.migrate()
    inbox.migrate()
    _inbox(tmp_path).migrate()
    with closing(sqlite3.connect(tmp_path / "inbox.sqlite3")) as conn:
        assert conn.execute("SELECT version FROM boltcall_inbox_schema").fetchall() == [
            (SCHEMA_VERSION,)
        ]


def test_a_newer_schema_is_refused(tmp_path: pathlib.Path) -> None:
    _inbox(tmp_path).migrate()
    with closing(sqlite3.connect(tmp_path / "inbox.sqlite3")) as conn:
        conn.execute("UPDATE boltcall_inbox_schema SET version = 99")
        conn.commit()
    with pytest.raises(InboxError, match="schema version 99, newer"):
        _inbox(tmp_path).stats()


def test_an_unusable_file_is_an_inbox_error_without_secrets(tmp_path: pathlib.Path) -> None:
    (tmp_path / "inbox.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(InboxError) as info:
        _inbox(tmp_path).store(lead_body(1))
    assert "lead_000001" not in str(info.value)


def test_the_schema_sql_ships_as_package_data() -> None:
    from importlib import resources

    text = resources.files("boltcall_webhooks.inbox.sql").joinpath("sqlite_schema.sql")
    assert "boltcall_inbox_deliveries" in text.read_text(encoding="utf-8")


def test_group_commit_shares_commits_between_concurrent_stores(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    inbox.migrate()
    backend = inbox.backend
    assert isinstance(backend, SQLiteBackend)
    threads, per_thread = 32, 10
    barrier = threading.Barrier(threads)
    results: list[int] = []
    lock = threading.Lock()

    def store(worker: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            stored = inbox.store(lead_body(worker * 1000 + n))
            with lock:
                results.append(stored.id)

    pool = [threading.Thread(target=store, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    total = threads * per_thread
    assert len(set(results)) == total  # each store got its own row and result
    assert inbox.stats()["pending"] == total
    # One commit per store would be `total`; batching must at least halve it.
    assert backend.store_commits <= total // 2, backend.store_commits


def test_one_bad_row_in_a_batch_fails_alone(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    inbox.migrate()
    backend = inbox.backend
    assert isinstance(backend, SQLiteBackend)
    from boltcall_webhooks.inbox._backend import NewDelivery
    from boltcall_webhooks.inbox._sqlite import _Waiter

    good = _Waiter(NewDelivery(key="good", event_type="x", body=b"{}", received_at=1.0))
    bad = _Waiter(NewDelivery(key=None, event_type="x", body=b"{}", received_at=1.0))  # type: ignore[arg-type]
    backend._commit_batch([good, bad])
    assert good.result is not None
    assert good.error is None
    assert isinstance(bad.error, InboxError)
    assert inbox.stats()["pending"] == 1


def test_each_process_and_thread_gets_its_own_connection(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    backend = inbox.backend
    assert isinstance(backend, SQLiteBackend)
    mine = backend._connect()
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(backend._connect()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    inbox.close()
    assert backend._connect() is not mine
