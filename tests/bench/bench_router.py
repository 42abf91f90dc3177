"""Benchmark: what ``Router.dispatch`` adds over calling the handler, and that it is a look-up.

Run by ``nox -s bench`` (``--quick`` in CI). All cases are timed in one run,
interleaved and shuffled in every round, and each is kept as the *minimum*
per-call time over the rounds (the least-disturbed run; noise only adds):

- direct call: ``handler(event)``, the floor;
- dispatch, 1 handler: ``router.dispatch(event)`` with one matching handler
  registered; the difference to the direct call is what the router adds;
- dispatch, 1 of 16 handlers: the same matching handler plus three handlers
  on each of the five other event classes (none match); the ratio to the
  router with one handler shows that dispatch looks the handlers up rather
  than scanning the registrations;
- dispatch, (event, delivery) handler: a handler asking for a delivery, so a
  one-off delivery is built per call (shown, no target).

Targets (the process exits 1 if one is missed): the router adds at most
0.5 µs (1.5 µs in quick mode, which runs on shared CI machines), and the
crowded router costs at most 1.25x (1.5x quick) the router with one handler.
"""

from __future__ import annotations

import argparse
import random
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field

import boltcall_webhooks
from boltcall_webhooks import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    Event,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    Router,
    UnknownEvent,
)
from boltcall_webhooks.testing import make_event, new_lead_event

ADDED_TARGET_US = {False: 0.5, True: 1.5}  # by quick mode
CROWDED_TARGET = {False: 1.25, True: 1.5}
OTHER_CLASSES = [
    MissedCallEvent,
    AppointmentBookedEvent,
    CallCompletedEvent,
    ReviewReceivedEvent,
    UnknownEvent,
]


@dataclass
class Case:
    """One timed callable."""

    name: str
    func: Callable[[], object]
    samples: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.samples)


def handler(event: NewLeadEvent) -> None:
    """The handler every case runs: as cheap as a handler can be."""


def handler_with_delivery(event: NewLeadEvent, delivery: object) -> None:
    """A handler that asks for the delivery."""


def ignore(event: Event) -> None:
    """A handler registered for other event classes (never called here)."""


def build_cases() -> list[Case]:
    event = new_lead_event()
    alone = Router()
    alone.on(NewLeadEvent)(handler)
    crowded = Router()
    for cls in OTHER_CLASSES[:2]:
        for index in range(3):
            crowded.on(cls, name=f"{cls.__name__}-{index}")(ignore)
    crowded.on(NewLeadEvent)(handler)  # in the middle of the registrations
    for cls in OTHER_CLASSES[2:]:
        for index in range(3):
            crowded.on(cls, name=f"{cls.__name__}-{index}")(ignore)
    with_delivery = Router()
    with_delivery.on(NewLeadEvent)(handler_with_delivery)
    assert len(crowded.handlers_for(event)) == 1
    for cls in OTHER_CLASSES:  # 16 handlers in all
        assert len(crowded.handlers_for(_sample_of(cls))) == 3
    return [
        Case("direct call", lambda: handler(event)),
        Case("dispatch, 1 handler", lambda: alone.dispatch(event)),
        Case("dispatch, 1 of 16 handlers", lambda: crowded.dispatch(event)),
        Case("dispatch, (event, delivery) handler", lambda: with_delivery.dispatch(event)),
    ]


def _sample_of(cls: type[Event]) -> Event:
    names = {
        MissedCallEvent: "missed_call",
        AppointmentBookedEvent: "appointment_booked",
        CallCompletedEvent: "call_completed",
        ReviewReceivedEvent: "review_received",
        UnknownEvent: "invoice_paid",
    }
    return make_event(names[cls])


def calibrate(func: Callable[[], object], budget: float) -> int:
    """How many calls fit in about ``budget`` seconds."""
    number = 1
    while True:
        elapsed = timeit.timeit(func, number=number)
        if elapsed >= budget / 4 or number >= 10_000_000:
            return max(1, int(number * budget / max(elapsed, 1e-9)))
        number *= 4


def measure(cases: list[Case], rounds: int, budget: float) -> None:
    """Interleave the cases for ``rounds`` rounds, shuffled each round; keep per-call seconds."""
    numbers = {case.name: calibrate(case.func, budget) for case in cases}
    for _ in range(rounds):
        order = cases[:]
        random.shuffle(order)
        for case in order:
            number = numbers[case.name]
            case.samples.append(timeit.timeit(case.func, number=number) / number)


def main() -> int:
    """Run the benchmark, print the figures, exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, looser bounds (CI)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (9 if args.quick else 31)
    budget = 0.005 if args.quick else 0.02
    cases = build_cases()
    measure(cases, rounds, budget)
    best = {case.name: case.best for case in cases}
    print(
        f"\n### Router dispatch (boltcall-webhooks {boltcall_webhooks.__version__}, "
        f"Python {sys.version.split()[0]}, {rounds} interleaved rounds, min per call)\n"
    )
    print(f"| {'case':<38} | {'per call':>11} |")
    print(f"|{'-' * 40}|{'-' * 13}|")
    for case in cases:
        print(f"| {case.name:<38} | {case.best * 1e6:8.3f} µs |")

    added = (best["dispatch, 1 handler"] - best["direct call"]) * 1e6
    crowding = best["dispatch, 1 of 16 handlers"] / best["dispatch, 1 handler"]
    added_target = ADDED_TARGET_US[args.quick]
    crowded_target = CROWDED_TARGET[args.quick]
    missed: list[str] = []
    if added > added_target:
        missed.append(f"dispatch adds {added:.3f} µs > {added_target} µs")
    if crowding > crowded_target:
        missed.append(f"1 of 16 handlers costs {crowding:.2f}x 1 handler > {crowded_target}x")
    print(
        f"\ndispatch adds {added:.3f} µs over the direct call "
        f"({'ok' if added <= added_target else 'MISSED'} ≤ {added_target} µs)"
    )
    print(
        f"dispatch with 16 handlers registered (1 matching) / 1 handler: {crowding:.2f}x "
        f"({'ok' if crowding <= crowded_target else 'MISSED'} ≤ {crowded_target}x: a look-up)"
    )
    print("\nrouter targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
