# pyright: reportUnnecessaryTypeIgnoreComment=true
# mypy: ignore-errors
"""Type tests for router mismatches, by pyright's rule names: checked, never run.

pyright honours ``# type: ignore`` whatever its code, so ``check_router.py``
cannot show *which* error pyright reports; this file does, with
``# pyright: ignore[rule]`` comments that fail the check if the error goes
away (the pragma above). mypy skips the file (``check_router.py`` proves the
same lines for mypy, by its codes).
"""

from __future__ import annotations

from boltcall_webhooks import (
    CallCompletedEvent,
    Event,
    MissedCallEvent,
    NewLeadEvent,
    Router,
)

router = Router()


@router.on(MissedCallEvent)  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
def wrong_class(event: NewLeadEvent) -> None:
    """A handler of NewLeadEvent cannot register for MissedCallEvent."""


@router.on(MissedCallEvent, CallCompletedEvent)  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
def too_narrow(event: MissedCallEvent) -> None:
    """A handler of two classes must accept both."""


@router.on(NewLeadEvent)  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
def wrong_delivery(event: NewLeadEvent, delivery: int) -> None:
    """The second parameter receives a Delivery."""


@router.on_any  # pyright: ignore[reportArgumentType, reportUntypedFunctionDecorator]
def not_every_event(event: NewLeadEvent) -> None:
    """An on_any handler receives every event."""


router.on(Event)  # pyright: ignore[reportArgumentType, reportCallIssue]
