"""What came back from one target: outcomes per kind, the checks, and the report."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from load_traffic import EXPECTED, Settings


@dataclass(slots=True)
class Outcome:
    """What came back for every job of one kind."""

    statuses: Counter[int | str] = field(default_factory=Counter[int | str])
    latencies: list[float] = field(default_factory=list[float])
    wrong_echo: int = 0
    errors: Counter[str] = field(default_factory=Counter[str])


@dataclass(frozen=True, slots=True)
class Block:
    """One throughput block: wall time, and CPU time used by the server processes."""

    kind: str
    requests: int
    seconds: float
    server_cpu_seconds: float


@dataclass(slots=True)
class Results:
    """Everything measured against one target (an example app under its server)."""

    target: str
    server: str
    phase: str = "warm-up"
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict[str, dict[str, Outcome]])
    genuine_ids: set[str] = field(default_factory=set[str])
    other_ids: set[str] = field(default_factory=set[str])
    blocks: list[Block] = field(default_factory=list["Block"])
    rss: list[tuple[str, dict[int, int]]] = field(default_factory=list[tuple[str, dict[int, int]]])
    handled: Counter[str] = field(default_factory=Counter[str])
    server_errors: Counter[str] = field(default_factory=Counter[str])
    intruders: Counter[str] = field(default_factory=Counter[str])
    mix_seconds: float = 0.0
    failures: list[str] = field(default_factory=list[str])

    def outcome(self, kind: str) -> Outcome:
        """The outcome of ``kind`` in the current phase."""
        return self.outcomes.setdefault(self.phase, {}).setdefault(kind, Outcome())


def server_errors(log: str) -> Counter[str]:
    """The exceptions in the server's log, by their last line (``Type: message``)."""
    found: Counter[str] = Counter()
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("Traceback"):
            last = next(
                (ln for ln in lines[number + 1 :] if ln and not ln.startswith((" ", "\t"))),
                "(end of log)",
            )
            found[last] += 1
    return found


def check(results: Results, settings: Settings) -> None:
    """Append a message to ``results.failures`` for every broken promise."""
    fail = results.failures.append
    handled = results.handled
    missing = results.genuine_ids - handled.keys()
    if missing:
        fail(f"{len(missing)} genuine deliveries never reached the handler (e.g. {min(missing)})")
    twice = sorted(i for i in results.genuine_ids if handled[i] > 1)
    if twice:
        fail(f"{len(twice)} genuine deliveries reached the handler more than once")
    intruders = handled.keys() - results.genuine_ids
    if intruders:
        # A tampered body carries its id in upper case.
        known = (i if i in results.other_ids else i.lower() for i in intruders)
        results.intruders = Counter(
            i.split("-")[1] if i in results.other_ids else "unknown" for i in known
        )
        fail(f"requests that must be refused reached the handler: {dict(results.intruders)}")
    for phase, by_kind in results.outcomes.items():
        for kind, outcome in by_kind.items():
            wrong = {s: n for s, n in outcome.statuses.items() if s not in EXPECTED[kind]}
            if wrong:
                fail(f"{phase}, {kind}: expected {sorted(EXPECTED[kind], key=str)}, got {wrong}")
                if outcome.errors:
                    fail(f"  client errors: {dict(outcome.errors.most_common(3))}")
            if outcome.wrong_echo:
                fail(
                    f"{phase}, {kind}: {outcome.wrong_echo} answers of 200 were not "
                    "{received: true}"
                )
    first, last = results.rss[0][1], results.rss[-1][1]
    growth = (sum(last.values()) - sum(first.values())) / 1024
    if growth > settings.max_rss_growth_mib:
        fail(f"server RSS grew by {growth:.1f} MiB (limit {settings.max_rss_growth_mib} MiB)")
    # Nothing a client sends may raise in the server (a raise is logged with a
    # traceback, and answered 500 when the client is still there).
    if results.server_errors:
        fail(f"the server logged exceptions: {dict(results.server_errors)}")
    if results.blocks:
        ratio = throughput(results)["median_round_ratio"]
        if ratio < settings.min_ratio:
            fail(
                f"router endpoint/baseline requests/s {ratio:.3f} (median per round) is below "
                f"{settings.min_ratio}"
            )


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def throughput(results: Results) -> dict[str, Any]:
    """Requests/second and server CPU per request of the router endpoint and the baseline."""
    totals: dict[str, list[float]] = {"tp_webhook": [0, 0.0, 0.0], "bare": [0, 0.0, 0.0]}
    for block in results.blocks:
        total = totals[block.kind]
        total[0] += block.requests
        total[1] += block.seconds
        total[2] += block.server_cpu_seconds
    webhook_rps = totals["tp_webhook"][0] / totals["tp_webhook"][1]
    bare_rps = totals["bare"][0] / totals["bare"][1]
    webhook_cpu = totals["tp_webhook"][2] / totals["tp_webhook"][0]
    bare_cpu = totals["bare"][2] / totals["bare"][0]
    per_round: list[float] = []
    for i in range(0, len(results.blocks) - 1, 2):
        rps = {b.kind: b.requests / b.seconds for b in results.blocks[i : i + 2]}
        per_round.append(rps["tp_webhook"] / rps["bare"])
    return {
        "webhook_rps": webhook_rps,
        "bare_rps": bare_rps,
        "ratio": webhook_rps / bare_rps,
        "round_ratios": per_round,
        "median_round_ratio": statistics.median(per_round),
        "webhook_server_cpu_us": 1e6 * webhook_cpu,
        "bare_server_cpu_us": 1e6 * bare_cpu,
        # The CPU clock ticks in 10 ms steps: a short run (the control) may read 0.
        "cpu_ratio": webhook_cpu / bare_cpu if bare_cpu > 0 else float("nan"),
        # CPU cores the server kept busy: near its capacity, requests/s measure the
        # server; well below, they measure the client (on the same machine).
        "webhook_server_cores": totals["tp_webhook"][2] / totals["tp_webhook"][1],
        "bare_server_cores": totals["bare"][2] / totals["bare"][1],
    }


def summary(results: Results, settings: Settings) -> dict[str, Any]:
    """The figures of one server run, as JSON-ready data."""
    rss = [(label, sum(sizes.values()) / 1024) for label, sizes in results.rss]
    return {
        "target": results.target,
        "server": results.server,
        "throughput": throughput(results),
        "phases": {
            phase: {
                kind: {
                    "outcomes": {str(s): n for s, n in sorted(o.statuses.items(), key=str)},
                    "p50_ms": 1000 * percentile(o.latencies, 0.50),
                    "p99_ms": 1000 * percentile(o.latencies, 0.99),
                }
                for kind, o in sorted(by_kind.items())
            }
            for phase, by_kind in results.outcomes.items()
        },
        "requests": sum(
            sum(o.statuses.values()) for by in results.outcomes.values() for o in by.values()
        ),
        "mix_requests": settings.mix,
        "mix_requests_per_second": settings.mix / results.mix_seconds,
        "genuine_sent": len(results.genuine_ids),
        "genuine_handled_once": sum(1 for i in results.genuine_ids if results.handled[i] == 1),
        "handled_total": sum(results.handled.values()),
        "server_exceptions": dict(results.server_errors),
        "rss_mib": rss,
        "rss_growth_mib": rss[-1][1] - rss[0][1],
        "processes": len(results.rss[0][1]),
        "failures": results.failures,
    }


def render(data: dict[str, Any], settings: Settings) -> str:
    """The human-readable tables for one server."""
    tp = data["throughput"]
    lat = data["phases"]["throughput"]
    out = [
        f"== {data['target']} example under {data['server']} "
        f"({data['processes']} server process(es), "
        f"{settings.concurrency} concurrent clients) ==",
        "",
        f"{'route':<22}{'requests':>9}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'server CPU us/request':>23}{'server cores busy':>19}",
    ]
    for kind, label in (("tp_webhook", "router endpoint"), ("bare", "baseline (json.loads)")):
        row = lat[kind]
        n = sum(row["outcomes"].values())
        name = "webhook" if kind == "tp_webhook" else "bare"
        out.append(
            f"{label:<22}{n:>9}{tp[name + '_rps']:>12.0f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{tp[name + '_server_cpu_us']:>23.0f}"
            f"{tp[name + '_server_cores']:>19.2f}"
        )
    out += [
        f"router endpoint/baseline requests/s: {tp['ratio']:.3f} over all blocks, "
        f"median per round "
        f"{tp['median_round_ratio']:.3f} (rounds: "
        + ", ".join(f"{r:.2f}" for r in tp["round_ratios"])
        + ")",
        f"server CPU per request, router endpoint/baseline: {tp['cpu_ratio']:.3f} "
        f"(+{tp['webhook_server_cpu_us'] - tp['bare_server_cpu_us']:.0f} us per delivery); "
        f"requests/s one busy server core sustains, router endpoint/baseline: "
        f"{1 / tp['cpu_ratio']:.3f}",
        "",
        f"mixed phase ({data['mix_requests']} requests, "
        f"{data['mix_requests_per_second']:.0f} requests/s):",
        f"{'kind':<20}{'expected':<27}{'outcomes':<40}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for kind, row in data["phases"]["mix"].items():
        expected = "/".join(str(e) for e in sorted(EXPECTED[kind], key=str))
        seen = ", ".join(f"{s}: {n}" for s, n in row["outcomes"].items())
        out.append(f"{kind:<20}{expected:<27}{seen:<40}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}")
    warm = data["phases"]["warm-up"]
    out += [
        "",
        f"warm-up: {sum(sum(r['outcomes'].values()) for r in warm.values())} requests, "
        "every kind; one genuine delivery after the run: "
        + ", ".join(
            f"{s}: {n}" for s, n in data["phases"]["after"]["liveness"]["outcomes"].items()
        ),
        f"requests in total: {data['requests']}",
        f"genuine sent {data['genuine_sent']}, reached the handler exactly once "
        f"{data['genuine_handled_once']}; handler calls in total {data['handled_total']}",
        "server RSS (MiB, all processes): "
        + ", ".join(f"{label} {mib:.1f}" for label, mib in data["rss_mib"])
        + f"; growth {data['rss_growth_mib']:+.1f}",
        "server-side exceptions: "
        + (", ".join(f"{e} x{n}" for e, n in data["server_exceptions"].items()) or "none"),
        "checks: " + ("all passed" if not data["failures"] else "FAILED"),
        *(f"  - {failure}" for failure in data["failures"]),
        "",
    ]
    return "\n".join(out)
