"""Timing-leak check in the style of dudect: Welch's t-test between input classes.

A signature check leaks if its running time depends on *how* a wrong signature
is wrong (an early-exit comparison is faster when the first byte differs than
when the last one does: an attacker can then forge a signature byte by byte),
or on *which* of several secrets matched. This script times the library on
inputs of different classes, interleaved in a random order within each batch,
crops the slow outliers at several percentiles, and runs Welch's t-test on each
pair of classes.

Reading the result (dudect's convention): |t| above 4.5 is evidence that the two
classes take different times; below it, no difference was found *at the size
this run could see*. That size is printed too: the minimum detectable effect
(MDE) is the mean difference that would have given |t| = 4.5 with the observed
variance and sample counts, as a percentage of the mean.

Fair comparisons. ``verify_signature`` raises for a wrong signature and returns
for a right one, so "correct vs wrong" differs by design (raising costs time),
and that difference reveals nothing: the outcome is public anyway (the sender
sees 401 or 2xx). So the main measurements use ``is_valid_signature``, which
returns a bool on both paths; ``verify_signature`` and ``Verifier.verify`` are
also timed with the exception caught in every branch. In every group, the pairs
with the same outcome (first byte wrong vs last byte wrong; match on the first
secret vs on the last one) are the ones that must not differ; pairs with
different outcomes are reported, marked "same outcome? no", and are not leaks.
A positive control (a naive early-exit comparison written in Python) shows
that the method detects a real leak at these sample sizes.

This is a report, not a test: it never fails on timing (exit status 0 unless
the script itself breaks).

Usage::

    python tests/timing/timing_check.py            # full run, a few minutes
    python tests/timing/timing_check.py --quick    # ~30-60 s (CI)
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import boltcall_webhooks as bw

THRESHOLD = 4.5
"""dudect's threshold: |t| above it is taken as evidence of a timing difference."""

CROPS = (99.0, 95.0, 90.0, 75.0)
"""Percentiles at which slow outliers are cut before the test.

Uncropped samples (p100) are not tested: on a shared machine their tail is made
of preemptions and interrupts, which break the t-test's assumptions without
saying anything about the code under test.
"""

_BODY = json.dumps(
    {
        "event": "call_completed",
        "timestamp": "2025-03-20T09:17:22Z",
        "data": {
            "id": "call_8f2k1",
            "agent_id": "agent_12",
            "direction": "inbound",
            "caller": "+15555550123",
            "duration_seconds": 184,
            "status": "completed",
            "sentiment": "positive",
            "summary": "The caller asked for a quote and booked a visit for Friday morning.",
            "recording_url": "https://cdn.example.com/rec/call_8f2k1.mp3",
            "transcript_url": "https://cdn.example.com/tr/call_8f2k1.txt",
        },
    }
).encode()

_SECRETS = {
    name: "whsec_" + hashlib.sha256(f"boltcall-timing-{name}".encode()).hexdigest()[:32]
    for name in (
        "new_lead",
        "missed_call",
        "appointment_booked",
        "call_completed",
        "review_received",
    )
}
_FIRST, _LAST = _SECRETS["new_lead"], _SECRETS["review_received"]


def _sign(secret: str) -> str:
    return hmac.new(secret.encode(), _BODY, hashlib.sha256).hexdigest()


def _flip(signature: str, index: int) -> str:
    """The signature with byte ``index`` (0..31) changed in all its bits."""
    raw = bytearray(bytes.fromhex(signature))
    raw[index] ^= 0xFF
    return raw.hex()


def _naive_equal(a: str, b: str) -> bool:
    """A leaky comparison (positive control): stops at the first difference."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):  # noqa: SIM110 - the early exit is the point
        if x != y:
            return False
    return True


def _caught(call: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        try:
            return call()
        except bw.InvalidSignatureError:
            return None

    return run


@dataclass
class Group:
    """Input classes timed together.

    ``public`` lists the pairs whose outcomes differ (accepted vs refused): the
    sender sees the outcome anyway, so a time difference there reveals nothing
    secret. The other pairs have the same outcome and must take the same time.
    """

    title: str
    classes: dict[str, Callable[[], object]]
    public: frozenset[frozenset[str]] = frozenset()


def _groups() -> list[Group]:
    one = _SECRETS["call_completed"]
    good = _sign(one)
    first_wrong, last_wrong = _flip(good, 0), _flip(good, 31)
    five = tuple(_SECRETS.values())
    mapping = dict(_SECRETS)
    by_first, by_last = _sign(_FIRST), _sign(_LAST)
    none = _sign("whsec_" + "0" * 32)
    verifier = bw.Verifier(mapping)
    body = _BODY
    wrong_vs_right = frozenset(
        {frozenset({"first byte wrong", "correct"}), frozenset({"last byte wrong", "correct"})}
    )
    nomatch = frozenset(
        {frozenset({"match first", "no match"}), frozenset({"match last", "no match"})}
    )
    return [
        Group(
            "one secret, is_valid_signature",
            {
                "first byte wrong": lambda: bw.is_valid_signature(body, first_wrong, one),
                "last byte wrong": lambda: bw.is_valid_signature(body, last_wrong, one),
                "correct": lambda: bw.is_valid_signature(body, good, one),
            },
            public=wrong_vs_right,
        ),
        Group(
            "one secret, verify_signature (exception caught in every branch)",
            {
                "first byte wrong": _caught(lambda: bw.verify_signature(body, first_wrong, one)),
                "last byte wrong": _caught(lambda: bw.verify_signature(body, last_wrong, one)),
                "correct": _caught(lambda: bw.verify_signature(body, good, one)),
            },
            public=wrong_vs_right,
        ),
        Group(
            "5 secrets (sequence), is_valid_signature",
            {
                "match first": lambda: bw.is_valid_signature(body, by_first, five),
                "match last": lambda: bw.is_valid_signature(body, by_last, five),
                "no match": lambda: bw.is_valid_signature(body, none, five),
            },
            public=nomatch,
        ),
        Group(
            "5 secrets (mapping), is_valid_signature",
            {
                "match first": lambda: bw.is_valid_signature(body, by_first, mapping),
                "match last": lambda: bw.is_valid_signature(body, by_last, mapping),
                "no match": lambda: bw.is_valid_signature(body, none, mapping),
            },
            public=nomatch,
        ),
        Group(
            "5 secrets (mapping), Verifier.verify (exception caught in every branch)",
            {
                "match first": _caught(lambda: verifier.verify(body, by_first)),
                "match last": _caught(lambda: verifier.verify(body, by_last)),
                "no match": _caught(lambda: verifier.verify(body, none)),
            },
            public=nomatch,
        ),
        Group(
            "CONTROL: naive early-exit str comparison (must show a leak)",
            {
                "first byte wrong": lambda: _naive_equal(first_wrong, good),
                "last byte wrong": lambda: _naive_equal(last_wrong, good),
            },
        ),
    ]


def measure(
    classes: dict[str, Callable[[], object]],
    times: dict[str, list[int]],
    samples: int,
    inner: int,
    rng: random.Random,
    batch: int = 200,
) -> None:
    """Add samples to ``times`` until each class has ``samples``.

    A sample is the time of ``inner`` consecutive calls; within a batch, the
    samples of all classes are taken in a random order, so that drift (other
    processes, frequency changes) falls on every class alike.
    """
    clock = time.perf_counter_ns
    if not any(times.values()):
        for call in classes.values():  # warm up caches and the specialising interpreter
            for _ in range(2000):
                call()
    while min(len(times[name]) for name in classes) < samples:
        order = list(classes) * batch
        rng.shuffle(order)
        gc.collect()
        gc.disable()
        try:
            for name in order:
                call = classes[name]
                start = clock()
                for _ in range(inner):
                    call()
                times[name].append(clock() - start)
        finally:
            gc.enable()


def sample_size(mde_pct: float, n: int, target_pct: float) -> int:
    """Samples per class needed to bring the MDE from ``mde_pct`` (at ``n``) to the target."""
    return math.ceil(n * (mde_pct / target_pct) ** 2 * 1.1)


def _percentile(sorted_values: Sequence[int], pct: float) -> float:
    if pct >= 100.0:
        return math.inf
    index = min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100.0))
    return float(sorted_values[index])


@dataclass
class Comparison:
    """Welch's t-test between two classes, at one crop level."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    t: float
    mde_pct: float


def _mean_var(values: Sequence[int]) -> tuple[float, float]:
    """Mean and sample variance in floating point (``statistics`` is exact, and slow)."""
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((x - mean) ** 2 for x in values) / (len(values) - 1)


def welch(a: Sequence[int], b: Sequence[int]) -> Comparison:
    """Welch's t statistic, and the smallest difference |t| = 4.5 would reveal."""
    mean_a, var_a = _mean_var(a)
    mean_b, var_b = _mean_var(b)
    se = math.sqrt(var_a / len(a) + var_b / len(b))
    t = (mean_a - mean_b) / se if se > 0 else 0.0
    mde = THRESHOLD * se / ((mean_a + mean_b) / 2) * 100.0
    return Comparison(len(a), len(b), mean_a, mean_b, t, mde)


def compare(a: Sequence[int], b: Sequence[int]) -> dict[float, Comparison]:
    """Welch's test after cropping both classes at each percentile of the pooled samples."""
    pooled = sorted([*a, *b])
    results: dict[float, Comparison] = {}
    for pct in CROPS:
        cut = _percentile(pooled, pct)
        results[pct] = welch([x for x in a if x <= cut], [x for x in b if x <= cut])
    return results


def _reading(t: float, *, public: bool, control: bool) -> str:
    leak = abs(t) > THRESHOLD
    if control:
        return "leak detected: the method works" if leak else "NOT detected: too noisy"
    if public:
        return "differs; outcome is public anyway" if leak else "no difference found"
    return "LEAK EVIDENCE" if leak else "no leak found"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


MAIN_CROP = 95.0
"""The crop level reported in the main column (the others feed the max column)."""


def _pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]


def _collect(
    group: Group, args: argparse.Namespace, rng: random.Random
) -> tuple[dict[str, list[int]], int]:
    """Measure a pilot, then as many samples as the target MDE needs (within the cap)."""
    times: dict[str, list[int]] = {name: [] for name in group.classes}
    measure(group.classes, times, args.pilot, args.inner, rng)
    worst = max(
        compare(times[a], times[b])[MAIN_CROP].mde_pct for a, b in _pairs(list(group.classes))
    )
    wanted = sample_size(worst, args.pilot, args.target_mde)
    goal = min(max(wanted, args.min_samples), args.max_samples)
    measure(group.classes, times, goal, args.inner, rng)
    return times, wanted


def main(argv: list[str] | None = None) -> int:
    """Measure every group and print one table row per pair of classes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI)")
    parser.add_argument("--target-mde", type=float, default=None, help="in %% of the mean")
    parser.add_argument("--min-samples", type=int, default=None, help="per class")
    parser.add_argument("--max-samples", type=int, default=None, help="per class")
    parser.add_argument("--inner", type=int, default=4, help="calls timed per sample")
    parser.add_argument("--seed", type=int, default=None, help="seed of the shuffles")
    parser.add_argument("--only", default="", help="measure the groups whose title has this")
    args = parser.parse_args(argv)
    quick = args.quick
    args.target_mde = args.target_mde or (0.8 if quick else 0.4)
    args.min_samples = args.min_samples or (10_000 if quick else 100_000)
    args.max_samples = args.max_samples or (60_000 if quick else 400_000)
    args.pilot = min(args.min_samples, 5_000 if quick else 20_000)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, boltcall-webhooks "
        f"{bw.__version__}; target MDE {args.target_mde}% with {args.min_samples:,} to "
        f"{args.max_samples:,} samples per class, {args.inner} calls per sample, "
        f"shuffle seed {seed}; body {len(_BODY)} bytes"
    )
    rows = [
        [
            "group", "pair", "n", "mean a ns", "mean b ns", "diff %",
            "max |t|", "|t| " + "/".join(f"p{c:g}" for c in CROPS), "diff ns at max",
            "MDE %", "same outcome?", "reading",
        ]
    ]  # fmt: skip
    started = time.monotonic()
    for group in (g for g in _groups() if args.only in g.title):
        times, wanted = _collect(group, args, rng)
        for a, b in _pairs(list(group.classes)):
            crops = compare(times[a], times[b])
            main_crop = crops[MAIN_CROP]
            at_max = max(crops.values(), key=lambda c: abs(c.t))
            worst = abs(at_max.t)
            rows.append([
                group.title, f"{a} vs {b}", f"{main_crop.n_a:,}/{main_crop.n_b:,}",
                f"{main_crop.mean_a / args.inner:.0f}", f"{main_crop.mean_b / args.inner:.0f}",
                f"{(main_crop.mean_a - main_crop.mean_b) / main_crop.mean_b * 100:+.2f}",
                f"{worst:.2f}", "/".join(f"{abs(crops[c].t):.1f}" for c in CROPS),
                f"{(at_max.mean_a - at_max.mean_b) / args.inner:+.1f}",
                f"{main_crop.mde_pct:.2f}",
                "no" if frozenset({a, b}) in group.public else "yes",
                _reading(
                    worst,
                    public=frozenset({a, b}) in group.public,
                    control=group.title.startswith("CONTROL"),
                ),
            ])  # fmt: skip
        taken = len(next(iter(times.values())))
        note = "" if wanted <= args.max_samples else f" (target wanted {wanted:,}: capped)"
        print(
            f"  {group.title}: {taken:,} samples per class{note} "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    print()
    print(_table(rows))
    print(
        "\n|t| pNN: Welch's t after cutting the samples above the NNth percentile of the "
        "pair; max |t|: the largest of them (dudect reports the maximum); diff ns at max: "
        "the mean difference per call at that crop.\n"
        f"Means, diff % and MDE % are at the p{MAIN_CROP:g} crop. MDE %: the smallest mean "
        f"difference this run would flag (|t| = {THRESHOLD}), as a percentage of the mean "
        "time; below 1% means a 1% difference would have been seen.\n"
        "Means are per call (a sample times several calls)."
    )
    print(f"total time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
