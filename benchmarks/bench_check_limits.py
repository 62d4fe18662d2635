"""What the exercise checks' guards cost, and how fast a time-out lands (docs/robustness.md).

Prints, each the median of ``--repeats`` runs in this one process:
1. every check on the library's reference answer, with the per-call time limit (a watchdog thread per call of the
   learner's function) and without it: the cost of the guard;
2. the latency of a time-out: seconds past ``TIME_LIMIT`` until the verdict, for an endless pure-Python loop, an
   endless loop of small torch operations, and a function stuck in one 1.5 s call into C (time.sleep), which no
   Python-level mechanism interrupts before it returns;
3. for comparison with the rejected sys.settrace design: a pure-Python loop with a line tracer that reads the
   clock, against the same loop untraced.
Ratios within one run are what to read on a shared machine.

    python benchmarks/bench_check_limits.py --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time

import torch

from vaecourse import check
from vaecourse.check import core

sys.path.insert(0, "tests")
import test_check_hostile  # noqa: E402  (the references of every check)


def quiet(call):
    with contextlib.redirect_stdout(io.StringIO()):
        return call()


def all_checks() -> float:
    start = time.perf_counter()
    for name in check.__all__:
        assert quiet(lambda: getattr(check, name)(test_check_hostile.REFERENCES[name]))
    return time.perf_counter() - start


def guard_cost(repeats: int) -> None:
    with_guard = statistics.median(all_checks() for _ in range(repeats))
    saved = core._SET_ASYNC_EXC
    core._SET_ASYNC_EXC = None  # no watchdog thread
    try:
        without = statistics.median(all_checks() for _ in range(repeats))
    finally:
        core._SET_ASYNC_EXC = saved
    print(f"all {len(check.__all__)} checks on the references: {with_guard:.3f} s with the time limit, "
          f"{without:.3f} s without (ratio {with_guard / without:.3f})")


def endless_python(*args):
    while True:
        pass


def endless_torch(*args):
    x = torch.zeros(3)
    while True:
        x = x + 1


def stuck_in_c(*args):
    time.sleep(1.5)
    return None


def latency(repeats: int, limit: float = 0.5) -> None:
    core.TIME_LIMIT = limit
    for fn in (endless_python, endless_torch, stuck_in_c):
        late = []
        for _ in range(repeats):
            start = time.perf_counter()
            assert quiet(lambda: check.gaussian_kl(fn)) is False
            late.append(time.perf_counter() - start - limit)
        print(f"{fn.__name__}: verdict {statistics.median(late) * 1e3:.1f} ms after the {limit:g} s limit "
              f"(median of {repeats})")


def python_loop(n: int = 2_000_000) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def settrace_cost(repeats: int) -> None:
    deadline = time.monotonic() + 3600

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeoutError
        return tracer

    def timed(traced: bool) -> float:
        start = time.perf_counter()
        if traced:
            sys.settrace(tracer)
        try:
            python_loop()
        finally:
            sys.settrace(None)
        return time.perf_counter() - start

    plain = statistics.median(timed(False) for _ in range(repeats))
    traced = statistics.median(timed(True) for _ in range(repeats))
    print(f"a 2e6-step Python loop: {plain:.3f} s plain, {traced:.3f} s under a clock-reading sys.settrace "
          f"(ratio {traced / plain:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    guard_cost(args.repeats)
    latency(args.repeats)
    settrace_cost(args.repeats)


if __name__ == "__main__":
    main()
