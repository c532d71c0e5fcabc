"""What /proc tells about the processes a benchmark starts (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
# Positions in `_stat`'s fields (proc(5) less the pid and the command): parent, then user,
# system, reaped children's user and system CPU ticks.
PPID, UTIME, STIME, CUTIME, CSTIME = 1, 11, 12, 13, 14


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (None once it is gone)."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) and int(fields[PPID]) == pid:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    """The command line of `pid` ("" once it is gone)."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` in MiB (0 once it is gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def api_workers(pid: int) -> list[int]:
    """The processes serving requests under uvicorn `pid`: its spawned workers, or itself."""
    return [child for child in children(pid) if "spawn_main" in cmdline(child)] or [pid]


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (all their threads)."""
    total = 0
    for pid in pids:
        if fields := _stat(pid):
            total += int(fields[UTIME]) + int(fields[STIME])
    return total / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants so far: the live ones, and the
    exited ones their parents reaped (a run worker's CPU lands in its code server's)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        if fields := _stat(current):
            total += sum(int(fields[i]) for i in (UTIME, STIME, CUTIME, CSTIME))
            pending += children(current)
    return total / os.sysconf("SC_CLK_TCK")


def load() -> list[float]:
    """The load averages over 1, 5 and 15 minutes."""
    return [round(value, 2) for value in os.getloadavg()]
