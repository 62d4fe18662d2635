"""The machinery of the exercise checks (chapters import it; learners call the chapter functions).

Exercise checks with feedback: ``check.<name>(your_function)`` prints a verdict and returns True/False.

A notebook calls a check after each exercise and falls back to the library when it fails::

    if not check.gaussian_kl(gaussian_kl):
        gaussian_kl = distributions.kl_standard_normal

Each check runs the learner's function on fixed inputs (fixed seeds, float64), compares with the library's
reference and, when they differ, names the typical mistake in the learner's terms. A check never raises:
an unsolved stub (``NotImplementedError("Exercise 1.2: ...")``) prints "not done yet", any other exception
prints its type and message with a hint, and both return False.

Adding a check takes a few lines: write trials (functions of the learner's ``fn`` that call it on cloned
inputs and pass the output to :func:`expect` with a list of ``(condition, message)`` diagnostics, checked in
order; the first condition that holds is the verdict), then hand them to :func:`run_check`.

Nothing the learner returns can pass by accident: the first diagnostics of every check refuse what is not the
expected type, dtype, device or shape ("expected X, got Y"), and a condition that cannot be evaluated on the
output is itself a verdict ("the check cannot read what your function returned"), never a pass. Only an output
that every diagnostic has read and none has faulted matches.

A time limit guards the learner's code: each call of the learner's function gets ``TIME_LIMIT`` seconds. A
watchdog thread then raises an exception *in the calling thread* (CPython's ``PyThreadState_SetAsyncExc``), which
unwinds the learner's loop at its next bytecode, so the cell ends with "your function did not return within N
seconds" and the kernel stays usable. Chosen over the alternatives because it works on every OS and in any
thread, and costs nothing while the learner's code runs: ``signal.alarm`` exists only on Unix and only in the
main thread; a thread that runs the trial and is abandoned keeps burning a core (Python threads cannot be
killed); ``sys.settrace`` slows every traced line several times over. What it cannot interrupt: one long call
into C (a ``time.sleep``, a huge matrix product), which is reported when that call returns. The exception is a
BaseException, so ``except Exception`` in the learner's code does not swallow it, and it is raised again every
half second while the learner's code still runs; only a loop that itself catches everything (a bare ``except:``
inside it) cannot be stopped, as with the notebook's own interrupt. Python implementations without
``ctypes.pythonapi`` (not CPython) run the checks without a limit.
"""

from __future__ import annotations

import ctypes
import math
import numbers
import os
import threading
import traceback
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

FALLBACK = "The rest of the notebook uses the library's version for now."
F64 = torch.float64
RTOL, ATOL = 1e-5, 1e-6
TIME_LIMIT = 10.0  # seconds per call of the learner's function (the checks' inputs are small: milliseconds)

Rule = tuple[Callable[[Any], Any], Any]  # (condition on the learner's output, message or message(output))
Trial = Callable[[Callable[..., Any]], None]


# --------------------------------------------------------------------------------------------------- framework
class Problem(Exception):
    """A mistake found in the learner's output; its message is shown as the verdict."""


def describe(o: Any) -> str:
    """What the learner's function returned, in a few words, for "expected X, got Y"."""
    try:
        if o is None:
            return "None (does your function end with `return ...`?)"
        if o is Ellipsis:
            return "... (the Ellipsis placeholder: replace it with your code)"
        if isinstance(o, Tensor):
            where = "" if o.device.type == "cpu" else f" on device {o.device}"
            return f"a tensor of shape {tuple(o.shape)} and dtype {o.dtype}{where}"
        if isinstance(o, np.ndarray):
            return f"a numpy array of shape {o.shape} and dtype {o.dtype}"
        if isinstance(o, (bool, int, float, complex, np.number, np.bool_)):
            return f"{type(o).__name__} {o!r}"
        if isinstance(o, str):
            return f"the string {o[:40]!r}"
        if isinstance(o, (tuple, list, dict, set)):
            return f"a {type(o).__name__} of length {len(o)}"
        if callable(o):
            return f"a function ({getattr(o, '__name__', type(o).__name__)}); return its result, not the function"
        return f"an object of type {type(o).__name__}"
    except Exception:
        return f"an object of type {type(o).__name__}"


def verdict(out: Any, rules: Sequence[Rule]) -> str | None:
    """The message of the first rule whose condition holds on ``out``, or None when none does.

    A condition that cannot be evaluated on ``out`` (an output of an unexpected type, a tensor without values)
    is a verdict too: the output is not what the exercise asks for. It never counts as a pass.
    """
    for condition, message in rules:
        try:
            hit = bool(condition(out))
        except Exception:
            return f"the check cannot read what your function returned, {describe(out)}: it is not what the " \
                   "exercise asks for"
        if hit:
            try:
                return message(out) if callable(message) else str(message)
            except Exception:
                return f"the result is not what the exercise asks for: got {describe(out)}"
    return None


def expect(out: Any, rules: Sequence[Rule]) -> Any:
    """Raise :class:`Problem` with the first matching diagnostic; return ``out`` when none matches."""
    problem = verdict(out, rules)
    if problem is not None:
        raise Problem(problem)
    return out


def todo_from_stub(error: BaseException, exercise: str, default: str) -> str:
    """What to do, from the stub's own message ``Exercise N.M: what to do`` when it names this exercise."""
    text = str(error).strip()
    prefix = f"Exercise {exercise}:"
    if text.startswith(prefix):
        text = text[len(prefix):].strip().rstrip(".")
        if text:
            return text
    return default


def where_in_learner_code(error: BaseException) -> str:
    """' (in name, line N: `code`)' for the innermost frame of the learner's code (outside torch and vaecourse)."""
    try:
        libraries = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (torch, _package()))
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if not os.path.abspath(f.filename).startswith(libraries)]
        if frames:
            frame = frames[-1]
            code = f": `{frame.line.strip()}`" if frame.line else ""
            return f" (in {frame.name}, line {frame.lineno}{code})"
    except Exception:
        pass
    return ""


def _is_stub(error: BaseException) -> bool:
    """A NotImplementedError raised by the learner's own code (the exercise's stub), not by torch or the check:
    a meta tensor's "Cannot copy out of meta tensor" is a NotImplementedError too, and is no unsolved stub."""
    if not getattr(error, "_raised_by_learner", False):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    try:
        libraries = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (torch, _package()))
        return not frames or not os.path.abspath(frames[-1].filename).startswith(libraries)
    except Exception:
        return True


def _package():
    import vaecourse

    return vaecourse


class TimedOut(BaseException):
    """Raised inside the learner's code when one call has run past ``TIME_LIMIT`` seconds. A BaseException (like
    KeyboardInterrupt), so that an ``except Exception`` in the learner's code does not swallow it."""


_SET_ASYNC_EXC = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)  # CPython only
_NOTHING = object()


class LearnerFunction:
    """The learner's function as the trials call it: each call gets ``limit`` seconds (see the module docstring),
    an exception raised in it is marked as the learner's, and the last value it returned is kept for messages."""

    def __init__(self, fn: Callable[..., Any], limit: float):
        self.fn, self.limit = fn, limit
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.inside = False  # the learner's code is running: only then may the watchdog interrupt it
        self.fired = False  # the watchdog interrupted this call
        self.returned: Any = _NOTHING

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        stop = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(stop,), daemon=True, name="vaecourse-check-watchdog")
        with self.lock:
            self.inside, self.fired = True, False
        if _SET_ASYNC_EXC is not None:
            watchdog.start()
        try:
            out = self.fn(*args, **kwargs)
        except TimedOut:
            raise
        except Exception as error:
            try:
                error._raised_by_learner = True  # tells run_check who failed: the learner's code, not the check
            except Exception:  # an exception type without attributes: reported as the check's failure to read
                pass
            raise
        finally:
            self._leave()
            stop.set()
            if watchdog.is_alive():
                watchdog.join()
        self.returned = out
        return out

    def _leave(self) -> None:
        """Mark the learner's code as finished, then let an interruption fired but not yet delivered land here.

        Clearing it instead (PyThreadState_SetAsyncExc(id, NULL)) would leave CPython's "pending asynchronous
        exception" flag set for good: every later bytecode would take the slow path, and code under sys.settrace
        (a debugger, coverage) would crawl. An interruption can land on any bytecode, this method's included,
        hence the retry; none can be fired once ``inside`` is False, so the loop ends."""
        while True:
            try:
                with self.lock:
                    self.inside = False
                    fired = self.fired
                if fired:
                    for _ in range(100):  # backward jumps: where CPython delivers a pending asynchronous exception
                        pass
                return
            except TimedOut:
                continue

    def _watch(self, stop: threading.Event) -> None:
        if stop.wait(self.limit):
            return  # returned in time
        while True:  # time is up: interrupt the learner's code, again every 0.5 s while it keeps running
            with self.lock:
                if not self.inside:
                    return
                self.fired = True
                _SET_ASYNC_EXC(ctypes.c_ulong(self.thread), ctypes.py_object(TimedOut))
            if stop.wait(0.5):
                return


def run_check(exercise: str, title: str, todo: str, fn: Any, trials: Sequence[Trial], hint: str = "") -> bool:
    """Run the trials on ``fn``; print one verdict; return True when all pass. Never raises (a KeyboardInterrupt,
    the learner's own stop, passes through)."""
    header = f"Exercise {exercise} ({title})"
    hint_line = f"\n   Hint: {hint}" if hint else ""
    learner = LearnerFunction(fn, TIME_LIMIT)
    try:
        if not callable(fn):
            raise Problem(f"expected your function, got {describe(fn)}: pass the function itself, "
                           "without calling it, e.g. check.gaussian_kl(gaussian_kl)")
        for trial in trials:
            trial(learner)
    except Problem as problem:
        print(f"❌ {header}: {problem}\n   {FALLBACK}")
        return False
    except TimedOut:
        print(f"❌ {header}: your function did not return within {TIME_LIMIT:g} seconds on the check's small inputs "
              f"(it should take milliseconds): an endless loop, or a loop whose condition never changes?"
              f"{hint_line}\n   {FALLBACK}")
        return False
    except Exception as error:  # explain, never re-raise
        if isinstance(error, NotImplementedError) and _is_stub(error):
            print(f"Exercise {exercise} is not done yet: {todo_from_stub(error, exercise, todo)}. {FALLBACK}")
            return False
        message = str(error).strip().splitlines()
        message = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
        if getattr(error, "_raised_by_learner", False):
            what = f"your function raised {message}{where_in_learner_code(error)}"
        elif learner.returned is not _NOTHING:  # the check choked on the output: say what came
            what = f"the check cannot use what your function returned, {describe(learner.returned)} ({message})"
        else:
            what = f"the check itself failed ({message}); please report this"
        print(f"❌ {header}: {what}{hint_line}\n   {FALLBACK}")
        return False
    print(f"✅ {header}: matches the library on every test case.")
    return True


# ------------------------------------------------------------------------------------------------------ helpers
def as64(x: Any) -> Tensor:
    return torch.as_tensor(x.detach() if isinstance(x, Tensor) else x).to(F64)


def close(out: Any, ref: Tensor, rtol: float = RTOL, atol: float = ATOL, equal_nan: bool = False) -> bool:
    """Same shape and allclose (in float64); False for anything that cannot be compared."""
    try:
        out = as64(out)
        return tuple(out.shape) == tuple(ref.shape) and torch.allclose(out, as64(ref), rtol=rtol, atol=atol,
                                                                      equal_nan=equal_nan)
    except Exception:
        return False


def fmt(x: Any, digits: int = 3) -> str:
    """A number or a small tensor, rounded for a message."""
    x = as64(x)
    if x.dim() == 0:
        return f"{x.item():.{digits}f}"
    return "[" + ", ".join(f"{v:.{digits}f}" for v in x.flatten().tolist()) + "]"


def is_real_number(v: Any) -> bool:
    """One real number: a Python or numpy number, or a one-element real numpy array or CPU tensor (not a bool)."""
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, numbers.Real):
        return True
    if isinstance(v, Tensor):
        return v.numel() == 1 and v.device.type == "cpu" and not v.is_complex() and v.dtype != torch.bool
    return isinstance(v, np.ndarray) and v.size == 1 and np.issubdtype(v.dtype, np.number) and \
        not np.issubdtype(v.dtype, np.complexfloating)


def number_value(v: Any) -> float:
    """The float in a value that :func:`is_real_number` accepts."""
    return float(v.detach().reshape(-1)[0]) if isinstance(v, Tensor) else float(np.asarray(v).reshape(-1)[0])


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def worst(out: Any, ref: Tensor) -> tuple[tuple[int, ...], float, float]:
    """Index of the largest difference, the learner's value there and the expected one."""
    diff = (as64(out) - as64(ref)).abs().nan_to_num(nan=math.inf)
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    return index, float(as64(out)[index]), float(as64(ref)[index])


def device_rule(name: str) -> Rule:
    """A tensor that is not on the CPU, where every check's inputs are (a meta tensor has a shape, no values)."""
    return (lambda o: o.device.type != "cpu",
            lambda o: f"{name} is on device {o.device}"
                      + (": a meta tensor has a shape but no values; compute the result from the inputs"
                         if o.device.type == "meta" else "; the inputs are on the CPU: keep the result there"))


def tensor_rules(name: str, shape: tuple[int, ...], shape_rules: Sequence[Rule] = (),
                  meaning: str = "") -> list[Rule]:
    """The first diagnostics of every check: a floating tensor on the CPU, of the right shape."""
    return [
        (lambda o: not isinstance(o, Tensor),
         lambda o: f"{name} should be a torch.Tensor, got {describe(o)}"
                   + (": keep it a tensor (no .item(), float() or numpy)" if isinstance(o, (int, float)) else "")),
        device_rule(name),
        (lambda o: not o.is_floating_point(),
         lambda o: f"{name} has dtype {o.dtype}; it should be a floating-point tensor"),
        *shape_rules,
        (lambda o: shape_of(o) != shape,
         lambda o: f"{name} has shape {shape_of(o)}, expected {shape}" + (f": {meaning}" if meaning else "")),
    ]


def batch_shape_rules(name: str, batch: int, per: str, reduce_hint: str) -> list[Rule]:
    """A single number where one value per example is wanted: the batch was summed or averaged."""
    return [(lambda o: o.numel() == 1 and o.dim() <= 1,
             lambda o: f"{name} is a single number ({fmt(o.reshape(()))}), expected one {per} per example, "
                       f"shape ({batch},): {reduce_hint}, never over the batch (the training loss averages "
                       "over the batch later)")]


def finite_rule(name: str, message: str) -> Rule:
    return (lambda o: not torch.isfinite(o).all(), f"{name} contains NaN or inf: {message}")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


__all__ = ["ATOL", "F64", "FALLBACK", "RTOL", "TIME_LIMIT", "LearnerFunction", "Problem", "Rule", "TimedOut", "Trial",
           "as64", "batch_shape_rules", "close", "describe", "device_rule", "expect", "finite_rule", "fmt",
           "is_real_number", "number_value", "run_check", "seeded", "shape_of", "tensor_rules", "verdict", "worst"]
