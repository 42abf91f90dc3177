"""Helpers of the task-queue tests: backends, bodies, brokers and worker processes."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from boltcall_webhooks.testing._samples import encode_body, sample_payload

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REDIS_PORT = 6379
RABBITMQ_PORT = 5672
QUICK = os.environ.get("BOLTCALL_QUEUES_FULL", "") == ""


def lead_body(number: int) -> bytes:
    """A genuine-looking envelope whose dedupe key is unique per ``number``."""
    return encode_body(sample_payload("new_lead", id=f"lead_{number:06d}"))


@dataclass
class Setup:
    """One backend's database for one test: the inbox URL and a query function."""

    url: str
    query: Callable[..., list[tuple[Any, ...]]]
    name: str


@contextmanager
def sqlite_backend(tmp: pathlib.Path) -> Iterator[Setup]:
    """A fresh SQLite inbox file."""
    path = tmp / "inbox.sqlite3"

    def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as conn:
            return conn.execute(sql, params).fetchall()

    yield Setup(url=f"sqlite:///{path}", query=query, name="sqlite")


@contextmanager
def postgres_backend(_tmp: pathlib.Path) -> Iterator[Setup]:
    """A fresh PostgreSQL schema (the inbox suite's helper: skipped, or failed in CI)."""
    from inbox.postgres_setup import fresh_schema, require_postgres, server_url

    with fresh_schema("bq") as (schema, url):
        psycopg = require_postgres()

        def query(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            with psycopg.connect(server_url(), autocommit=True) as conn:
                conn.execute(f'SET search_path = "{schema}", public')
                cursor = conn.execute(statement.replace("?", "%s"), params)
                return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        yield Setup(url=url, query=query, name="postgresql")


BACKENDS: dict[str, Callable[[pathlib.Path], Any]] = {
    "sqlite": sqlite_backend,
    "postgresql": postgres_backend,
}


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def python_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a child process: this Python's path plus tests/queues."""
    env = dict(os.environ)
    paths = [str(HERE), str(HERE.parent)]
    if "BOLTCALL_EXPECT_INSTALLED" not in env:
        paths.append(str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def bin_path(name: str) -> str:
    """A console script installed beside this Python (celery, rq, dramatiq)."""
    candidate = pathlib.Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
