"""Run the inbox's handlers in RQ workers (``pip install "boltcall-webhooks[rq]"``).

::

    # myapp/webhooks.py: imported by the web app; RQ workers import it by name
    from redis import Redis
    from rq import Queue
    from boltcall_webhooks import Router
    from boltcall_webhooks.inbox import Inbox
    from boltcall_webhooks.rq import register_job

    router = Router()
    inbox = Inbox("postgresql://app@db/app")
    queue = Queue("webhooks", connection=Redis())
    process_delivery = register_job(queue, inbox=inbox, router=router)

The web endpoint stays ``webhook_view(inbox=inbox)``: every delivery is committed
before its 200, then its id is enqueued by a thread of the web process as a job
``myapp.webhooks.process_delivery.run(delivery_id)``, which ``rq worker webhooks``
runs. ``boltcall-webhooks inbox relay --to myapp.webhooks:process_delivery`` hands
off again what RQ lost. RQ's retries are off; the inbox's leases, fencing and
backoff rule. See ``docs/task-queues.md``.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks.inbox import Inbox, Relay, run_delivery
from boltcall_webhooks.inbox._worker import RouterLike

__all__ = ["DeliveryJob", "register_job"]


class DeliveryJob:
    """The job that runs deliveries of one inbox in RQ workers (:func:`register_job`).

    Attributes:
        queue: The ``rq.Queue`` jobs go to.
        inbox: The inbox.
        router: The router whose handlers run.
        relay: The :class:`~boltcall_webhooks.inbox.Relay` that enqueues.
    """

    def __init__(
        self,
        queue: Any,
        *,
        inbox: Inbox,
        router: RouterLike,
        module: str,
        name: str | None,
        grace: float,
        interval: float,
        job_options: dict[str, Any],
    ) -> None:
        self.queue = queue
        self.inbox = inbox
        self.router = router
        self._module = module
        self._name = name
        self._job_options: dict[str, Any] = {"retry": None, "result_ttl": 0, **job_options}
        self.relay: Relay = Relay(
            inbox, self.enqueue, grace=grace, interval=interval, name=f"RQ queue {queue.name}"
        )

    def __repr__(self) -> str:
        return f"<DeliveryJob {self.inbox!r} -> RQ queue {self.queue.name}>"

    def run(self, delivery_id: int) -> bool:
        """The job's body, in the RQ worker: :func:`~boltcall_webhooks.inbox.run_delivery`."""
        return run_delivery(self.inbox, self.router, delivery_id)

    @property
    def function_name(self) -> str:
        """The dotted name RQ imports the job's function by (``module.attr.run``)."""
        if self._name is None:
            self._name = self._find_name()
        module, _, attr = self._name.partition(":")
        return f"{module}.{attr}.run"

    def _find_name(self) -> str:
        module = sys.modules.get(self._module) if self._module != "__main__" else None
        names = [] if module is None else [n for n, v in vars(module).items() if v is self]
        if not names:
            msg = (
                "RQ workers import the job by name: assign register_job(...) to a name at "
                "the top of an importable module, or pass name='package.module:attr'"
            )
            raise ConfigurationError(msg)
        return f"{self._module}:{names[0]}"

    def enqueue(self, delivery_id: int) -> Any:
        """Enqueue the job for ``delivery_id`` (what the relay calls); return the RQ job."""
        return self.queue.enqueue(self.function_name, delivery_id, **self._job_options)


def register_job(
    queue: Any,
    *,
    inbox: Inbox,
    router: RouterLike,
    name: str | None = None,
    grace: float = 30.0,
    interval: float = 5.0,
    **job_options: Any,
) -> DeliveryJob:
    """Make the job that runs deliveries of ``inbox`` on ``queue``, and relay to it.

    The job takes a delivery id, claims that delivery with the inbox's lease and
    fencing, runs the handlers of ``router`` that have not yet succeeded and marks
    each success (:func:`boltcall_webhooks.inbox.run_delivery`); a duplicate or
    stale job does nothing. Jobs are enqueued with ``retry=None`` (the inbox's
    backoff decides when to retry) and ``result_ttl=0``.

    Every ``pending`` delivery stored through ``inbox`` in this process is then
    enqueued after its commit, by a thread (the request never waits for Redis;
    while it is down the ids wait and the stores still succeed).

    Assign the result to a module-level name of a module the RQ worker can import:
    jobs name their function ``<module>.<name>.run``.

    Args:
        queue: The ``rq.Queue``.
        inbox: The inbox the web endpoint stores into.
        router: The :class:`boltcall_webhooks.Router` whose handlers run.
        name: ``"package.module:attr"`` of the result (default: found in the
            calling module at the first enqueue).
        grace: Seconds a delivery may wait unclaimed before the relay loop hands
            it off again (see :class:`~boltcall_webhooks.inbox.Relay`).
        interval: Seconds between two passes of the relay loop.
        **job_options: More ``Queue.enqueue`` options (``job_timeout``,
            ``failure_ttl``...).

    Returns:
        The :class:`DeliveryJob`; ``boltcall-webhooks inbox relay --to
        MODULE:ATTR`` runs its relay loop.
    """
    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    module = str(caller.f_globals.get("__name__", "")) if caller is not None else ""
    return DeliveryJob(
        queue,
        inbox=inbox,
        router=router,
        module=module,
        name=name,
        grace=grace,
        interval=interval,
        job_options=job_options,
    )
