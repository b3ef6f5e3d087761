"""What the kernel knows about a process: CPU time and memory from /proc, and which cores it may use."""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def memory_kib(pid: int, field: str) -> int:
    """A `Vm*` line of /proc/<pid>/status (VmRSS now, VmHWM the peak so far), in KiB; 0 when gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def core_split() -> tuple[frozenset[int], frozenset[int]]:
    """(cores for the target, cores for the harness). Both empty when there are too few to separate."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return frozenset(), frozenset()
    return frozenset(cores[:1]), frozenset(cores[1:])


def pin_to(cores: frozenset[int]) -> None:
    """For `preexec_fn`: set before exec, so every thread the child starts inherits the mask."""
    if cores:
        os.sched_setaffinity(0, cores)
