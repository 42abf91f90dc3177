"""Property tests of the router: for any registrations and any event, exactly the right handlers.

A small reference model (a list scan written from the contract's sentences)
says which registrations match an event; the router's precomputed look-up,
``handlers_for``, ``dispatch`` and ``dispatch_async`` must all agree with it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from boltcall_webhooks import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    DispatchError,
    Event,
    EventType,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    Router,
    UnknownEvent,
    parse_event,
)
from boltcall_webhooks._delivery import Delivery
from boltcall_webhooks.testing import strategies

CLASSES: list[type[Any]] = [
    NewLeadEvent,
    MissedCallEvent,
    AppointmentBookedEvent,
    CallCompletedEvent,
    ReviewReceivedEvent,
    UnknownEvent,
]
CLASS_OF_TYPE: dict[str, type[Any]] = {
    cls.__dataclass_fields__["type"].default: cls for cls in CLASSES[:5]
}
# A few unknown names, so that registrations and events share them often.
UNKNOWN_NAMES = ["invoice_paid", "refund_issued", "", "New_Lead", "x"]

unknown_names = st.sampled_from(UNKNOWN_NAMES) | strategies.unknown_event_types()
kinds = st.one_of(
    st.sampled_from(CLASSES),
    strategies.event_types(),  # a known name stands for its class
    st.sampled_from(list(EventType)),
    unknown_names,
)


@dataclass(frozen=True)
class Registration:
    """One handler to register: on_any (kinds is None) or on(*kinds)."""

    kinds: tuple[Any, ...] | None
    is_async: bool
    takes_delivery: bool
    fails: bool

    def matches(self, event: Event) -> bool:
        """The contract, read literally (independent of the router's code)."""
        if self.kinds is None:
            return True
        for kind in self.kinds:
            if isinstance(kind, str) and kind in CLASS_OF_TYPE:
                kind = CLASS_OF_TYPE[kind]  # noqa: PLW2901 - a known name is its class
            if isinstance(kind, type):
                if type(event) is kind:
                    return True
            elif isinstance(event, UnknownEvent) and event.type == kind:
                return True
        return False


registrations = st.builds(
    Registration,
    kinds=st.none() | st.lists(kinds, min_size=1, max_size=4).map(tuple),
    is_async=st.booleans(),
    takes_delivery=st.booleans(),
    fails=st.booleans(),
)


def unknown_events_of(name: str) -> st.SearchStrategy[Event]:
    """UnknownEvents whose type is one of the names registrations use."""
    return strategies.envelopes(name).map(parse_event)


def broken_known_events() -> st.SearchStrategy[Event]:
    """A known type without a string data.id: lenient parsing gives an UnknownEvent."""
    return strategies.event_types().map(
        lambda name: parse_event({"event": name, "timestamp": "2025-01-01T00:00:00Z", "data": {}})
    )


events = st.one_of(
    strategies.events(),
    st.sampled_from(UNKNOWN_NAMES).flatmap(unknown_events_of),
    broken_known_events(),
)


class HandlerFailedError(Exception):
    """What a failing handler raises."""


def build(specs: list[Registration]) -> tuple[Router, list[str]]:
    """A router with one handler per spec (named h0, h1...), and the list they append to."""
    router = Router()
    ran: list[str] = []
    for index, spec in enumerate(specs):
        name = f"h{index}"
        handler = make_handler(name, spec, ran)
        if spec.kinds is None:
            router.on_any(name=name)(handler)
        else:
            router.on(*spec.kinds, name=name)(handler)
    return router, ran


def make_handler(name: str, spec: Registration, ran: list[str]) -> Any:
    def record(delivery: object) -> None:
        if spec.takes_delivery:
            assert isinstance(delivery, Delivery)
        ran.append(name)
        if spec.fails:
            raise HandlerFailedError(name)

    if spec.is_async and spec.takes_delivery:

        async def async_with_delivery(event: Event, delivery: Delivery) -> None:
            await asyncio.sleep(0)
            record(delivery)

        return async_with_delivery
    if spec.is_async:

        async def async_event_only(event: Event) -> None:
            await asyncio.sleep(0)
            record(None)

        return async_event_only
    if spec.takes_delivery:
        return lambda event, delivery: record(delivery)
    return lambda event: record(None)


def expected(specs: list[Registration], event: Event) -> list[str]:
    return [f"h{index}" for index, spec in enumerate(specs) if spec.matches(event)]


def run(router: Router, event: Event, *, use_async: bool) -> list[str]:
    """Dispatch; return the names of the failures reported (empty if none)."""
    failures: list[tuple[str, BaseException]] = []
    try:
        if use_async:
            asyncio.run(router.dispatch_async(event))
        else:
            router.dispatch(event)
    except DispatchError as error:
        failures = error.failures
    for name, exc in failures:  # each failure is the handler's own exception
        assert isinstance(exc, HandlerFailedError)
        assert str(exc) == name
    return [name for name, _ in failures]


@settings(max_examples=300, deadline=None)
@given(st.lists(registrations, max_size=12), events)
def test_dispatch_runs_exactly_handlers_for_in_order(
    specs: list[Registration], event: Event
) -> None:
    """dispatch runs handlers_for(event), in order, which is what the contract's model says."""
    router, ran = build(specs)
    want = expected(specs, event)
    assert [handler.name for handler in router.handlers_for(event)] == want
    failures = run(router, event, use_async=False)
    assert ran == want
    assert failures == [name for name in want if specs[int(name[1:])].fails]


@settings(max_examples=100, deadline=None)
@given(st.lists(registrations, max_size=8), events)
def test_dispatch_async_runs_exactly_handlers_for_in_order(
    specs: list[Registration], event: Event
) -> None:
    """dispatch_async runs the same handlers in the same order, failures aggregated."""
    router, ran = build(specs)
    want = [handler.name for handler in router.handlers_for(event)]
    assert want == expected(specs, event)
    failures = run(router, event, use_async=True)
    assert ran == want
    assert failures == [name for name in want if specs[int(name[1:])].fails]


@settings(max_examples=100, deadline=None)
@given(st.lists(registrations, min_size=1, max_size=8), st.lists(events, max_size=4), events)
def test_interleaving_dispatch_and_registration_keeps_the_look_up_right(
    first: list[Registration], earlier: list[Event], event: Event
) -> None:
    """Registering after dispatching (cached look-ups) gives the same answer as a fresh router."""
    router, ran = build(first[:1])
    for seen in earlier:
        run(router, seen, use_async=False)
    for index, spec in enumerate(first[1:], start=1):
        name = f"h{index}"
        handler = make_handler(name, spec, ran)
        if spec.kinds is None:
            router.on_any(name=name)(handler)
        else:
            router.on(*spec.kinds, name=name)(handler)
        run(router, event, use_async=False)
    assert [handler.name for handler in router.handlers_for(event)] == expected(first, event)
