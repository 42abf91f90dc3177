"""What the load run sends: the kinds of request, their expected outcomes, their bodies.

Every request carries a unique ``data.id`` that names its kind
(``mix-forged-000012``), so counting ids in the handler's records tells which
genuine events were lost or handled twice and which refused requests got in.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Final

from boltcall_webhooks import DEFAULT_MAX_BODY_SIZE, SIGNATURE_HEADER, sign
from boltcall_webhooks.testing import signed_request

SECRET: Final = "whsec_load_run_7f3a9c2e5b8d1f4a"
WRONG_SECRET: Final = "whsec_attacker_0000000000000000"
EVENT_TYPES: Final = (
    "new_lead",
    "call_completed",
    "missed_call",
    "appointment_booked",
    "review_received",
)

GENUINE_KINDS: Final = frozenset(
    {"genuine", "genuine_chunked", "slow", "slow_chunked", "tp_webhook", "liveness"}
)
LEFT: Final = "left mid-body"
RESET: Final = "reset while sending"
CLOSED: Final = "closed, no answer"
LEAVING_KINDS: Final = frozenset({"disconnect", "disconnect_chunked", "half_close"})
RAW_KINDS: Final = frozenset(
    {"slow", "slow_chunked", "oversize", "oversize_chunked", *LEAVING_KINDS}
)
OK: Final = frozenset({200})
EXPECTED: Final[dict[str, frozenset[int | str]]] = {
    "tp_webhook": OK,  # throughput phase: genuine deliveries to the router endpoint
    "bare": OK,  # throughput phase: the same bodies to the baseline route (json.loads)
    "liveness": OK,  # one genuine delivery after the run: the server still answers
    "genuine": OK,
    "genuine_chunked": OK,
    "slow": OK,
    "slow_chunked": OK,
    "forged": frozenset({401}),
    "tampered": frozenset({401}),
    "missing": frozenset({401}),
    "malformed": frozenset({400}),
    # Refused early: the server may close before taking the whole body, and the
    # reset can reach the client before the 413 does.
    "oversize": frozenset({413, RESET}),
    "oversize_chunked": frozenset({413, RESET}),
    # The client leaves mid-body (FIN or RST): no answer is read.
    "disconnect": frozenset({LEFT}),
    "disconnect_chunked": frozenset({LEFT}),
    # The client stops mid-body, half-closes and waits: a refusal or a close, never 5xx.
    "half_close": frozenset({400, 401, CLOSED}),
}
# Shares of the mixed phase (per 1000 requests).
WEIGHTS: Final = {
    "genuine": 500,
    "genuine_chunked": 60,
    "forged": 80,
    "tampered": 80,
    "missing": 60,
    "malformed": 80,
    "oversize": 10,
    "oversize_chunked": 10,
    "slow": 20,
    "slow_chunked": 20,
    "disconnect": 30,
    "disconnect_chunked": 30,
    "half_close": 20,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The size of one run.

    Attributes:
        warmup: Requests in the warm-up (every kind, as in the mix).
        rounds: Throughput rounds; each has one block per route.
        block: Requests per throughput block.
        mix: Requests in the mixed phase.
        concurrency: Requests in flight.
        slow_parts: Pieces a slow sender cuts its body into.
        slow_pause: Seconds a slow sender waits before each piece.
        phase_timeout: Seconds a phase may last before the run fails.
        server_seconds: Seconds after which a server stops by itself.
        gunicorn_workers: gunicorn ``gthread`` workers.
        gunicorn_threads: Threads per gunicorn worker.
        max_rss_growth_mib: The run fails if the servers' RSS grows this much.
        per_connection: Requests per connection in the throughput blocks.
        min_ratio: The least router endpoint/baseline requests/s (median per
            round) that passes; the quick run's short blocks are noisier.
    """

    warmup: int
    rounds: int
    block: int
    mix: int
    concurrency: int
    slow_parts: int
    slow_pause: float
    phase_timeout: float
    server_seconds: float
    gunicorn_workers: int
    gunicorn_threads: int
    max_rss_growth_mib: float
    per_connection: int = 25
    min_ratio: float = 0.85


FULL: Final = Settings(
    warmup=800, rounds=12, block=1000, mix=30_000, concurrency=100, slow_parts=6,
    slow_pause=0.04, phase_timeout=600.0, server_seconds=1500.0, gunicorn_workers=2,
    gunicorn_threads=8, max_rss_growth_mib=20.0,
)  # fmt: skip
QUICK: Final = Settings(
    warmup=400, rounds=8, block=500, mix=3_000, concurrency=64, slow_parts=4,
    slow_pause=0.03, phase_timeout=60.0, server_seconds=240.0, gunicorn_workers=2,
    gunicorn_threads=8, max_rss_growth_mib=20.0, min_ratio=0.7,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Job:
    """One request to make: its kind and the id in its body (unique in the run)."""

    kind: str
    event_id: str
    event_type: str


def _signed(job: Job, secret: str = SECRET, **fields: Any) -> tuple[bytes, str | None]:
    request = signed_request(job.event_type, secret=secret, id=job.event_id, **fields)
    return request.body, request.signature


def build(job: Job) -> tuple[bytes, dict[str, str]]:
    """The body and headers for a job (oversize bodies are built only when sent)."""
    kind = job.kind
    signature: str | None
    if kind == "forged":
        body, signature = _signed(job, WRONG_SECRET)
    elif kind == "tampered":
        body, signature = _signed(job)
        # Same length, another id: the signature was made for the original bytes.
        body = body.replace(job.event_id.encode(), job.event_id.upper().encode(), 1)
    elif kind == "missing":
        body, signature = _signed(job)[0], None
    elif kind == "malformed":
        variants = (
            b"not json at all " + job.event_id.encode(),
            json.dumps([job.event_id]).encode(),
            json.dumps(
                {"timestamp": "2025-03-20T09:17:22Z", "data": {"id": job.event_id}}
            ).encode(),
            b'{"event": "new_lead", "data": {"id": "' + job.event_id.encode(),
        )
        body = variants[int(job.event_id[-6:]) % len(variants)]
        signature = sign(body, SECRET)
    elif kind.startswith("oversize"):
        body, signature = _signed(job, note="x" * (DEFAULT_MAX_BODY_SIZE + 1024))
    else:  # genuine kinds, bare, disconnect: a correctly signed body
        body, signature = _signed(job)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return body, headers


def plan(kinds: dict[str, int], prefix: str, rng: random.Random) -> list[Job]:
    """Jobs with the given count per kind, shuffled, each with a unique id."""
    jobs: list[Job] = []
    for kind, count in kinds.items():
        for n in range(count):
            event_id = f"{prefix}-{kind}-{n:06d}"
            jobs.append(Job(kind, event_id, EVENT_TYPES[n % len(EVENT_TYPES)]))
    rng.shuffle(jobs)
    return jobs


def counts(total: int) -> dict[str, int]:
    """How many jobs of each kind in a mixed phase of ``total`` requests (at least 2 each)."""
    weight = sum(WEIGHTS.values())
    return {kind: max(2, round(total * share / weight)) for kind, share in WEIGHTS.items()}
