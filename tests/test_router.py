"""Router: registration rules, dispatch order, failures, sync/async handlers, deliveries."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

from boltcall_webhooks import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    DispatchError,
    Event,
    EventType,
    Handler,
    Lead,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    Router,
    UnknownEvent,
    WebhookError,
    parse_event,
)
from boltcall_webhooks._delivery import Delivery, DeliveryState, event_key
from boltcall_webhooks.testing import (
    appointment_booked_event,
    call_completed_event,
    make_event,
    missed_call_event,
    new_lead_event,
    review_received_event,
)

LEAD = new_lead_event(name="Ada Lovelace", phone="+15550100")
MISSED = missed_call_event()
BOOKED = appointment_booked_event()
COMPLETED = call_completed_event()
REVIEW = review_received_event()
INVOICE = make_event("invoice_paid")
REFUND = make_event("refund_issued")
EVERY_EVENT: list[Event] = [LEAD, MISSED, BOOKED, COMPLETED, REVIEW, INVOICE, REFUND]


def broken_new_lead() -> Event:
    """A verified new_lead without a string data.id: lenient parsing makes it UnknownEvent."""
    stamp = "2025-03-20T09:17:22Z"
    return parse_event({"event": "new_lead", "timestamp": stamp, "data": {"name": "x"}})


class Recorder:
    """Collects what handlers saw, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def handler(self, label: str) -> Callable[[Event], None]:
        def handle(event: Event) -> None:
            self.calls.append((label, event))

        handle.__qualname__ = f"handle_{label}"
        return handle

    def labels(self) -> list[str]:
        return [label for label, _ in self.calls]


def names(handlers: list[Handler]) -> list[str]:
    return [handler.name for handler in handlers]


# Registration --------------------------------------------------------------------


class TestRegistration:
    def test_decorator_returns_the_function_itself(self) -> None:
        """The decorated function is the same object and still callable as a plain function."""
        router = Router()
        seen: list[Event] = []

        def add_lead(event: NewLeadEvent) -> str:
            seen.append(event)
            return "called"

        assert router.on(NewLeadEvent)(add_lead) is add_lead
        assert add_lead(LEAD) == "called"

        def audit(event: Event) -> None: ...

        assert router.on_any(audit) is audit
        assert router.on_any(name="audit-2")(audit) is audit
        assert router.on("invoice_paid", name="later")(add_lead) is add_lead

    @pytest.mark.parametrize(
        "kinds",
        [
            (),
            (object,),
            (42,),
            (None,),
            (Lead,),  # a resource, not an event
            (dict,),
            (NewLeadEvent, 42),
            (b"new_lead",),
            (NewLeadEvent(timestamp=LEAD.timestamp, data=LEAD.data, raw=LEAD.raw),),
        ],
    )
    def test_on_with_nothing_or_anything_else_is_a_type_error(
        self, kinds: tuple[Any, ...]
    ) -> None:
        """on() refuses at registration, before any function is decorated."""
        router = Router()
        with pytest.raises(TypeError, match="on\\(\\)"):
            router.on(*kinds)
        assert router.handlers_for(LEAD) == []

    def test_the_type_error_does_not_show_the_object(self) -> None:
        """An event given to on() by mistake: the message names its class, not its data."""
        with pytest.raises(TypeError) as caught:
            Router().on(LEAD)  # type: ignore[call-overload]
        assert "a NewLeadEvent object" in str(caught.value)
        assert "Ada" not in str(caught.value)
        with pytest.raises(TypeError, match=r"not Lead$"):
            Router().on(Lead)  # type: ignore[call-overload]

    def test_the_event_union_points_to_on_any(self) -> None:
        """on(Event) is a TypeError whose message suggests on_any."""
        with pytest.raises(TypeError, match="on_any"):
            Router().on(Event)  # type: ignore[call-overload]

    @pytest.mark.parametrize("kind", ["new_lead", EventType.NEW_LEAD, NewLeadEvent])
    def test_a_known_type_name_stands_for_its_class(self, kind: Any) -> None:
        """'new_lead', EventType.NEW_LEAD and NewLeadEvent register the same thing."""
        router = Router()
        handler = router.on(kind, name="h")(lambda event: None)
        assert handler is not None
        (registered,) = router.handlers_for(LEAD)
        assert registered.kinds == (NewLeadEvent,)
        assert router.handlers_for(broken_new_lead()) == []

    def test_an_unknown_name_matches_unknown_events_of_that_type_only(self) -> None:
        """on('invoice_paid') runs for an UnknownEvent typed invoice_paid, nothing else."""
        router = Router()
        router.on("invoice_paid", name="invoice")(lambda event: None)
        assert names(router.handlers_for(INVOICE)) == ["invoice"]
        for event in (LEAD, MISSED, BOOKED, COMPLETED, REVIEW, REFUND, broken_new_lead()):
            assert router.handlers_for(event) == []

    def test_unknown_event_class_matches_every_unknown_type(self) -> None:
        """on(UnknownEvent) runs for every UnknownEvent, a known type parsed leniently too."""
        router = Router()
        router.on(UnknownEvent, name="unknown")(lambda event: None)
        for event in (INVOICE, REFUND, broken_new_lead()):
            assert names(router.handlers_for(event)) == ["unknown"]
        for event in (LEAD, MISSED, BOOKED, COMPLETED, REVIEW):
            assert router.handlers_for(event) == []

    def test_an_empty_type_name_is_a_name_like_any_other(self) -> None:
        """An envelope may carry event "" (it parses as UnknownEvent): on("") matches it."""
        router = Router()
        router.on("", name="empty")(lambda event: None)
        empty = parse_event({"event": "", "timestamp": "2025-03-20T09:17:22Z", "data": {}})
        assert names(router.handlers_for(empty)) == ["empty"]
        assert router.handlers_for(INVOICE) == []

    def test_kinds_are_deduplicated(self) -> None:
        """A class given twice (or as class and name) registers once; the handler runs once."""
        router = Router()
        recorder = Recorder()
        router.on(NewLeadEvent, "new_lead", NewLeadEvent, name="once")(recorder.handler("a"))
        (handler,) = router.handlers_for(LEAD)
        assert handler.kinds == (NewLeadEvent,)
        router.dispatch(LEAD)
        assert recorder.labels() == ["a"]

    def test_default_name_is_module_and_qualname(self) -> None:
        """A handler's name is module:qualname unless given."""
        router = Router()

        def add_lead(event: NewLeadEvent) -> None: ...

        router.on(NewLeadEvent)(add_lead)
        router.on(NewLeadEvent, name="crm")(lambda event: None)
        assert names(router.handlers_for(LEAD)) == [
            f"{__name__}:TestRegistration.test_default_name_is_module_and_qualname"
            ".<locals>.add_lead",
            "crm",
        ]

    def test_names_of_methods_partials_and_callable_objects(self) -> None:
        """Bound methods, functools.partial and callable objects get readable names."""

        class Handlers:
            def method(self, event: Event) -> None: ...

            def __call__(self, event: Event) -> None: ...

        def two(event: Event, delivery: Delivery, extra: int = 0) -> None: ...

        router = Router()
        router.on_any(Handlers().method)
        router.on_any(Handlers())
        router.on_any(functools.partial(two, extra=1))
        prefix = f"{__name__}:TestRegistration.test_names_of_methods_partials_and_callable_objects"
        assert names(router.handlers_for(LEAD)) == [
            f"{prefix}.<locals>.Handlers.method",
            f"{prefix}.<locals>.Handlers",
            f"{prefix}.<locals>.two",
        ]

    def test_two_handlers_with_one_name_is_a_value_error(self) -> None:
        """A second handler under a registered name is refused; the first stays alone."""
        router = Router()

        def handler(event: Event) -> None: ...

        router.on(NewLeadEvent)(handler)
        with pytest.raises(ValueError, match="already registered"):
            router.on(MissedCallEvent)(handler)
        router.on(NewLeadEvent, name="crm")(handler)
        with pytest.raises(ValueError, match="'crm' is already registered"):
            router.on_any(name="crm")(lambda event: None)
        assert names(router.handlers_for(LEAD)) == [f"{__name__}:{handler.__qualname__}", "crm"]
        assert router.handlers_for(MISSED) == []

    def test_bad_names(self) -> None:
        """name= must be a non-empty str."""
        router = Router()
        with pytest.raises(TypeError, match="name must be a str"):
            router.on(NewLeadEvent, name=3)  # type: ignore[call-overload]
        with pytest.raises(ValueError, match="cannot be empty"):
            router.on(NewLeadEvent, name="")
        with pytest.raises(TypeError, match="name must be a str"):
            router.on_any(name=b"x")  # type: ignore[call-overload]

    @pytest.mark.parametrize(
        ("func", "takes_delivery"),
        [
            (lambda event: None, False),
            (lambda event=None: None, False),
            (lambda event, delivery: None, True),
            (lambda event, delivery=None: None, True),
            (lambda event, delivery, extra=1: None, True),
            (lambda event, /, delivery: None, True),
            (lambda *args: None, True),
            (lambda event, *args: None, True),
            (lambda event, *, option=1: None, False),
            (lambda event, **kwargs: None, False),
        ],
    )
    def test_handlers_take_event_or_event_and_delivery(
        self, func: Callable[..., None], takes_delivery: bool
    ) -> None:
        """The signature decides, once, whether the handler gets a delivery."""
        router = Router()
        router.on_any(name="h")(func)
        (handler,) = router.handlers_for(LEAD)
        assert handler.takes_delivery is takes_delivery
        assert handler.is_async is False

    @pytest.mark.parametrize(
        "func",
        [
            lambda: None,
            lambda event, delivery, extra: None,
            lambda event, *, key: None,
            lambda **kwargs: None,
        ],
    )
    def test_other_signatures_are_a_type_error_at_registration(
        self, func: Callable[..., None]
    ) -> None:
        """Anything that cannot be called as (event) or (event, delivery) is refused."""
        router = Router()
        with pytest.raises(TypeError, match=r"must take \(event\) or \(event, delivery\)"):
            router.on(NewLeadEvent, name="h")(func)
        with pytest.raises(TypeError, match=r"must take \(event\) or \(event, delivery\)"):
            router.on_any(func)
        assert router.handlers_for(LEAD) == []

    def test_a_non_callable_is_a_type_error(self) -> None:
        """Decorating something that is not callable fails at registration."""
        with pytest.raises(TypeError, match="must be callable"):
            Router().on(NewLeadEvent, name="x")("not a function")  # type: ignore[call-overload]

    def test_async_handlers_are_recognised(self) -> None:
        """async def functions, their partials and objects with an async __call__ are async."""

        async def handler(event: Event, delivery: Delivery) -> None: ...

        class AsyncCallable:
            async def __call__(self, event: Event) -> None: ...

        router = Router()
        router.on_any(handler)
        router.on_any(name="partial")(functools.partial(handler))
        router.on_any(name="object")(AsyncCallable())
        handlers = router.handlers_for(LEAD)
        assert [h.is_async for h in handlers] == [True, True, True]
        assert [h.takes_delivery for h in handlers] == [True, True, False]

    def test_registering_after_dispatch_is_seen_by_the_next_dispatch(self) -> None:
        """The precomputed look-up is rebuilt on every registration."""
        router = Router()
        recorder = Recorder()
        router.on(NewLeadEvent)(recorder.handler("a"))
        router.dispatch(LEAD)
        router.on_any(recorder.handler("b"))
        router.on("invoice_paid")(recorder.handler("c"))
        router.dispatch(LEAD)
        router.dispatch(INVOICE)
        router.dispatch(REFUND)
        assert recorder.labels() == ["a", "a", "b", "b", "c", "b"]

    def test_concurrent_registration_loses_nothing(self) -> None:
        """Eight threads registering 50 handlers each: all 400 are there, in one order."""
        router = Router()
        barrier = threading.Barrier(8)

        def register(thread: int) -> None:
            barrier.wait(timeout=10)
            for index in range(50):
                router.on(NewLeadEvent, name=f"t{thread}-{index}")(lambda event: None)

        threads = [threading.Thread(target=register, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        registered = names(router.handlers_for(LEAD))
        assert sorted(registered) == sorted(f"t{t}-{i}" for t in range(8) for i in range(50))
        for thread in range(8):
            own = [name for name in registered if name.startswith(f"t{thread}-")]
            assert own == [f"t{thread}-{i}" for i in range(50)]

    def test_repr(self) -> None:
        """The router's repr counts handlers; a handler's repr shows name and kinds."""
        router = Router()
        router.on(NewLeadEvent, name="crm")(lambda event: None)
        assert repr(router) == "<Router with 1 handlers>"
        assert repr(router.handlers_for(LEAD)[0]) == (
            "Handler(name='crm', kinds=(<class 'boltcall_webhooks.NewLeadEvent'>,))"
        )


# Which handlers run ------------------------------------------------------------------


class TestDispatch:
    def test_every_matching_handler_runs_in_registration_order(self) -> None:
        """Class, union, name and on_any registrations interleave by registration order."""
        router = Router()
        recorder = Recorder()
        router.on_any(recorder.handler("any1"))
        router.on(NewLeadEvent)(recorder.handler("lead"))
        router.on(MissedCallEvent, CallCompletedEvent)(recorder.handler("calls"))
        router.on("invoice_paid")(recorder.handler("invoice"))
        router.on(UnknownEvent)(recorder.handler("unknown"))
        router.on(NewLeadEvent, "invoice_paid")(recorder.handler("lead_or_invoice"))
        router.on_any(recorder.handler("any2"))
        expected: list[tuple[Event, list[str]]] = [
            (LEAD, ["any1", "lead", "lead_or_invoice", "any2"]),
            (MISSED, ["any1", "calls", "any2"]),
            (BOOKED, ["any1", "any2"]),
            (COMPLETED, ["any1", "calls", "any2"]),
            (REVIEW, ["any1", "any2"]),
            (INVOICE, ["any1", "invoice", "unknown", "lead_or_invoice", "any2"]),
            (REFUND, ["any1", "unknown", "any2"]),
        ]
        for event, labels in expected:
            recorder.calls.clear()
            router.dispatch(event)
            assert recorder.labels() == labels
            assert all(seen is event for _, seen in recorder.calls)
            assert [h.name for h in router.handlers_for(event)] == [
                f"{__name__}:handle_{label}" for label in labels
            ]

    def test_an_event_no_handler_matches_is_fine_and_logged_at_debug(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Nothing runs, nothing is raised; one debug record names the type only."""
        router = Router()
        router.on(MissedCallEvent)(lambda event: pytest.fail("must not run"))
        with caplog.at_level(logging.DEBUG, logger="boltcall_webhooks.router"):
            router.dispatch(LEAD)
            asyncio.run(router.dispatch_async(LEAD))
        records = [r for r in caplog.records if r.name == "boltcall_webhooks.router"]
        assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]
        assert "NewLeadEvent" in records[0].getMessage()
        assert "Ada" not in caplog.text
        assert "5550100" not in caplog.text

    def test_an_empty_router_accepts_every_event(self) -> None:
        """No handler at all: dispatch and dispatch_async do nothing."""
        router = Router()
        for event in EVERY_EVENT:
            router.dispatch(event)
            asyncio.run(router.dispatch_async(event))
            assert router.handlers_for(event) == []

    def test_not_an_event_is_a_type_error(self) -> None:
        """dispatch and handlers_for refuse something that is not an event."""
        router = Router()
        router.on_any(lambda event: None)
        for bad in ({"event": "new_lead"}, "new_lead", None):
            with pytest.raises(TypeError, match="dispatch takes an event"):
                router.dispatch(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="dispatch takes an event"):
                router.handlers_for(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="dispatch takes an event"):
                asyncio.run(router.dispatch_async(bad))  # type: ignore[arg-type]

    def test_an_event_subclass_matches_its_base_class(self) -> None:
        """A subclass of an event class (a user's test double) reaches the base's handlers."""

        class MyLead(NewLeadEvent):
            __slots__ = ()

        router = Router()
        recorder = Recorder()
        router.on(NewLeadEvent)(recorder.handler("lead"))
        router.on(MissedCallEvent)(recorder.handler("missed"))
        router.on_any(recorder.handler("any"))
        mine = MyLead(timestamp=LEAD.timestamp, data=LEAD.data, raw=LEAD.raw)
        router.dispatch(mine)
        assert recorder.labels() == ["lead", "any"]

    def test_handlers_for_returns_a_fresh_list(self) -> None:
        """Changing the returned list does not change the router."""
        router = Router()
        router.on(NewLeadEvent, name="a")(lambda event: None)
        handlers = router.handlers_for(LEAD)
        handlers.clear()
        assert names(router.handlers_for(LEAD)) == ["a"]

    def test_handler_matches_agrees_with_handlers_for(self) -> None:
        """Handler.matches(event) is True exactly for the events it is listed for."""
        router = Router()
        router.on(NewLeadEvent, "invoice_paid", name="a")(lambda event: None)
        router.on(UnknownEvent, name="b")(lambda event: None)
        router.on_any(name="c")(lambda event: None)
        everything = router.handlers_for(INVOICE)
        assert names(everything) == ["a", "b", "c"]
        for event in [*EVERY_EVENT, broken_new_lead()]:
            assert [h for h in everything if h.matches(event)] == router.handlers_for(event)


# Failures ------------------------------------------------------------------------------


class TestFailures:
    def test_every_handler_runs_and_failures_are_aggregated(self) -> None:
        """Three of five handlers fail: all five run, the error lists the three in order."""
        router = Router()
        ran: list[str] = []
        errors = {"first": ValueError("bad lead"), "third": KeyError("x"), "fifth": OSError(5)}

        def make(label: str) -> Callable[[Event], None]:
            def handle(event: Event) -> None:
                ran.append(label)
                if label in errors:
                    raise errors[label]

            return handle

        for label in ("first", "second", "third", "fourth", "fifth"):
            router.on(NewLeadEvent, name=label)(make(label))
        with pytest.raises(DispatchError) as caught:
            router.dispatch(LEAD)
        assert ran == ["first", "second", "third", "fourth", "fifth"]
        error = caught.value
        assert isinstance(error, WebhookError)
        assert error.failures == [(name, errors[name]) for name in ("first", "third", "fifth")]
        assert str(error) == "3 handlers failed: first, third, fifth"
        assert error.__cause__ is errors["first"]
        assert all(exc.__traceback__ is not None for _, exc in error.failures)

    def test_the_message_names_handlers_only(self) -> None:
        """No event data and no exception text in the DispatchError message."""
        router = Router()

        @router.on(NewLeadEvent, name="crm")
        def crm(event: NewLeadEvent) -> None:
            raise RuntimeError(f"cannot save {event.data.name} {event.data.phone}")

        with pytest.raises(DispatchError) as caught:
            router.dispatch(LEAD)
        assert str(caught.value) == "1 handler failed: crm"
        assert "Ada" not in repr(caught.value)

    def test_async_failures_are_aggregated_too(self) -> None:
        """Sync and async failures, in dispatch and dispatch_async, land in one list."""
        router = Router()

        @router.on_any(name="sync")
        def sync(event: Event) -> None:
            raise ValueError("sync")

        @router.on_any(name="async")
        async def async_(event: Event) -> None:
            await asyncio.sleep(0)
            raise ValueError("async")

        for run in (router.dispatch, lambda e: asyncio.run(router.dispatch_async(e))):
            with pytest.raises(DispatchError) as caught:
                run(LEAD)
            assert [(n, str(e)) for n, e in caught.value.failures] == [
                ("sync", "sync"),
                ("async", "async"),
            ]

    def test_base_exceptions_are_not_swallowed(self) -> None:
        """KeyboardInterrupt and SystemExit stop dispatch at once; they are not failures."""
        router = Router()
        ran: list[str] = []

        @router.on_any(name="interrupt")
        def interrupt(event: Event) -> None:
            raise KeyboardInterrupt

        @router.on_any(name="after")
        def after(event: Event) -> None:
            ran.append("after")

        with pytest.raises(KeyboardInterrupt):
            router.dispatch(LEAD)
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(router.dispatch_async(LEAD))
        assert ran == []

    def test_cancelling_dispatch_async_cancels(self) -> None:
        """A cancelled dispatch_async raises CancelledError, not DispatchError."""
        router = Router()
        started = asyncio.Event()
        ran: list[str] = []

        @router.on_any(name="slow")
        async def slow(event: Event) -> None:
            started.set()
            await asyncio.sleep(30)

        @router.on_any(name="after")
        def after(event: Event) -> None:
            ran.append("after")

        async def main() -> None:
            task = asyncio.create_task(router.dispatch_async(LEAD))
            await asyncio.wait_for(started.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert ran == []

    def test_dispatch_error_pickles(self) -> None:
        """A DispatchError survives pickling (a process pool, a task queue) with its failures."""
        error = DispatchError([("crm", ValueError("down")), ("mailer", KeyError("x"))])
        copy = pickle.loads(pickle.dumps(error))
        assert str(copy) == "2 handlers failed: crm, mailer"
        assert [(name, type(exc)) for name, exc in copy.failures] == [
            ("crm", ValueError),
            ("mailer", KeyError),
        ]

    def test_dispatch_error_takes_any_iterable(self) -> None:
        """DispatchError can be built by callers (the inbox worker) from any iterable."""
        error = DispatchError(iter([("a", ValueError("x"))]))
        assert error.failures[0][0] == "a"
        assert str(error) == "1 handler failed: a"


# Sync and async handlers -----------------------------------------------------------------


class TestAsyncHandlers:
    def test_async_handler_in_dispatch_without_a_running_loop(self) -> None:
        """dispatch runs an async handler to completion, in the caller's thread."""
        router = Router()
        seen: list[tuple[int, bool]] = []

        @router.on(NewLeadEvent)
        async def handler(event: NewLeadEvent) -> None:
            await asyncio.sleep(0.001)
            seen.append((threading.get_ident(), asyncio.get_running_loop().is_running()))

        router.dispatch(LEAD)
        assert seen == [(threading.get_ident(), True)]

    def test_async_handler_in_dispatch_with_a_running_loop(self) -> None:
        """Called from async code, dispatch runs the async handler in a helper thread."""
        router = Router()
        request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
        seen: list[tuple[int, str]] = []

        @router.on(NewLeadEvent)
        async def handler(event: NewLeadEvent) -> None:
            await asyncio.sleep(0.001)
            seen.append((threading.get_ident(), request_id.get()))

        async def main() -> int:
            request_id.set("r-1")
            router.dispatch(LEAD)  # sync call from a thread whose loop is running
            return threading.get_ident()

        loop_thread = asyncio.run(main())
        assert len(seen) == 1
        assert seen[0][0] != loop_thread
        assert seen[0][1] == "r-1"  # the caller's context variables are visible

    def test_dispatch_leaves_the_threads_event_loop_alone(self) -> None:
        """A loop set (not running) in the thread is still the current loop afterwards."""
        router = Router()
        router.on_any(name="a")(_async_noop)
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            router.dispatch(LEAD)
            assert asyncio.get_event_loop_policy().get_event_loop() is loop
            assert not loop.is_closed()
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def test_dispatch_closes_its_private_loop_and_leftover_tasks(self) -> None:
        """A task the handler left running is cancelled when the handler's loop closes."""
        router = Router()
        outcome: list[str] = []

        async def background() -> None:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        tasks: list[asyncio.Task[None]] = []

        @router.on_any(name="spawner")
        async def spawner(event: Event) -> None:
            tasks.append(asyncio.get_running_loop().create_task(background()))
            await asyncio.sleep(0)

        router.dispatch(LEAD)
        assert outcome == ["cancelled"]
        assert tasks[0].cancelled()

    def test_a_sync_function_returning_a_coroutine_is_awaited(self) -> None:
        """A wrapper that hides async def still has its coroutine run, never dropped."""
        router = Router()
        done: list[str] = []

        async def real(event: Event) -> None:
            done.append(event.type)

        def wrapper(event: Event) -> Any:
            return real(event)

        router.on_any(wrapper)
        (handler,) = router.handlers_for(LEAD)
        assert handler.is_async is False
        router.dispatch(LEAD)
        asyncio.run(router.dispatch_async(MISSED))
        assert done == ["new_lead", "missed_call"]

    def test_dispatch_async_runs_sync_handlers_off_the_loop(self) -> None:
        """Sync handlers run in worker threads, async ones on the loop, in order."""
        router = Router()
        seen: list[tuple[str, int]] = []

        @router.on_any(name="sync")
        def sync(event: Event) -> None:
            seen.append(("sync", threading.get_ident()))

        @router.on_any(name="async")
        async def async_(event: Event) -> None:
            seen.append(("async", threading.get_ident()))

        @router.on_any(name="sync-2")
        def sync_2(event: Event) -> None:
            seen.append(("sync-2", threading.get_ident()))

        async def main() -> int:
            await router.dispatch_async(LEAD)
            return threading.get_ident()

        loop_thread = asyncio.run(main())
        assert [label for label, _ in seen] == ["sync", "async", "sync-2"]
        assert dict(seen)["async"] == loop_thread
        assert dict(seen)["sync"] != loop_thread
        assert dict(seen)["sync-2"] != loop_thread

    def test_a_blocking_sync_handler_does_not_block_the_loop(self) -> None:
        """A sync handler waiting for the loop to do something gets it (no deadlock)."""
        router = Router()
        released = threading.Event()

        @router.on_any(name="blocking")
        def blocking(event: Event) -> None:
            assert released.wait(timeout=10), "the event loop was blocked"

        async def release_soon() -> None:
            await asyncio.sleep(0.01)
            released.set()

        async def main() -> None:
            await asyncio.gather(router.dispatch_async(LEAD), release_soon())

        asyncio.run(main())
        assert released.is_set()

    def test_handler_run_and_run_async(self) -> None:
        """Handler.run and Handler.run_async call one handler, sync or async."""
        router = Router()
        seen: list[tuple[str, int]] = []

        @router.on_any(name="sync")
        def sync(event: Event, delivery: Delivery) -> None:
            seen.append(("sync", delivery.attempts))

        @router.on_any(name="async")
        async def async_(event: Event, delivery: Delivery) -> None:
            seen.append(("async", delivery.attempts))

        delivery = Delivery.one_off(LEAD)
        for handler in router.handlers_for(LEAD):
            handler.run(LEAD, delivery)
            asyncio.run(handler.run_async(LEAD, delivery))
            handler.run(LEAD)
        assert seen == [("sync", 1)] * 3 + [("async", 1)] * 3


async def _async_noop(event: Event) -> None:
    await asyncio.sleep(0)


# Deliveries ---------------------------------------------------------------------------------


class TestDelivery:
    def test_a_given_delivery_is_passed_as_is(self) -> None:
        """Handlers taking (event, delivery) get the caller's delivery; others only the event."""
        router = Router()
        seen: list[object] = []

        @router.on_any(name="one")
        def one(event: Event) -> None:
            seen.append(event)

        @router.on_any(name="two")
        def two(event: Event, delivery: Delivery) -> None:
            seen.append(delivery)

        @router.on_any(name="async-two")
        async def async_two(event: Event, delivery: Delivery) -> None:
            seen.append(delivery)

        delivery = Delivery.one_off(LEAD)
        router.dispatch(LEAD, delivery)
        asyncio.run(router.dispatch_async(LEAD, delivery))
        assert seen == [LEAD, delivery, delivery] * 2
        assert all(item is delivery for item in seen if item is not LEAD)

    def test_without_a_delivery_one_one_off_delivery_is_shared(self) -> None:
        """No delivery given: one one-off delivery (attempt 1, the event's key) per dispatch."""
        router = Router()
        seen: list[Delivery] = []

        @router.on_any(name="a")
        def a(event: Event, delivery: Delivery) -> None:
            seen.append(delivery)

        @router.on_any(name="b")
        async def b(event: Event, delivery: Delivery) -> None:
            seen.append(delivery)

        router.dispatch(LEAD)
        asyncio.run(router.dispatch_async(LEAD))
        assert seen[0] is seen[1]
        assert seen[2] is seen[3]
        for delivery in seen:
            assert delivery.attempts == 1
            assert delivery.id is None
            assert delivery.state is DeliveryState.PROCESSING
            assert delivery.event_type == "new_lead"
            assert delivery.event is LEAD
            assert delivery.key == f"new_lead:{LEAD.data.id}:{LEAD.raw['timestamp']}"
            assert delivery.key == event_key(delivery.body or b"", LEAD)

    def test_no_delivery_is_built_unless_a_handler_takes_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Handlers of (event) only: Delivery.one_off is never called."""

        def refuse(*args: object, **kwargs: object) -> Delivery:
            pytest.fail("a delivery was built for handlers that take none")

        monkeypatch.setattr(Delivery, "one_off", refuse)
        router = Router()
        router.on_any(name="sync")(lambda event: None)
        router.on_any(name="async")(_async_noop)
        router.dispatch(LEAD)
        asyncio.run(router.dispatch_async(LEAD))

    def test_an_unknown_event_gets_a_delivery_too(self) -> None:
        """An UnknownEvent's one-off delivery keys on its type, id and timestamp."""
        router = Router()
        seen: list[Delivery] = []
        router.on("invoice_paid")(lambda event, delivery: seen.append(delivery))
        router.dispatch(INVOICE)
        assert seen[0].key == f"invoice_paid:obj_0001:{INVOICE.raw['timestamp']}"
        assert seen[0].event_type == "invoice_paid"


def test_every_event_class_can_be_registered() -> None:
    """Each of the six classes routes its own events and no other."""
    router = Router()
    classes = [
        NewLeadEvent,
        MissedCallEvent,
        AppointmentBookedEvent,
        CallCompletedEvent,
        ReviewReceivedEvent,
        UnknownEvent,
    ]
    for cls in classes:
        router.on(cls, name=cls.__name__)(lambda event: None)
    for event in EVERY_EVENT:
        assert names(router.handlers_for(event)) == [type(event).__name__]
