"""What register_task and register_job set up, in-process (no broker contacted)."""

from __future__ import annotations

import importlib
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from boltcall_webhooks import ConfigurationError, Router
from boltcall_webhooks.celery import DEFAULT_TASK_NAME, register_task
from boltcall_webhooks.inbox import Inbox, Relay
from boltcall_webhooks.rq import register_job


@pytest.fixture
def inbox(tmp_path: pathlib.Path) -> Iterator[Inbox]:
    made = Inbox(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    yield made
    made.close()


def test_celery_task_has_the_queue_retries_and_late_acks_off(inbox: Inbox) -> None:
    """The inbox decides retries and who runs a delivery; the task says so in its options."""
    app = Celery("registration", broker="memory://")
    task = register_task(app, inbox=inbox, router=Router())
    assert task.name == DEFAULT_TASK_NAME
    assert app.tasks[DEFAULT_TASK_NAME] is task
    assert task.acks_late is False
    assert task.reject_on_worker_lost is False
    assert task.max_retries == 0
    assert task.ignore_result is True
    assert not getattr(task, "autoretry_for", ())
    assert isinstance(task.relay, Relay)
    assert task.run(10_000) is False  # an unknown id: a stale message does nothing


class FakeQueue:
    """Records enqueue calls like ``rq.Queue.enqueue``."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def enqueue(self, func: str, *args: Any, **options: Any) -> None:
        self.calls.append((func, args, options))


def test_rq_job_is_named_after_its_module_attribute(
    inbox: Inbox, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs name ``<module>.<attr>.run``, found where register_job was called; retries off."""
    (tmp_path / "rq_target.py").write_text(
        "from boltcall_webhooks import Router\n"
        "from boltcall_webhooks.rq import register_job\n"
        "from test_registration_support import INBOX, QUEUE\n"
        "process_delivery = register_job(QUEUE, inbox=INBOX, router=Router())\n"
    )
    support = type(sys)("test_registration_support")
    support.INBOX = inbox  # type: ignore[attr-defined]
    support.QUEUE = FakeQueue()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "test_registration_support", support)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("rq_target")
    try:
        module.process_delivery.enqueue(7)
        assert support.QUEUE.calls == [  # type: ignore[attr-defined]
            ("rq_target.process_delivery.run", (7,), {"retry": None, "result_ttl": 0})
        ]
    finally:
        sys.modules.pop("rq_target", None)


def test_rq_job_outside_a_module_needs_a_name(inbox: Inbox) -> None:
    """A job made where no module-level name holds it cannot be imported by workers: say so."""
    queue = FakeQueue()
    job = register_job(queue, inbox=inbox, router=Router())  # a local: no module attribute
    with pytest.raises(ConfigurationError, match="assign register_job"):
        job.enqueue(1)
    named = register_job(queue, inbox=inbox, router=Router(), name="myapp.jobs:process")
    named.enqueue(2)
    assert queue.calls[-1][0] == "myapp.jobs.process.run"
