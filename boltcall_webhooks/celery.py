"""Run the inbox's handlers in Celery workers (``pip install "boltcall-webhooks[celery]"``).

::

    # myapp/webhooks.py: imported by the web app and by the Celery worker
    from celery import Celery
    from boltcall_webhooks import Router
    from boltcall_webhooks.celery import register_task
    from boltcall_webhooks.inbox import Inbox

    app = Celery("myapp", broker="amqp://guest@127.0.0.1//")
    router = Router()
    inbox = Inbox("postgresql://app@db/app")
    process_delivery = register_task(app, inbox=inbox, router=router)

The web endpoint stays ``webhook_view(inbox=inbox)``: every delivery is committed
before its 200, then its id is handed to Celery by a thread of the web process.
``celery -A myapp.webhooks worker`` runs the handlers;
``boltcall-webhooks inbox relay --to myapp.webhooks:process_delivery`` hands off
again what Celery lost. The inbox is the source of truth (a transactional outbox):
Celery's own retries and late acks are off, the inbox's leases, fencing and backoff
rule. See ``docs/task-queues.md``.
"""

from __future__ import annotations

from typing import Any

from boltcall_webhooks.inbox import Inbox, Relay, run_delivery
from boltcall_webhooks.inbox._worker import RouterLike

__all__ = ["DEFAULT_TASK_NAME", "register_task"]

DEFAULT_TASK_NAME = "boltcall_webhooks.run_delivery"
"""The name the task is registered under (one inbox per Celery app by default)."""


def register_task(
    app: Any,
    *,
    inbox: Inbox,
    router: RouterLike,
    name: str = DEFAULT_TASK_NAME,
    queue: str | None = None,
    grace: float = 30.0,
    interval: float = 5.0,
) -> Any:
    """Register the task that runs deliveries of ``inbox`` with ``app``, and relay to it.

    The task takes a delivery id, claims that delivery with the inbox's lease and
    fencing, runs the handlers of ``router`` that have not yet succeeded and marks
    each success (:func:`boltcall_webhooks.inbox.run_delivery`); a duplicate or
    stale message does nothing. It is registered with ``acks_late=False`` (the
    message is acknowledged on receipt: the inbox's lease, not the broker, decides
    who runs a delivery), ``max_retries=0`` and no ``autoretry_for`` (the inbox's
    backoff decides when to retry), and ignores its result.

    Every ``pending`` delivery stored through ``inbox`` in this process is then
    handed to the task after its commit, by a thread (``task.apply_async``: the
    request never waits for the broker; while it is down the ids wait and the
    stores still succeed).

    Args:
        app: The ``celery.Celery`` application.
        inbox: The inbox the web endpoint stores into.
        router: The :class:`boltcall_webhooks.Router` whose handlers run.
        name: The task's name.
        queue: The Celery queue to send to (``None``: the app's routing).
        grace: Seconds a delivery may wait unclaimed before the relay loop hands
            it off again (see :class:`~boltcall_webhooks.inbox.Relay`).
        interval: Seconds between two passes of the relay loop.

    Returns:
        The Celery task. ``task.relay`` is its
        :class:`~boltcall_webhooks.inbox.Relay`; ``boltcall-webhooks inbox relay
        --to MODULE:ATTR`` runs its loop.
    """

    def run(delivery_id: int) -> bool:
        return run_delivery(inbox, router, delivery_id)

    run.__name__ = run.__qualname__ = "run_delivery"
    run.__doc__ = f"Run delivery ``delivery_id`` of {inbox!r} (boltcall-webhooks)."
    task = app.task(
        name=name,
        shared=False,
        lazy=False,
        acks_late=False,
        reject_on_worker_lost=False,
        max_retries=0,
        autoretry_for=(),
        ignore_result=True,
    )(run)
    options: dict[str, Any] = {"retry": False}
    if queue is not None:
        options["queue"] = queue

    def send(delivery_id: int) -> None:
        task.apply_async((delivery_id,), **options)

    task.relay = Relay(inbox, send, grace=grace, interval=interval, name=f"Celery task {name}")
    return task
