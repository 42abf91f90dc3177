"""The server's processes as seen from ``/proc``: which they are, their memory and CPU time."""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Sequence
from typing import Final


def server_processes() -> list[int]:
    """The pids of every descendant of this process (the server and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = pathlib.Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    queue = [os.getpid()]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return sorted(found)


def rss_kib(pids: Sequence[int]) -> dict[int, int]:
    """``VmRSS`` in KiB of each pid (0 for a process that is gone)."""
    sizes: dict[int, int] = {}
    for pid in pids:
        sizes[pid] = 0
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1])
    return sizes


CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time used so far by the processes (all their threads)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS
