"""Benchmark: our verification against the HMAC floor and against peer SDKs.

Run with ``nox -s bench`` (``--quick`` for a short run). For a ~500-byte event
and a 1 MiB event, it times each case as the median of interleaved, repeated
runs (cases are shuffled in every round, so machine noise hits all of them
alike) and prints the ratio of each case to its floor:

- verification floor: ``hmac.digest`` + ``bytes.fromhex`` + ``hmac.compare_digest``,
  the least a correct check of a hex HMAC-SHA256 header can do;
- verify+parse floor: that plus ``json.loads`` of the body.

Peers are measured on the same payloads with their own signing schemes and
skipped (with a note) when not installed. This is a report, not a test: it
never fails on speed, it shows the figures and whether each target is met.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import boltcall_webhooks
from boltcall_webhooks import Verifier, construct_event, sign, verify_signature

SECRET = "whsec_bench_0123456789abcdef0123456789"
KEY = SECRET.encode()


def small_event() -> bytes:
    """A call_completed envelope of about 500 bytes with the fields Boltcall documents."""
    data = {
        "id": "call_8f2k1q9z",
        "agent_id": "agt_42",
        "direction": "inbound",
        "caller": "+15551234567",
        "duration_seconds": 184,
        "status": "completed",
        "sentiment": "positive",
        "summary": "Caller asked about teeth whitening prices and booked a cleaning for Friday "
        "at 10am. Wants a reminder text the day before and asked whether parking is free. "
        "Agent confirmed both and sent the clinic address by SMS.",
        "recording_url": "https://cdn.boltcall.org/recordings/call_8f2k1q9z.mp3",
    }
    envelope = {"event": "call_completed", "timestamp": "2025-03-20T09:17:22Z", "data": data}
    return json.dumps(envelope, separators=(",", ":")).encode()


def large_event(size: int = 1024 * 1024) -> bytes:
    """A call_completed envelope padded with a transcript to exactly ``size`` bytes."""
    turns: list[dict[str, str]] = []
    envelope: dict[str, Any] = {
        "event": "call_completed",
        "timestamp": "2025-03-20T09:17:22Z",
        "data": {"id": "call_big", "status": "completed", "transcript": turns},
    }
    line = {"speaker": "caller", "text": "I would like to book an appointment for next week."}
    while len(json.dumps(envelope, separators=(",", ":"))) < size - 200:
        turns.extend([line] * 50)
    body = json.dumps(envelope, separators=(",", ":"))
    envelope["data"]["pad"] = ""
    body = json.dumps(envelope, separators=(",", ":"))
    envelope["data"]["pad"] = "x" * (size - len(body))
    return json.dumps(envelope, separators=(",", ":")).encode()


@dataclass
class Case:
    """One timed callable and the floor it is compared with."""

    name: str
    func: Callable[[], object]
    floor: str | None = None  # name of the floor case, None for a floor itself
    target: float | None = None
    samples: list[float] = field(default_factory=list)


def our_cases(body: bytes, *, small: bool) -> list[Case]:
    """Floors and our own functions on ``body``."""
    signature = sign(body, SECRET)
    forged = sign(body, "whsec_forged_secret")
    verifier = Verifier(SECRET, max_body_size=None)
    compare, digest, loads = hmac.compare_digest, hmac.digest, json.loads

    def floor_verify() -> bool:
        return compare(digest(KEY, body, "sha256"), bytes.fromhex(signature))

    def floor_verify_json() -> object:
        if not compare(digest(KEY, body, "sha256"), bytes.fromhex(signature)):
            raise ValueError
        return loads(body)

    def ours_verify() -> None:
        verify_signature(body, signature, SECRET)

    def ours_construct() -> object:
        return construct_event(body, signature, SECRET)

    def ours_verifier() -> object:
        return verifier.construct_event(body, signature)

    def ours_forged() -> None:
        try:
            construct_event(body, forged, SECRET)
        except boltcall_webhooks.InvalidSignatureError:
            return
        raise AssertionError

    return [
        Case("floor: hmac + compare_digest", floor_verify),
        Case("floor: hmac + compare_digest + json.loads", floor_verify_json),
        Case(
            "ours: verify_signature",
            ours_verify,
            "floor: hmac + compare_digest",
            1.15 if small else 1.02,
        ),
        Case(
            "ours: construct_event",
            ours_construct,
            "floor: hmac + compare_digest + json.loads",
            1.6 if small else 1.1,
        ),
        Case(
            "ours: Verifier.construct_event",
            ours_verifier,
            "floor: hmac + compare_digest + json.loads",
        ),
        Case(
            "ours: construct_event, forged signature",
            ours_forged,
            "floor: hmac + compare_digest + json.loads",
        ),
    ]


def peer_cases(body: bytes) -> tuple[list[Case], list[str]]:
    """Peers verifying (and parsing) the same body with their own schemes."""
    cases: list[Case] = []
    missing: list[str] = []
    text = body.decode()
    verify_floor = "floor: hmac + compare_digest"
    parse_floor = "floor: hmac + compare_digest + json.loads"
    try:
        import stripe

        ts = int(time.time())
        mac = hmac.new(KEY, f"{ts}.{text}".encode(), hashlib.sha256).hexdigest()
        header = f"t={ts},v1={mac}"
        cases.append(
            Case(
                "stripe: WebhookSignature.verify_header",
                lambda: stripe.WebhookSignature.verify_header(text, header, SECRET, 10**9),
                verify_floor,
            )
        )
        cases.append(
            Case(
                "stripe: Webhook.construct_event",
                lambda: stripe.Webhook.construct_event(body, header, SECRET, tolerance=10**9),
                parse_floor,
            )
        )
    except ImportError:
        missing.append("stripe")
    try:
        from standardwebhooks.webhooks import Webhook as StandardWebhook

        b64 = base64.b64encode(KEY).decode()
        wh = StandardWebhook(b64)
        now = datetime.now(timezone.utc)
        headers = {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": wh.sign("msg_1", now, text),
        }
        cases.append(
            Case("standardwebhooks: Webhook.verify", lambda: wh.verify(body, headers), parse_floor)
        )
    except ImportError:
        missing.append("standardwebhooks")
    try:
        from svix.webhooks import Webhook as SvixWebhook

        swh = SvixWebhook("whsec_" + base64.b64encode(KEY).decode())
        now = datetime.now(timezone.utc)
        sv_headers = {
            "svix-id": "msg_1",
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": swh.sign("msg_1", now, text),
        }
        cases.append(
            Case(
                "svix: Webhook.verify (no parse)",
                lambda: swh.verify(body, sv_headers),
                verify_floor,
            )
        )
    except ImportError:
        missing.append("svix")
    try:
        from slack_sdk.signature import SignatureVerifier

        slack = SignatureVerifier(SECRET)
        ts_text = str(int(time.time()))
        slack_sig = slack.generate_signature(timestamp=ts_text, body=body)
        cases.append(
            Case(
                "slack_sdk: SignatureVerifier.is_valid",
                lambda: slack.is_valid(body, ts_text, slack_sig),
                verify_floor,
            )
        )
    except ImportError:
        missing.append("slack_sdk")
    try:
        from gidgethub import sansio

        gh_sig = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
        gh_headers = {
            "content-type": "application/json",
            "x-github-event": "call_completed",
            "x-github-delivery": "d1",
            "x-hub-signature-256": gh_sig,
        }
        cases.append(
            Case(
                "gidgethub: validate_event",
                lambda: sansio.validate_event(body, signature=gh_sig, secret=SECRET),
                verify_floor,
            )
        )
        cases.append(
            Case(
                "gidgethub: Event.from_http",
                lambda: sansio.Event.from_http(gh_headers, body, secret=SECRET),
                parse_floor,
            )
        )
    except ImportError:
        missing.append("gidgethub")
    return cases, missing


def calibrate(func: Callable[[], object], budget: float) -> int:
    """How many calls fit in about ``budget`` seconds."""
    number = 1
    while True:
        elapsed = timeit.timeit(func, number=number)
        if elapsed >= budget / 4 or number >= 1_000_000:
            return max(1, int(number * budget / max(elapsed, 1e-9)))
        number *= 4


def measure(cases: list[Case], rounds: int, budget: float) -> None:
    """Interleave the cases for ``rounds`` rounds; keep per-call seconds."""
    numbers = {case.name: calibrate(case.func, budget) for case in cases}
    for _ in range(rounds):
        order = cases[:]
        random.shuffle(order)
        for case in order:
            number = numbers[case.name]
            case.samples.append(timeit.timeit(case.func, number=number) / number)


def report(title: str, cases: list[Case]) -> list[str]:
    """Print the table for one payload; return the targets missed."""
    medians = {case.name: statistics.median(case.samples) for case in cases}
    print(f"\n### {title}\n")
    print(f"| {'case':<45} | {'median':>11} | {'ratio to floor':>14} | target |")
    print(f"|{'-' * 47}|{'-' * 13}|{'-' * 16}|--------|")
    missed: list[str] = []
    for case in cases:
        median = medians[case.name]
        shown = f"{median * 1e6:9.2f} µs" if median < 1e-3 else f"{median * 1e3:9.3f} ms"
        if case.floor is None:
            ratio, verdict = "(floor)", ""
        else:
            value = median / medians[case.floor]
            ratio = f"{value:.2f}x"
            verdict = ""
            if case.target is not None:
                ok = value <= case.target
                verdict = f"{'ok' if ok else 'MISSED'} ≤{case.target}"
                if not ok:
                    missed.append(f"{title}: {case.name} {value:.2f}x > {case.target}x")
        print(f"| {case.name:<45} | {shown:>11} | {ratio:>14} | {verdict} |")
    forged = medians.get("ours: construct_event, forged signature")
    valid = medians.get("ours: construct_event")
    if forged is not None and valid is not None:
        verdict = "ok" if forged <= valid else "MISSED"
        print(
            f"\nforged rejected in {forged * 1e6:.2f} µs vs valid accepted in "
            f"{valid * 1e6:.2f} µs: {verdict} (rejection no slower than acceptance)"
        )
        if forged > valid:
            missed.append(f"{title}: forged rejection slower than acceptance")
    return missed


def main() -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (7 if args.quick else 31)
    budget = 0.01 if args.quick else 0.05
    print(
        f"boltcall-webhooks {boltcall_webhooks.__version__}, Python {sys.version.split()[0]}, "
        f"{rounds} interleaved rounds, median per call"
    )
    missed: list[str] = []
    notes: list[str] = []
    for title, body, small in [
        (f"~500-byte event ({len(small_event())} bytes)", small_event(), True),
        ("1 MiB event", large_event(), False),
    ]:
        cases = our_cases(body, small=small)
        peers, missing = peer_cases(body)
        if missing:
            notes.append(f"not installed, not measured: {', '.join(missing)}")
        cases += peers
        measure(cases, rounds, budget if small else budget * 4)
        missed += report(title, cases)
    for note in sorted(set(notes)):
        print(f"\nnote: {note}")
    print("\ntargets: " + ("all met" if not missed else "missed: " + "; ".join(missed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
