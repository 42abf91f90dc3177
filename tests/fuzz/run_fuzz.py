"""Run every atheris harness for a time budget and print what it reached.

Each harness runs in its own process (libFuzzer fuzzes one target per process)
on a fresh corpus seeded with realistic envelopes, in a temporary directory, so
nothing is written to the checkout. Afterwards the corpus each run built is
replayed once without instrumentation, under coverage.py when it is installed,
to count the outcomes (accepted, or which error) and the lines of the package
it reached.

Usage::

    python tests/fuzz/run_fuzz.py                    # ~4 minutes in total
    python tests/fuzz/run_fuzz.py --total-seconds 30 # a short run (CI)
    python tests/fuzz/run_fuzz.py --harness parse --keep /tmp/corpus

Exit status: 0 when no harness crashed, 1 otherwise (the crashing input is kept
and its path printed, with the command to reproduce it).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _seeds import seed_envelopes  # noqa: E402

DICTIONARY = HERE / "boltcall.dict"

# Control-byte prefixes put in front of each seed body for the harnesses that
# read four control bytes (see their docstrings).
_PREFIXES: dict[str, tuple[bytes, ...]] = {
    "construct": (b"\x00\x02\x00\x00", b"\x84\x03\x81\x10", b"\x05\x02\x04\x00"),
    "wrong_key": (
        b"\x02\x04\x00\x00",
        b"\x01\x02\x03\x10",
        b"\x00\x01\x04\x00",
        b"\x02\x00\x10\x00",
    ),
}
# The modules the harnesses target (adapters, CLI and API client are out of scope).
_CORE = ",".join(
    f"*/boltcall_webhooks/{m}.py"
    for m in ("__init__", "_errors", "_events", "_parsing", "_secrets", "_signing", "_verifier")
)
HARNESSES = ("headers", "construct", "parse", "wrong_key")

_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_SEED = re.compile(r"INFO: Seed: (\d+)")
_OUTCOME = re.compile(r"^  (.+): (\d+)$", re.MULTILINE)
_TOTAL = re.compile(r"^TOTAL\s.*?(\d+(?:\.\d+)?)%$", re.MULTILINE)


@dataclasses.dataclass
class Result:
    """What one harness run reached."""

    name: str
    seconds: float
    executions: int = 0
    exec_per_sec: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    new_units: int = 0
    peak_rss_mb: int = 0
    seed: str = "?"
    crashed: bool = False
    outcomes: dict[str, int] = dataclasses.field(default_factory=dict)


def _write_seeds(name: str, corpus: pathlib.Path, seeds: Iterable[bytes]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for i, body in enumerate(seeds):
        for j, prefix in enumerate(_PREFIXES.get(name, (b"",))):
            (corpus / f"seed-{i:02d}-{j}").write_bytes(prefix + body)


def _fuzz(name: str, seconds: int, corpus: pathlib.Path, work: pathlib.Path) -> Result:
    log = work / f"{name}.log"
    command = [
        sys.executable,
        str(HERE / f"fuzz_{name}.py"),
        f"-max_total_time={seconds}",
        "-print_final_stats=1",
        "-max_len=4096",
        "-timeout=10",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={work}/{name}-",
    ]
    if name != "headers":  # the headers harness reads its input through a data provider
        command.append(f"-dict={DICTIONARY}")
    command.append(str(corpus))
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    result = Result(name, time.monotonic() - started)
    text = log.read_text(errors="replace")
    done = _DONE.findall(text)
    if done:
        runs, cov, ft, corp = done[-1]
        result.executions, result.cov, result.ft, result.corpus = (
            int(runs),
            int(cov),
            int(ft),
            int(corp),
        )
    stats = dict(_STAT.findall(text))
    result.executions = int(stats.get("number_of_executed_units", result.executions))
    result.exec_per_sec = int(stats.get("average_exec_per_sec", 0))
    result.new_units = int(stats.get("new_units_added", 0))
    result.peak_rss_mb = int(stats.get("peak_rss_mb", 0))
    seed = _SEED.search(text)
    result.seed = seed.group(1) if seed else "?"
    result.crashed = code.returncode != 0 or not done
    if result.crashed:
        print(f"\n!!! {name}: libFuzzer exit status {code.returncode}; log: {log}")
        print("\n".join(text.splitlines()[-40:]))
        for artifact in sorted(work.glob(f"{name}-*")):
            print(f"crashing input: {artifact}")
            print(f"reproduce: python {HERE / f'fuzz_{name}.py'} --replay {artifact}")
    return result


def _coverage_available() -> bool:
    try:
        import coverage  # noqa: F401
    except ImportError:
        return False
    return True


def _replay(result: Result, corpus: pathlib.Path, coverage_file: pathlib.Path | None) -> None:
    harness = str(HERE / f"fuzz_{result.name}.py")
    if coverage_file is None:
        command = [sys.executable, harness, "--replay", str(corpus)]
    else:
        command = [
            sys.executable, "-m", "coverage", "run", "--append", "--branch",
            f"--rcfile={os.devnull}", f"--data-file={coverage_file}",
            "--source=boltcall_webhooks", harness, "--replay", str(corpus),
        ]  # fmt: skip
    # Run outside the checkout: there, coverage would take --source for the source
    # directory instead of the installed package.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=corpus.parent)
    if done.returncode != 0:
        result.crashed = True
        print(f"\n!!! {result.name}: the corpus replay failed\n{done.stdout}{done.stderr}")
    result.outcomes = {k: int(v) for k, v in _OUTCOME.findall(done.stdout)}


def _line_coverage(coverage_file: pathlib.Path) -> str:
    done = subprocess.run(
        [
            sys.executable, "-m", "coverage", "report", f"--rcfile={os.devnull}",
            f"--data-file={coverage_file}", "--show-missing", f"--include={_CORE}",
        ],
        capture_output=True, text=True, check=False, cwd=coverage_file.parent,
    )  # fmt: skip
    print("\nCore coverage reached by replaying the fuzz corpora (coverage.py):")
    print(re.sub(r"\S*site-packages/", "", done.stdout))
    total = _TOTAL.search(done.stdout)
    return f"{total.group(1)}%" if total else "?"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _summary(results: list[Result], line_coverage: str) -> None:
    rows = [["harness", "seconds", "executions", "exec/s", "cov", "ft", "corpus", "crashes"]]
    for r in results:
        rows.append([
            r.name, f"{r.seconds:.0f}", f"{r.executions:,}", f"{r.exec_per_sec:,}",
            str(r.cov), str(r.ft), str(r.corpus), "YES" if r.crashed else "0",
        ])  # fmt: skip
    rows.append([
        "total", f"{sum(r.seconds for r in results):.0f}",
        f"{sum(r.executions for r in results):,}", "", "", "", "",
        str(sum(r.crashed for r in results)),
    ])  # fmt: skip
    print("\nFuzzing summary (cov/ft: libFuzzer edges/features in boltcall_webhooks)")
    print(_table(rows))
    print(f"\nLine+branch coverage of the core modules by the final corpora: {line_coverage}")
    print("\nOutcomes when replaying each final corpus (one count per entry point tried):")
    for r in results:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items())) or "-"
        print(f"  {r.name} (libFuzzer seed {r.seed}): {shown}")


def main(argv: list[str] | None = None) -> int:
    """Fuzz each harness for its share of the budget and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-seconds", type=int, default=240, help="budget for all harnesses")
    parser.add_argument("--harness", action="append", choices=HARNESSES, help="repeatable")
    parser.add_argument("--keep", type=pathlib.Path, help="keep the corpora and logs here")
    args = parser.parse_args(argv)
    names: list[str] = args.harness or list(HARNESSES)
    share = max(1, args.total_seconds // len(names))
    work = pathlib.Path(tempfile.mkdtemp(prefix="boltcall-fuzz-"))
    seeds = list(seed_envelopes())
    coverage_file = work / ".coverage" if _coverage_available() else None
    results: list[Result] = []
    for name in names:
        corpus = work / "corpus" / name
        _write_seeds(name, corpus, seeds)
        print(f"fuzzing {name} for {share} s ...", flush=True)
        result = _fuzz(name, share, corpus, work)
        _replay(result, corpus, coverage_file)
        results.append(result)
    line_coverage = _line_coverage(coverage_file) if coverage_file else "not measured"
    _summary(results, line_coverage)
    crashed = any(r.crashed for r in results)
    if args.keep is not None:
        shutil.copytree(work, args.keep, dirs_exist_ok=True)
        print(f"\ncorpora and logs copied to {args.keep}")
    if crashed:
        print(f"\nA harness crashed; inputs and logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
