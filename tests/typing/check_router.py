# pyright: reportUnnecessaryTypeIgnoreComment=true
"""Type tests for the router: checked by mypy --strict and pyright strict, never run.

A handler must accept every event class it is registered for. The lines that
register a mismatched handler carry ``# type: ignore[code]`` and both checkers
fail on an ignore comment that is not needed (mypy ``strict`` warns on unused
ignores, by code; the pragma above turns it on for pyright, which honours
``# type: ignore`` whatever the code), so these lines prove the mismatch *is*
an error. ``check_router_pyright.py`` proves the same lines with pyright's own
rule names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from typing_extensions import assert_type

from boltcall_webhooks import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    DispatchError,
    Event,
    Handler,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    Router,
    UnknownEvent,
)
from boltcall_webhooks._delivery import Delivery  # public as boltcall_webhooks.inbox.Delivery

router = Router()


# One class: the handler gets that class ----------------------------------------


@router.on(NewLeadEvent)
def add_lead(event: NewLeadEvent) -> None:
    assert_type(event.data.id, str)


assert_type(add_lead, Callable[[NewLeadEvent], None])


@router.on(NewLeadEvent, name="crm")
def count_lead(event: NewLeadEvent) -> int:
    return len(event.data.id)


assert_type(count_lead, Callable[[NewLeadEvent], int])


@router.on(NewLeadEvent)
def any_event_is_fine(event: Event) -> None:
    """A handler of a wider type may register for a narrower one."""


# Several classes: the handler gets their union ----------------------------------


@router.on(MissedCallEvent, CallCompletedEvent)
def log_call(event: MissedCallEvent | CallCompletedEvent) -> None:
    assert_type(event.data.id, str)


assert_type(log_call, Callable[[MissedCallEvent | CallCompletedEvent], None])


@router.on(
    NewLeadEvent,
    MissedCallEvent,
    AppointmentBookedEvent,
    CallCompletedEvent,
    ReviewReceivedEvent,
    UnknownEvent,
)
def six_classes(event: Event) -> None: ...


# Mismatches are type errors --------------------------------------------------------


@router.on(MissedCallEvent)  # type: ignore[arg-type]
def wrong_class(event: NewLeadEvent) -> None: ...


@router.on(MissedCallEvent, CallCompletedEvent)  # type: ignore[arg-type]
def too_narrow(event: MissedCallEvent) -> None: ...


@router.on(NewLeadEvent)  # type: ignore[arg-type]
def wrong_delivery(event: NewLeadEvent, delivery: int) -> None: ...


@router.on_any  # type: ignore[type-var]
def not_every_event(event: NewLeadEvent) -> None: ...


router.on(Event)  # type: ignore[call-overload]


# (event, delivery), async handlers, on_any ------------------------------------------


@router.on(NewLeadEvent)
def with_delivery(event: NewLeadEvent, delivery: Delivery) -> None:
    assert_type(delivery.attempts, int)
    assert_type(delivery.key, str)


assert_type(with_delivery, Callable[[NewLeadEvent, Delivery], None])


@router.on(ReviewReceivedEvent)
async def review(event: ReviewReceivedEvent) -> None: ...


review_func: Callable[[ReviewReceivedEvent], Awaitable[None]] = review


@router.on(AppointmentBookedEvent, MissedCallEvent)
async def booked(event: AppointmentBookedEvent | MissedCallEvent, delivery: Delivery) -> None: ...


booked_func: Callable[[AppointmentBookedEvent | MissedCallEvent, Delivery], Awaitable[None]] = (
    booked
)


@router.on_any
def audit(event: Event) -> None: ...


audit_func: Callable[[Event], None] = audit  # on_any gives the function back as it is


@router.on_any(name="audit-2")
async def audit_async(event: Event, delivery: Delivery) -> None: ...


# Type names: the handler is not checked against them, and keeps its exact type -----


@router.on("invoice_paid")
def later(event: UnknownEvent) -> None: ...


later_func: Callable[[UnknownEvent], None] = later


@router.on(NewLeadEvent, "invoice_paid")
def mixed(event: Event) -> str:
    return event.type


assert_type(mixed("x"), str)  # type: ignore[arg-type]


# Handlers stay plain functions; dispatch and handlers_for -----------------------------


def use(event: Event, lead: NewLeadEvent) -> None:
    add_lead(lead)
    add_lead(event)  # type: ignore[arg-type]
    assert_type(router.dispatch(event), None)
    handlers = router.handlers_for(event)
    assert_type(handlers, list[Handler])
    assert_type(handlers[0].name, str)
    assert_type(handlers[0].run(event), None)
    try:
        router.dispatch(event)
    except DispatchError as error:
        for name, exc in error.failures:
            assert_type(name, str)
            assert_type(exc, BaseException)


async def use_async(event: Event) -> None:
    assert_type(await router.dispatch_async(event), None)
    assert_type(await router.handlers_for(event)[0].run_async(event), None)
