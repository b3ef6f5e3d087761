"""What the kernel knows about a process: CPU time and memory from /proc, and which cores it may use."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent not idle since boot (all processes, ours or not)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


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


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds used so far: by the machine, the target's processes, the sink, the NATS server (when a
    scenario runs one), and this process with its reaped children."""

    at: float
    machine: float
    target: float
    sink: float
    nats: float
    ours: float

    @classmethod
    def take(cls, target_pids: Sequence[int], sink_pid: int, nats_pid: int | None = None) -> CpuSnapshot:
        mine = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime
        target = sum(cpu_seconds(pid) for pid in target_pids)
        nats = cpu_seconds(nats_pid) if nats_pid is not None else 0.0
        return cls(time.monotonic(), machine_busy_seconds(), target, cpu_seconds(sink_pid), nats, ours)

    def others_busy_since(self, earlier: CpuSnapshot) -> float:
        """Cores that processes outside the benchmark kept busy between two snapshots."""
        ours = (
            (self.target - earlier.target)
            + (self.sink - earlier.sink)
            + (self.nats - earlier.nats)
            + (self.ours - earlier.ours)
        )
        return max(0.0, self.machine - earlier.machine - ours) / max(1e-9, self.at - earlier.at)
