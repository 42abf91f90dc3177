"""The inbox's state machine against a plain Python model (Hypothesis, stateful).

Rules: store (new or duplicate, envelopes and non-envelopes), claim, succeed,
fail (retry or give up), time passing (lease expiry), replay, replay_dead, purge.
Stale claims are kept and used too: fencing must refuse them. After every step
each row and the counts per state must equal the model's.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from boltcall_webhooks.inbox import DeliveryNotFoundError, DeliveryState, Inbox, InboxError
from boltcall_webhooks.inbox._backend import Claim, LeaseLostError
from boltcall_webhooks.testing import FixedClock

from .support import lead_body

LEASE = 30.0
MAX_ATTEMPTS = 3
KEEP_KEYS = timedelta(days=90)
BODIES = [lead_body(n) for n in range(4)] + [b"junk-0", b"junk-1"]


@dataclass
class Row:
    id: int
    envelope: bool
    state: str = "pending"
    attempts: int = 0
    duplicates: int = 0
    has_body: bool = True
    due: float = 0.0  # pending: next_attempt_at
    lease_until: float = 0.0
    holder: int | None = None  # the token of the valid lease
    finished: float | None = None
    succeeded: set[str] = field(default_factory=set[str])


class InboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="inbox-stateful-")
        self.clock = FixedClock("2030-01-01T00:00:00Z")
        self.inbox = Inbox(
            f"sqlite:///{self.tmp}/inbox.sqlite3",
            clock=self.clock,
            lease=LEASE,
            max_attempts=MAX_ATTEMPTS,
            keep_keys=KEEP_KEYS,
            synchronous="OFF",  # the logic is under test here, not the disk
        )
        self.rows: dict[bytes, Row] = {}
        self.claims: list[Claim] = []

    def teardown(self) -> None:
        self.inbox.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def now(self) -> float:
        return self.inbox.now()

    def _by_id(self, delivery_id: int) -> Row:
        return next(row for row in self.rows.values() if row.id == delivery_id)

    def _row_of(self, claim: Claim) -> Row | None:
        """The claim's row, or ``None`` if purge deleted it."""
        return next((r for r in self.rows.values() if r.id == claim.delivery.id), None)

    # -- rules ---------------------------------------------------------------------

    @rule(body=st.sampled_from(BODIES))
    def store(self, body: bytes) -> None:
        stored = self.inbox.store(body)
        row = self.rows.get(body)
        if row is None:
            envelope = body.startswith(b"{")
            row = Row(id=stored.id, envelope=envelope, due=self.now)
            if not envelope:
                row.state, row.finished = "dead", self.now
            self.rows[body] = row
            assert stored.duplicate is False
        else:
            assert stored.duplicate is True
            assert stored.id == row.id
            row.duplicates += 1
            if row.state == "dead" and row.envelope and row.has_body:
                row.state, row.attempts, row.due, row.finished = "pending", 0, self.now, None
        assert stored.state == row.state

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        now = self.now
        for row in self.rows.values():  # expired leases without attempts left die first
            if (
                row.state == "processing"
                and row.lease_until <= now
                and row.attempts >= MAX_ATTEMPTS
            ):
                row.state, row.holder, row.finished = "dead", None, now
        due = [
            row
            for row in self.rows.values()
            if (row.state == "pending" and row.due <= now)
            or (row.state == "processing" and row.lease_until <= now)
        ]
        claims = self.inbox.backend.claim(
            worker="w", now=now, lease=LEASE, max_attempts=MAX_ATTEMPTS, limit=limit
        )
        assert len(claims) == min(limit, len(due))
        assert {c.delivery.id for c in claims} <= {row.id for row in due}
        for claim in claims:
            row = self._by_id(claim.delivery.id or 0)
            row.state, row.attempts = "processing", row.attempts + 1
            row.lease_until, row.holder = now + LEASE, claim.token
            assert claim.delivery.attempts == row.attempts
            assert claim.succeeded == frozenset(row.succeeded)
            self.claims.append(claim)

    def _valid(self, claim: Claim) -> bool:
        row = self._row_of(claim)
        return row is not None and row.state == "processing" and row.holder == claim.token

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data(), last=st.booleans())
    def succeed(self, data: st.DataObject, last: bool) -> None:
        claim = data.draw(st.sampled_from(self.claims))
        row = self._row_of(claim)
        valid = self._valid(claim)
        name = f"h{0 if row is None else len(row.succeeded)}"
        try:
            self.inbox.backend.complete_handler(
                claim, name, lambda _c: None, now=self.now, last=last
            )
        except LeaseLostError:
            assert not valid
        else:
            assert valid
            assert row is not None
            row.succeeded.add(name)
            if last:
                row.state, row.holder, row.finished = "done", None, self.now

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data(), retry=st.booleans(), delay=st.integers(0, 100))
    def fail(self, data: st.DataObject, retry: bool, delay: int) -> None:
        claim = data.draw(st.sampled_from(self.claims))
        row = self._row_of(claim)
        valid = self._valid(claim)
        ok = self.inbox.backend.fail(
            claim,
            now=self.now,
            error="E: x",
            traceback="tb",
            next_attempt_at=self.now + delay if retry else None,
        )
        assert ok == valid
        if row is not None and valid:
            row.holder = None
            if retry:
                row.state, row.due = "pending", self.now + delay
            else:
                row.state, row.finished = "dead", self.now

    @rule(seconds=st.sampled_from([1, 10, 29, 31, 120, 86400 * 40]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.rows))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(sorted(self.rows.values(), key=lambda r: r.id)))
        try:
            self.inbox.replay(row.id)
        except DeliveryNotFoundError as exc:  # every row of the model exists
            raise AssertionError(row) from exc
        except InboxError:
            assert not row.has_body
            return
        assert row.has_body
        row.state, row.attempts, row.due, row.holder = "pending", 0, self.now, None
        row.finished = None
        row.succeeded.clear()

    @rule()
    def replay_dead(self) -> None:
        expected = [r for r in self.rows.values() if r.state == "dead" and r.has_body]
        assert self.inbox.replay_dead() == len(expected)
        for row in expected:
            row.state, row.attempts, row.due, row.finished = "pending", 0, self.now, None
            row.succeeded.clear()

    @rule(days=st.sampled_from([0.5, 30]))
    def purge(self, days: float) -> None:
        now = self.now
        bodies_before = max(now - days * 86400, now - KEEP_KEYS.total_seconds())
        removed = 0
        for body, row in list(self.rows.items()):
            if row.state != "done" or row.finished is None:
                continue
            if row.finished < bodies_before and row.has_body:
                row.has_body = False
                removed += 1
            if row.finished < now - KEEP_KEYS.total_seconds():
                del self.rows[body]
        assert self.inbox.purge(older_than=timedelta(days=days)) == removed

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def rows_match_the_model(self) -> None:
        stats = {state.value: 0 for state in DeliveryState}
        for body, row in self.rows.items():
            stats[row.state] += 1
            delivery = self.inbox.get(row.id)
            got: dict[str, Any] = {
                "state": str(delivery.state),
                "attempts": delivery.attempts,
                "duplicates": delivery.duplicates,
                "body": delivery.body,
            }
            want = {
                "state": row.state,
                "attempts": row.attempts,
                "duplicates": row.duplicates,
                "body": body if row.has_body else None,
            }
            assert got == want, (row, got)
            if row.state == "pending":
                assert delivery.next_attempt_at is not None
                assert delivery.next_attempt_at.timestamp() == pytest.approx(row.due)
        assert self.inbox.stats() == stats


InboxMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_inbox_state_machine = InboxMachine.TestCase
