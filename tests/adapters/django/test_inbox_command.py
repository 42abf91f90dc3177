"""``manage.py boltcall_inbox``, run as a real command in a child process."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from inbox.support import lead_body

from boltcall_webhooks.inbox import DeliveryState, Inbox

from .inbox_db import TESTS, django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures

ROUTER = "adapters.django.inbox_hooks.router"
TIMEOUT = 60


def command_env(**extra: str) -> dict[str, str]:
    """The environment of a ``manage.py`` child: the same settings and database."""
    user = User.objects.get_or_create(username="ledger")[0]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "BOLTCALL_TEST_LEDGER_USER": str(user.pk),
        **extra,
    }


def manage(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m django boltcall_inbox ARGS`` (what ``manage.py`` runs)."""
    return subprocess.run(
        [sys.executable, "-m", "django", "boltcall_inbox", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=command_env(**extra),
        check=False,
    )


@pytest.fixture
def inbox(inbox_db: None) -> Iterator[Inbox]:
    """``Inbox("django")`` on empty tables."""
    inbox = Inbox("django")
    yield inbox
    inbox.close()


def test_stats_list_show_replay_and_purge(inbox: Inbox) -> None:
    """The read and repair commands print what the CLI prints and change the inbox."""
    first = inbox.store(lead_body(1))
    dead = inbox.store(b"not json")
    stats = manage("stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {"pending": 1, "processing": 0, "done": 0, "dead": 1}
    listed = manage("list", "--json", "--state", "pending")
    assert [d["id"] for d in json.loads(listed.stdout)] == [first.id]
    shown = manage("show", str(dead.id), "--json", "--body")
    data = json.loads(shown.stdout)
    assert (data["state"], data["body"], data["event_type"]) == ("dead", "not json", None)
    assert "PayloadError" in manage("show", str(dead.id)).stdout
    replayed = manage("replay", "--dead")
    assert replayed.stdout.strip() == "replayed 1 dead deliveries"
    assert inbox.get(dead.id).state is DeliveryState.PENDING
    assert manage("replay", str(first.id)).stdout.strip() == f"replayed {first.id}"
    purged = manage("purge", "--older-than", "30")
    assert (purged.returncode, purged.stdout.strip()) == (0, "removed 0 bodies")


def test_exit_statuses(inbox: Inbox) -> None:
    """1 for a delivery that is not there, 2 for usage and configuration errors."""
    assert manage("show", "4242").returncode == 1
    assert manage("replay", "4242").returncode == 1
    no_router = manage("work", "--once")
    assert no_router.returncode == 2
    assert "BOLTCALL_ROUTER" in no_router.stderr
    assert manage("work", "--once", "--router", "no.such.module.router").returncode == 2
    assert manage("replay").returncode == 2  # neither IDs nor --dead
    assert manage("list", "--state", "nonsense").returncode != 0
    assert manage("stats", "--database", "nope").returncode == 2


def test_work_once_with_a_dotted_router_or_the_setting(inbox: Inbox) -> None:
    """``--router pkg.module.router``, else ``settings.BOLTCALL_ROUTER``: ORM writes commit."""
    one = inbox.store(lead_body(1))
    worked = manage("work", "--once", "--router", ROUTER)
    assert (worked.returncode, worked.stdout.strip()) == (0, "processed 1"), worked.stderr
    two = inbox.store(lead_body(2))
    worked = manage("work", "--once", BOLTCALL_TEST_ROUTER=ROUTER)
    assert (worked.returncode, worked.stdout.strip()) == (0, "processed 1"), worked.stderr
    assert sorted(LogEntry.objects.values_list("object_id", flat=True)) == sorted(
        [str(one.id), str(two.id)]
    )
    assert inbox.stats()["done"] == 2


def test_work_stops_gracefully_on_sigterm(inbox: Inbox, tmp_path: pathlib.Path) -> None:
    """SIGTERM while a handler runs: it finishes, the delivery is done, the exit is 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "boltcall_inbox", "work", "--router", ROUTER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(BOLTCALL_TEST_SLOW_MARKS=str(tmp_path)),
    )
    try:
        stored = inbox.store(lead_body(1))
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the worker never started the handler"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "processed 1"
    assert (tmp_path / "finished").exists()
    delivery = inbox.get(stored.id)
    assert (delivery.state, delivery.attempts) == (DeliveryState.DONE, 1)
    assert inbox.stats()["processing"] == 0
