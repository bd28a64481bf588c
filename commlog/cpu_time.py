"""Processor time on this machine (Linux /proc): what each part of a run spent, where the wall clock
alone cannot say, because every part (the app servers, PostgreSQL, haproxy, the bench's own senders)
shares the same cores.

`Meter.start()` reads every counter once; `Meter.spent()` is what each part used since, in seconds,
and how busy the whole machine was. A part is a set of processes: given by pid (a replica, haproxy,
this process), or by name (every `postgres` process, plus the backends that exited meanwhile, which
the postmaster has counted as its children's time). Where /proc cannot be read, a part reads as None.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessTimes:
    """One process's /proc/<pid>/stat times, in seconds."""

    name: str
    parent: int
    own: float  # utime + stime: all of its threads
    children: float  # cutime + cstime: its children that exited and were waited for


def parse_stat(text: str) -> ProcessTimes:
    """One /proc/<pid>/stat line. The name sits in parentheses and may itself hold spaces and ')'
    (a process may call itself anything), so the fields are read after the last ')'."""
    head, _, rest = text.rpartition(")")
    name = head.split("(", 1)[1] if "(" in head else head
    fields = rest.split()  # fields[0] is the state (field 3 of proc(5)), so field n is fields[n - 3]
    return ProcessTimes(
        name=name,
        parent=int(fields[1]),
        own=(int(fields[11]) + int(fields[12])) / _TICK,
        children=(int(fields[13]) + int(fields[14])) / _TICK,
    )


def process_times(pid: int) -> ProcessTimes | None:
    try:
        return parse_stat((_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace"))
    except (OSError, IndexError, ValueError):
        return None


def _all_processes() -> dict[int, ProcessTimes]:
    found: dict[int, ProcessTimes] = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if entry.name.isdigit() and (times := process_times(int(entry.name))) is not None:
            found[int(entry.name)] = times
    return found


def named_seconds(name: str) -> float | None:
    """Every process called `name`, with what its exited children had used (PostgreSQL's postmaster
    waits for its backends, so a backend that ended during the run is still counted)."""
    procs = _all_processes()
    mine = {pid: p for pid, p in procs.items() if p.name == name}
    if not mine:
        return None
    # Children's time only of the topmost ones: a backend's own exited children are already in it.
    return sum(p.own + (p.children if p.parent not in mine else 0.0) for p in mine.values())


def pid_seconds(pid: int) -> float | None:
    times = process_times(pid)
    return None if times is None else times.own + times.children


def machine_busy() -> tuple[int, int] | None:
    """(busy ticks, all ticks) summed over every core since boot, from /proc/stat. Whole ticks, so
    that a share of two differences is exact: never above 1 by a rounding."""
    try:
        first = (_PROC / "stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def database_and_proxy(cluster) -> dict[str, Callable[[], float | None]]:
    """The parts of a cluster run (commlog.cluster.Cluster) besides its replicas, as a Meter reads
    them: every PostgreSQL process, and haproxy."""
    return {"PostgreSQL": lambda: named_seconds("postgres"),
            "haproxy": lambda: pid_seconds(cluster.proxy.pid) if cluster.proxy is not None else None}


@dataclass(frozen=True)
class Spent:
    seconds: Mapping[str, float | None]  # each part's processor seconds
    busy: float | None  # the machine's busy share of all its cores, 0..1
    cores: int


class Meter:
    """Processor time of named parts, between `start()` and `spent()`."""

    def __init__(self, parts: Mapping[str, Callable[[], float | None]]) -> None:
        self.parts = dict(parts)
        self._before: dict[str, float | None] = {}
        self._machine: tuple[int, int] | None = None

    def start(self) -> Meter:
        self._before = {name: read() for name, read in self.parts.items()}
        self._machine = machine_busy()
        return self

    def spent(self) -> Spent:
        seconds: dict[str, float | None] = {}
        for name, read in self.parts.items():
            now, then = read(), self._before.get(name)
            seconds[name] = None if now is None or then is None else max(0.0, now - then)
        machine = machine_busy()
        busy = None
        if machine is not None and self._machine is not None and machine[1] > self._machine[1]:
            busy = (machine[0] - self._machine[0]) / (machine[1] - self._machine[1])
        return Spent(seconds, busy, os.cpu_count() or 1)


class NamedWatch:
    """Processor time of every process called `name` between `start()` and `stop()`, those that begin
    and end in between included (a browser's page processes, whose time their parent may never be
    told of): /proc is read every `every` seconds and each process's last reading kept. Only a
    process's last moments after its last reading go uncounted, at most `every` of each."""

    def __init__(self, name: str, every: float = 0.5) -> None:
        self.name, self.every = name, every
        self._before: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._done: float = 0.0  # time of processes whose pid came back for another one
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        for pid, p in _all_processes().items():
            if p.name != self.name:
                continue
            if pid in self._last and p.own < self._last[pid]:  # the pid is another process's now
                self._done += self._last[pid] - self._before.pop(pid, 0.0)
            self._last[pid] = p.own

    def start(self) -> NamedWatch:
        self._read()
        self._before = dict(self._last)
        self._thread = threading.Thread(target=self._run, name=f"watch {self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._read()

    def stop(self) -> float:
        """The seconds spent since `start()`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._read()
        return self._done + sum(own - self._before.get(pid, 0.0) for pid, own in self._last.items())
