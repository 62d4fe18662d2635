"""CPU threads that follow the load: torch's OpenMP team shrinks when other processes take cores (issue 17).

Why (measured in ``benchmarks/bench_threads.py``, figures in ``docs/performance.md``): torch runs each CPU op on
an OpenMP team, one thread per core by default. A thread that finishes its share *spins* at the barrier
(libgomp: up to 300,000 polls) waiting for the others. When another busy process holds one of the cores, the
team's second thread only runs in that process's time slices and the first one spins away its own: on 2 cores
with one busy neighbour the chapter-2 step ran 16x slower than on one thread. A single thread has no barrier
and keeps its whole core. So: use every core while the machine is quiet, one thread fewer per core that
something else keeps busy.

How: ``/proc/stat`` counts, per CPU, the time spent busy since boot; this process's own CPU time
(``time.process_time``, all its threads) is subtracted, which leaves the cores busy with *other* processes.
Niced processes (nice > 0) are not counted: the scheduler gives their cores to us.
``ThreadGovernor.update`` re-reads it at most every ``interval`` seconds (a file read, about 0.1 ms) and calls
``torch.set_num_threads`` only when the choice changes. Importing ``vaecourse`` makes the first choice and
registers a hook that re-checks after every optimiser step (``fit``, hand-written loops, any optimiser) and,
inside IPython/Jupyter, before each cell runs, so evaluation cells get it too. Where ``/proc/stat`` does not exist (macOS, Windows) nothing is changed.

Settings: ``VAECOURSE_THREADS=N`` fixes N threads (no adapting); ``OMP_NUM_THREADS`` (or a
``torch.set_num_threads`` call of your own) caps the count the governor may use.

Environment variables are not the fix: libgomp reads ``OMP_WAIT_POLICY``/``GOMP_SPINCOUNT`` once, when torch
loads it, so a notebook that imports torch first could not be helped (measured, docs/performance.md), and no
spin setting was both fast when quiet and safe under load. ``torch.set_num_threads`` works at any time.
"""

from __future__ import annotations

import math
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from vaecourse import values

THREADS_ENV = "VAECOURSE_THREADS"
INTERVAL = 0.5  # seconds between two reads of /proc/stat during training (the reaction time to new load)
# Hysteresis, in cores (free cores = cores - cores busy elsewhere): drop threads when free < threads - DROP_MARGIN;
# add one back only when free >= threads + 1 - RAISE_MARGIN. On 2 cores: 2 -> 1 above 0.45 cores busy elsewhere,
# 1 -> 2 below 0.15.
DROP_MARGIN = 0.45
RAISE_MARGIN = 0.15
MAX_SETTLE = 60.0  # seconds between the first two readings: the default is 0.1; a minute is already a hang
MAX_STAT_BYTES = 16 * 2 ** 20  # /proc/stat is about 100 bytes per CPU: 16 MiB is far beyond any machine's

_SECONDS = values.real(f"a number of seconds between 0 and {MAX_SETTLE:g}", lambda v: v >= 0, MAX_SETTLE,
                       "the governor waits that long")
_INTERVAL = values.real("a number of seconds >= 0", lambda v: v >= 0, values.MAX_WEIGHT, "beyond it nothing is re-read")
_CPUS = values.Kind("a non-empty list of CPU numbers (ints >= 0)", lambda v: len(v) > 0 and all(n >= 0 for n in v),
                    values.indices.convert)
_TICKS = values.real("clock ticks per second, a number from 1 to 10^9", lambda v: 1 <= v <= 1e9)  # (5e-324 gave inf s)


@dataclass(frozen=True)
class CpuReading:
    """Cumulative counters at one instant: CPU seconds busy and in total over ``cpus``, and this process's."""

    busy: float  # seconds any process (or the hypervisor: steal) kept the CPUs busy, since boot
    total: float  # busy + idle + iowait seconds, since boot
    own: float  # this process's CPU seconds (all threads)
    cpus: int

    def __post_init__(self):  # a NaN or a tensor field gave a NaN share or torch's RuntimeError in busy_elsewhere
        for name in ("busy", "total", "own"):
            values.finite.check(f"CpuReading's {name} (finite seconds)", getattr(self, name))
        values.positive_int.check("CpuReading's cpus (a CPU count)", self.cpus)


_READING = values.instance("a CpuReading (from read_cpu)", CpuReading)


def allowed_cpus() -> list[int]:
    """The CPU numbers this process may run on (its affinity), or range(os.cpu_count()) where unknown."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def parse_proc_stat(text: str, cpus: list[int], ticks_per_second: float, *,
                    count_nice: bool = True) -> tuple[float, float]:
    """(busy, total) seconds of the per-CPU lines ``cpuN`` of /proc/stat for N in ``cpus``.

    Fields (proc(5)): user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is already
    inside user, so busy = user + nice + system + irq + softirq + steal and total = busy + idle + iowait.
    ``count_nice=False`` counts the time of niced processes (nice > 0) as free: they yield a core to us.

    >>> parse_proc_stat("cpu  9 0 9 9 0 0 0 0\\ncpu0 10 2 3 80 5 0 0 0 0 0\\ncpu1 1 0 1 98 0 0 0 0\\n", [0], 100)
    (0.15, 1.0)
    """
    values.text.check("parse_proc_stat's text", text)
    cpus = _CPUS.check("cpus", cpus)
    ticks_per_second = _TICKS.check("ticks_per_second", ticks_per_second)
    count_nice = values.boolean.check("count_nice", count_nice)
    wanted = {f"cpu{n}" for n in cpus}
    busy = total = 0
    found = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] not in wanted:
            continue
        if len(fields) < 9:
            raise ValueError(f"/proc/stat line {line!r}: expected at least 8 counters after the CPU name")
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
        work = user + system + irq + softirq + steal
        busy += work + (nice if count_nice else 0)
        total += work + nice + idle + iowait
        found += 1
    if found != len(wanted):
        raise ValueError(f"/proc/stat lists {found} of the CPUs {sorted(cpus)} this process may use")
    return busy / ticks_per_second, total / ticks_per_second


def read_cpu(path: str = "/proc/stat") -> CpuReading | None:
    """The counters now, or None where ``path`` cannot be read (not Linux), or is not a regular file (a FIFO would
    be read for ever, ``/dev/zero`` without end; /proc/stat is a regular file). ``path`` must be a path: an int
    would be opened as a file descriptor."""
    path = values.path.check("read_cpu's path", path)
    try:  # (files.check_regular's test, inline: importing the package loads only the switches' modules)
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
    except OSError:
        return None
    cpus = allowed_cpus()
    try:
        with open(path) as handle:
            text = handle.read(MAX_STAT_BYTES)
        # Niced processes give way to ours, so their time counts as free, unless we are niced too (then our
        # own time is in that column and is subtracted below).
        busy, total = parse_proc_stat(text, cpus, os.sysconf("SC_CLK_TCK"), count_nice=os.nice(0) > 0)
    except (OSError, ValueError, AttributeError):
        return None
    return CpuReading(busy=busy, total=total, own=time.process_time(), cpus=len(cpus))


def busy_elsewhere(before: CpuReading, after: CpuReading) -> float | None:
    """Cores kept busy by other processes between two readings (0 .. cpus); None if no time passed."""
    before, after = (_READING.check(name, r) for name, r in (("before", before), ("after", after)))
    elapsed = (after.total - before.total) / after.cpus  # wall seconds, as the kernel counted them
    if elapsed <= 0:
        return None
    others = (after.busy - before.busy) - (after.own - before.own)
    return min(max(others / elapsed, 0.0), float(after.cpus))


def choose_threads(free_cores: float, current: int, max_threads: int) -> int:
    """The thread count for ``free_cores`` cores not busy elsewhere, keeping ``current`` inside a dead band.

    Drop to floor(free + DROP_MARGIN) when fewer cores are free than threads run; raise to
    floor(free + RAISE_MARGIN) when more are free; always between 1 and ``max_threads``.

    >>> choose_threads(2.0, 2, 2), choose_threads(1.0, 2, 2), choose_threads(1.7, 1, 2), choose_threads(1.9, 1, 2)
    (2, 1, 1, 2)
    """
    for name, count in (("current", current), ("max_threads", max_threads)):
        if isinstance(count, (int, float)) and not isinstance(count, bool) and count < 1:
            raise ValueError(f"thread counts must be >= 1, got current={current}, max_threads={max_threads}")
        values.integer(f"a thread count of at most {MAX_THREADS:,} (an int >= 1)", 1, MAX_THREADS).check(
            f"choose_threads' {name}", count)  # (10^18 threads was chosen)
    free_cores = values.finite.check("free_cores (a finite number of cores)", free_cores)
    low = math.floor(free_cores + DROP_MARGIN)
    high = math.floor(free_cores + RAISE_MARGIN)
    chosen = current
    if current > low:
        chosen = low
    elif current < high:
        chosen = high
    return max(1, min(max_threads, chosen))


MAX_THREADS = 4_096  # threads one process may ask for: more than any machine's cores (10^30 was taken)


def fixed_threads(environ=os.environ) -> int | None:
    """The thread count ``VAECOURSE_THREADS`` fixes, None for unset/"auto"; a clear error otherwise."""
    environ = values.mapping.check("environ", environ)
    value = str(environ.get(THREADS_ENV, "")).strip().lower()
    if value in {"", "auto"}:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_THREADS:  # ('²'.isdigit() is True)
        raise ValueError(f"{THREADS_ENV}={environ[THREADS_ENV]!r}: expected 'auto' or a whole number from 1 to "
                         f"{MAX_THREADS:,}")
    return int(value)


class ThreadGovernor:
    """Keeps ``torch.set_num_threads`` at the number of cores other processes leave free (see the module doc).

    ``reader`` returns a CpuReading (or None: then the governor does nothing); ``clock`` is a monotonic clock;
    ``get_threads``/``set_threads`` default to torch's. All four can be replaced in tests.
    """

    def __init__(self, *, interval: float = INTERVAL, reader: Callable[[], CpuReading | None] = read_cpu,
                 clock: Callable[[], float] = time.monotonic, get_threads: Callable[[], int] | None = None,
                 set_threads: Callable[[int], None] | None = None, environ=os.environ):
        interval = _INTERVAL.check("ThreadGovernor's interval", interval)
        for name, fn in (("reader", reader), ("clock", clock)):
            values.function.check(f"ThreadGovernor's {name}", fn)
        for name, fn in (("get_threads", get_threads), ("set_threads", set_threads)):
            values.function.or_none().check(f"ThreadGovernor's {name}", fn)
        if get_threads is None or set_threads is None:
            import torch
            get_threads, set_threads = get_threads or torch.get_num_threads, set_threads or torch.set_num_threads
        self.interval = interval
        self._reader, self._clock = reader, clock
        self._get, self._set = get_threads, set_threads
        fixed = fixed_threads(environ)
        if fixed is not None:
            self._set(fixed)
        self.enabled = fixed is None
        self.max_threads = self._get()  # torch's default: OMP_NUM_THREADS, else one per core
        self._ours = self.max_threads  # the count this governor last saw or set
        self._last: CpuReading | None = None
        self._last_time = -math.inf
        self.changes: list[tuple[float, int]] = []  # (free cores, new thread count), for tests and benchmarks

    def _adopt_user_setting(self) -> int:
        """A ``torch.set_num_threads`` call by someone else becomes the new ceiling."""
        current = self._get()
        if current != self._ours:
            self.max_threads = self._ours = current
        return current

    def update(self, *, force: bool = False) -> int:
        """Re-read the load if ``interval`` has passed (or ``force``); set and return the thread count."""
        force = values.boolean.check("force", force)
        if not self.enabled:
            return self._get()
        current = self._adopt_user_setting()
        now = self._clock()
        if not force and now - self._last_time < self.interval:
            return current
        reading = self._reader()
        if reading is None:
            self.enabled = False  # no load counters on this system: leave torch's default alone
            return current
        previous, self._last, self._last_time = self._last, reading, now
        if previous is None:
            return current
        others = busy_elsewhere(previous, reading)
        if others is None:
            return current
        chosen = choose_threads(reading.cpus - others, current, self.max_threads)
        if chosen != current:
            self._set(chosen)
            self._ours = chosen
            self.changes.append((reading.cpus - others, chosen))
        return chosen

    def settle(self, seconds: float = 0.1) -> int:
        """First choice: two readings ``seconds`` apart (nothing of ours runs in between)."""
        seconds = _SECONDS.check("settle's seconds", seconds)
        if not self.enabled:
            return self._get()
        self.update(force=True)
        time.sleep(seconds)
        return self.update(force=True)


_GOVERNOR: ThreadGovernor | None = None


def governor() -> ThreadGovernor:
    """The process-wide governor (created on first use; it imports torch)."""
    global _GOVERNOR
    if _GOVERNOR is None:
        _GOVERNOR = ThreadGovernor()
    return _GOVERNOR


def follow_load() -> int:
    """Re-check the load now if the interval has passed (after every optimiser step). Returns the thread count."""
    return governor().update()


_STEP_HOOK = None  # the handle of the optimizer-step hook, once registered
# False: no re-check after optimiser steps (the test process sets this: a test that trains twice and compares
# must not see the thread count change in between; 1 and 2 threads differ in the 7th digit on conv models).
STEP_CHECKS = True


def _after_step(optimizer, args, kwargs) -> None:
    if STEP_CHECKS:
        follow_load()


def start(*, settle_seconds: float = 0.1) -> int:
    """Make the first choice; re-check after every optimiser step and, inside IPython, before every cell.

    Called by ``import vaecourse``. The step hook is torch's global ``register_optimizer_step_post_hook``: it
    covers ``fit``, the loop chapter 1 writes by hand and any loop of the learner's, on every optimiser.
    """
    global _STEP_HOOK
    settle_seconds = _SECONDS.check("start's settle_seconds", settle_seconds)
    threads = governor().settle(settle_seconds)
    if _STEP_HOOK is None:
        from torch.optim.optimizer import register_optimizer_step_post_hook
        _STEP_HOOK = register_optimizer_step_post_hook(_after_step)
    ipython = sys.modules.get("IPython")  # inside a kernel it is already loaded; never import it here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and not getattr(shell, "_vaecourse_follow_load", False):
        shell.events.register("pre_run_cell", lambda *_: follow_load())
        shell._vaecourse_follow_load = True
    return threads


__all__ = ["CpuReading", "ThreadGovernor", "busy_elsewhere", "choose_threads", "follow_load", "governor",
           "parse_proc_stat", "read_cpu", "start"]
