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

Plausible wrong code must not pass either. The helpers below give every check the same five defences, each with
its own message in the chapter's terms:

- *gradients cut* (:func:`gradient_trial`, :func:`compare_gradients`): where the result is trained through, the
  autograd gradients with respect to the inputs that need them are compared with the reference's, so a result
  computed through ``.detach()``, ``.item()``, numpy or under ``torch.no_grad()`` fails even when its values are right;
- *right only for the tested shape* (:func:`across_sizes`): the trials run again at sizes and on data drawn
  from a fresh seed (:func:`fresh_generator`) that the learner can neither read nor hard-code, the first at the top
  of every range (a size typed in as a cap shows every time), and a failure there says "right for B=5, D=3 but not
  for B=128, D=9";
- *numerically fragile* (:func:`float32_rules`): where a function must be stable, it also runs in float32 at
  extreme inputs, against the reference computed in float64;
- *inputs mutated* (:func:`called`): every call keeps a copy of the inputs and fails a function that changes them,
  saying plainly that it must not;
- *imprecise feedback* (:func:`mismatch`, :func:`differs`): numbers are printed with as many digits as it takes
  for the learner's value and the expected one to read differently, with the difference beside them.

What the learner's function does beyond returning is guarded too: process-wide settings it changes (autograd,
the default dtype or device, threads, deterministic algorithms, anomaly detection, numpy's error handling: see
:data:`SETTINGS`) are set back after each call and fail the check by name, since the same function called in training
would change them for the rest of the notebook; the global random generators are kept over the whole check
(:class:`RandomState`); a stop that is no error (``sys.exit()``, ``GeneratorExit``, a BaseException of its own) is a
verdict like any exception, and only KeyboardInterrupt passes through. The learner's own text (an exception's message,
a line of code, an answer) is repeated in a verdict cut to :data:`ECHO` characters (:func:`echo`), read so that a
``__str__`` that raises cannot break the verdict (:func:`error_text`).

Nor does the notebook's own torch state decide a verdict (:func:`own_state`): a check runs with autograd on and
its tensors on the CPU whatever ``torch.no_grad()``, ``torch.inference_mode()`` or ``torch.set_default_device``
the notebook is under, and float32's rounding is no mistake (the tolerances of :func:`close`).

A check also has a total time budget (``TOTAL_LIMIT`` over all the calls of one check) besides the limit of
each call, so that many slow calls cannot hold the notebook either.

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

import contextlib
import ctypes
import functools
import math
import numbers
import os
import random
import secrets
import threading
import time
import traceback
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

FALLBACK = "The rest of the notebook uses the library's version for now."
F64 = torch.float64
RTOL, ATOL = 1e-5, 1e-6
TIME_LIMIT = 10.0  # seconds per call of the learner's function (the checks' inputs are small: milliseconds)
TOTAL_LIMIT = 30.0  # seconds for all the calls of one check together

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


ECHO = 72  # characters of the learner's own text (an answer, an exception's message) a one-line verdict repeats


def echo(text: Any, limit: int = ECHO) -> str:
    """The learner's text as a verdict repeats it: its first line, cut to ``limit`` characters with "…" (a
    million-character answer or message would otherwise be a million-character verdict)."""
    try:
        line = (str(text).strip().splitlines() or [""])[0]
    except Exception:
        line = f"<{type(text).__name__} that cannot be shown>"
    return line if len(line) <= limit else line[:limit - 1] + "…"


def message_of(error: BaseException) -> str:
    """An exception's whole message, read defensively: "" when its ``__str__`` raises or returns no string."""
    try:
        text = str(error)
        return text if isinstance(text, str) else ""
    except Exception:
        return ""


def error_text(error: BaseException) -> str:
    """'Type: first line of the message' of an exception (:func:`message_of`), cut by :func:`echo`."""
    text = message_of(error)
    first = echo(text) if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


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
    text = message_of(error).strip()
    prefix = f"Exercise {exercise}:"
    if text.startswith(prefix):
        text = text[len(prefix):].strip().rstrip(".")
        if text:
            return text
    return default


def where_in_learner_code(error: BaseException) -> str:
    """' (in name, line N: `code`)' for the innermost frame of the learner's code (outside torch and vaecourse)."""
    try:
        libraries = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (torch, _package(), os))
        frames = [f for f in traceback.extract_tb(error.__traceback__)  # os: the standard library (exit() is there)
                  if not os.path.abspath(f.filename).startswith(libraries)]
        if frames:
            frame = frames[-1]
            code = f": `{echo(frame.line)}`" if frame.line else ""
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


def stopped_message(error: BaseException) -> str:
    """The verdict on a learner's function that raised a BaseException other than KeyboardInterrupt: it would end
    the notebook's cell (sys.exit() ends the script) instead of returning or reporting an error."""
    where = where_in_learner_code(error)
    if isinstance(error, SystemExit):
        code = "" if error.code is None else f": {echo(error.code)}"
        return (f"your function called sys.exit() or exit() (SystemExit{code}){where}: a function returns its "
                "result, it never exits; to report a problem, raise an Exception such as ValueError")
    return (f"your function raised {error_text(error)}{where}, which is no error but a signal to stop (a "
            "BaseException, not an Exception): a function returns its result; to report a problem, raise an "
            "Exception such as ValueError")


# Process-wide settings a learner's function may change (name in a verdict, read it, set it back): each call is run
# between settings() and restore(), so a change is undone and named, never left for the rest of the notebook.
# The global random generators are not among them: the checks draw from their own seeded generators, and a function
# may legitimately draw (run_check keeps the notebook's generators as they were over the whole check).
SETTINGS: tuple[tuple[str, Callable[[], Any], Callable[[Any], Any]], ...] = (
    ("autograd (torch.set_grad_enabled)", torch.is_grad_enabled, torch.set_grad_enabled),
    ("the default dtype (torch.set_default_dtype)", torch.get_default_dtype, torch.set_default_dtype),
    ("the default device (torch.set_default_device)", torch.get_default_device, torch.set_default_device),
    ("the number of threads (torch.set_num_threads)", torch.get_num_threads, torch.set_num_threads),
    ("deterministic algorithms (torch.use_deterministic_algorithms)",
     lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
     lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
    ("anomaly detection (torch.set_anomaly_enabled)",
     lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
     lambda v: torch.set_anomaly_enabled(*v)),
    ("numpy's floating-point error handling (np.seterr)", np.geterr, lambda v: np.seterr(**v)),
)


def settings() -> list[Any]:
    """The values of :data:`SETTINGS` now."""
    return [read() for _, read, _ in SETTINGS]


def restore(before: Sequence[Any]) -> list[str]:
    """Set every setting that differs from ``before`` back; the names of those that differed."""
    changed = []
    for (name, read, write), value in zip(SETTINGS, before):
        try:
            if read() != value:
                write(value)
                changed.append(name)
        except Exception:  # a setting torch refuses to set back (none known): named, never raised
            changed.append(name)
    return changed


class RandomState:
    """The notebook's global random generators (torch's CPU one, numpy's, Python's), kept over a whole check and
    put back after it: what the learner's function draws, or seeds, inside the check leaves the notebook's
    sequence of random numbers as it was."""

    def __enter__(self) -> "RandomState":
        self.state = (torch.random.get_rng_state(), np.random.get_state(), random.getstate())
        return self

    def __exit__(self, *exc: Any) -> None:
        torch.random.set_rng_state(self.state[0])
        np.random.set_state(self.state[1])
        random.setstate(self.state[2])


def own_state(check: Callable[..., bool]) -> Callable[..., bool]:
    """A check run in its own torch state, whatever the notebook's: autograd on (an earlier cell's
    ``torch.set_grad_enabled(False)``, a ``with torch.no_grad():`` or ``torch.inference_mode()`` around the call would
    take the gradient from the library's own answer, and the verdict would blame the learner), and every tensor made
    on the CPU (under ``torch.set_default_device("cuda")`` the check's inputs would land there; its rules and
    references assume the CPU). The notebook's settings are as they were afterwards. Every public check uses it."""
    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> bool:
        with torch.inference_mode(False), torch.enable_grad(), _on_cpu():
            return check(*args, **kwargs)
    return run


@contextlib.contextmanager
def _on_cpu() -> Any:
    """Tensors made without a device go to the CPU inside: the notebook's ``torch.set_default_device`` is lifted
    (the learner's function may still call it: LearnerFunction sets it back) and put back after; a ``with
    torch.device(...)`` block of the notebook's is overridden by one for the CPU."""
    context = getattr(torch._GLOBAL_DEVICE_CONTEXT, "device_context", None)  # set by torch.set_default_device
    default = None if context is None else context.device
    try:
        if default is not None:
            torch.set_default_device(None)
    except Exception:  # the notebook's own `with torch.device(...)` sits above it: the block below covers it
        default = None
    try:
        if torch.get_default_device().type != "cpu":
            with torch.device("cpu"):
                yield
        else:
            yield
    finally:
        if default is not None:
            torch.set_default_device(default)


class LearnerFunction:
    """The learner's function as the trials call it: each call gets ``limit`` seconds (see the module docstring),
    an exception raised in it is marked as the learner's, and the last value it returned is kept for messages."""

    def __init__(self, fn: Callable[..., Any], limit: float, total: float = math.inf):
        self.fn, self.limit, self.total = fn, limit, total
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.inside = False  # the learner's code is running: only then may the watchdog interrupt it
        self.fired = False  # the watchdog interrupted this call
        self.returned: Any = _NOTHING
        self.spent, self.calls = 0.0, 0  # seconds inside the learner's code so far, and the number of calls
        self.over_total = False  # the check's total budget ran out (rather than one call's limit)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        left = self.total - self.spent
        if left <= 0:
            self.over_total = True
            raise TimedOut()
        limit = min(self.limit, left)
        self.over_total = limit < self.limit  # if this call is stopped, the total ran out
        self.calls += 1
        before = settings()  # read before the watchdog starts: nothing may be interrupted outside the try below
        stop = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(stop, limit), daemon=True,
                                    name="vaecourse-check-watchdog")
        with self.lock:
            self.inside, self.fired = True, False
        if _SET_ASYNC_EXC is not None:
            watchdog.start()
        start = time.perf_counter()
        try:
            out = self.fn(*args, **kwargs)
        except (TimedOut, KeyboardInterrupt):  # the watchdog's stop, the learner's own interrupt: pass through
            raise
        except Exception as error:
            try:
                error._raised_by_learner = True  # tells run_check who failed: the learner's code, not the check
            except Exception:  # an exception type without attributes: reported as the check's failure to read
                pass
            raise
        except BaseException as error:  # SystemExit, GeneratorExit, a BaseException of its own: would end the cell
            raise Problem(stopped_message(error)) from None
        finally:
            self._leave()
            self.spent += time.perf_counter() - start
            stop.set()
            if watchdog.is_alive():
                watchdog.join()
            changed = restore(before)  # always: the notebook, and the check's own next steps, run as before
        if changed:
            raise Problem(f"your function changed {' and '.join(changed)} for the whole notebook (it stays so after "
                          "it returns; the check has set it back): a function must leave global settings alone, or "
                          "every call in training changes them again; for one block use a `with` statement, e.g. "
                          "`with torch.no_grad():`")
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

    def _watch(self, stop: threading.Event, limit: float) -> None:
        if stop.wait(limit):
            return  # returned in time
        while True:  # time is up: interrupt the learner's code, again every 0.5 s while it keeps running
            with self.lock:
                if not self.inside:
                    return
                self.fired = True
                _SET_ASYNC_EXC(ctypes.c_ulong(self.thread), ctypes.py_object(TimedOut))
            if stop.wait(0.5):
                return


def run_check(exercise: str, title: str, todo: str, fn: Any, trials: Sequence[Trial], hint: str = "",
              fallback: str = FALLBACK, success: str | None = "matches the library on every test case.") -> bool:
    """Run the trials on ``fn``; print one verdict; return True when all pass. Never raises (a KeyboardInterrupt,
    the learner's own stop, passes through). ``fallback`` ends a failed verdict (what the notebook does next);
    ``success`` is the passed verdict, or None for a caller that prints its own (the thinking exercises)."""
    header = f"Exercise {exercise} ({title})"
    hint_line = f"\n   Hint: {hint}" if hint else ""
    with RandomState():
        return _run_check(exercise, header, todo, fn, trials, hint_line, fallback, success)


def _run_check(exercise: str, header: str, todo: str, fn: Any, trials: Sequence[Trial], hint_line: str,
               fallback: str, success: str | None) -> bool:
    learner = LearnerFunction(fn, TIME_LIMIT, TOTAL_LIMIT)
    try:
        if not callable(fn):
            raise Problem(f"expected your function, got {describe(fn)}: pass the function itself, "
                           "without calling it, e.g. check.gaussian_kl(gaussian_kl)")
        for trial in trials:
            trial(learner)
    except Problem as problem:
        print(f"❌ {header}: {problem}\n   {fallback}")
        return False
    except TimedOut:
        if learner.over_total:
            print(f"❌ {header}: your function took more than {TOTAL_LIMIT:g} seconds in all over the check's "
                  f"{learner.calls} calls on small inputs (each should take milliseconds): a Python loop over every "
                  f"element, or a loop that runs far longer than it needs?{hint_line}\n   {fallback}")
        else:
            print(f"❌ {header}: your function did not return within {TIME_LIMIT:g} seconds on the check's small "
                  f"inputs (it should take milliseconds): an endless loop, or a loop whose condition never changes?"
                  f"{hint_line}\n   {fallback}")
        return False
    except Exception as error:  # explain, never re-raise
        if isinstance(error, NotImplementedError) and _is_stub(error):
            what = todo_from_stub(error, exercise, todo)  # the stub's own words; a question keeps its "?"
            print(f"Exercise {exercise} is not done yet: {what}{' ' if what.endswith('?') else '. '}{fallback}")
            return False
        message = error_text(error)
        if getattr(error, "_raised_by_learner", False):
            what = f"your function raised {message}{where_in_learner_code(error)}"
        elif learner.returned is not _NOTHING:  # the check choked on the output: say what came
            what = f"the check cannot use what your function returned, {describe(learner.returned)} ({message})"
        else:
            what = f"the check itself failed ({message}); please report this"
        print(f"❌ {header}: {what}{hint_line}\n   {fallback}")
        return False
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # SystemExit & co. outside the learner's call (its own are Problems): one line
        print(f"❌ {header}: {stopped_message(error)}{hint_line}\n   {fallback}")
        return False
    if success is not None:
        print(f"✅ {header}: {success}")
    return True


# ------------------------------------------------------------------------------------------------------ helpers
def as64(x: Any) -> Tensor:
    return torch.as_tensor(x.detach() if isinstance(x, Tensor) else x).to(F64)


SCALE = 1e-6  # of a result's largest magnitude: float32's rounding there (~1e-7), carried to every entry


def close(out: Any, ref: Tensor, rtol: float = RTOL, atol: float = ATOL, equal_nan: bool = False,
          scale: Any = None) -> bool:
    """Same shape and allclose (in float64); False for anything that cannot be compared. ``scale``: the whole result
    (``ref`` or the tensor ``ref`` is part of) where its entries are computed together, by a linear solve or a sum of
    large terms; ``atol`` then grows by :data:`SCALE` times its largest finite magnitude, since an answer computed in
    float32 is off by float32's rounding of the largest values in every entry, the near-zero ones too, and is as
    right as one in float64. Elementwise results keep ``atol`` (their float32 error is relative: ``rtol``)."""
    try:
        out, ref = as64(out), as64(ref)
        if scale is not None:
            whole = as64(scale).flatten()
            whole = whole[torch.isfinite(whole)]
            atol = atol + SCALE * (float(whole.abs().max()) if whole.numel() else 0.0)
        return tuple(out.shape) == tuple(ref.shape) and torch.allclose(out, ref, rtol=rtol, atol=atol,
                                                                      equal_nan=equal_nan)
    except Exception:
        return False


def fmt(x: Any, digits: int = 4) -> str:
    """A number or a small tensor for a message, to ``digits`` significant digits (never "0.0000" for 3e-5)."""
    x = as64(x)
    if x.dim() == 0:
        return f"{x.item():.{digits}g}"
    return "[" + ", ".join(f"{v:.{digits}g}" for v in x.flatten().tolist()) + "]"


def number_text(got: float, expected: float, digits: int = 4) -> tuple[str, str]:
    """Both numbers with as many significant digits as it takes (``digits`` at least) for them to read differently:
    never "you return 0.0000, expected 0.0000"."""
    for n in range(digits, 18):
        a, b = f"{got:.{n}g}", f"{expected:.{n}g}"
        if a != b:
            return a, b
    return a, b


def mismatch(got: float, expected: float) -> str:
    """'you return X, expected Y (off by D)', X and Y printed so that they differ."""
    a, b = number_text(float(got), float(expected))
    return f"you return {a}, expected {b} (off by {abs(float(got) - float(expected)):.3g})"


def differs(out: Any, want: Tensor, at: Callable[[tuple[int, ...]], str] | None = None) -> str:
    """Where ``out`` is furthest from ``want`` and by how much: 'at <where> you return X, expected Y (off by D)'.
    ``at`` names an index in the exercise's terms ("mu=0.3, logvar=-1"); by default the index itself."""
    index, got, expected = worst(out, want)
    try:
        where = at(index) if at is not None else (f"index {index}" if index else "")
    except Exception:
        where = f"index {index}"
    return (f"at {where} " if where else "") + mismatch(got, expected)


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


Case = tuple  # the arguments of one case
Mistake = tuple[Callable[[Case], Any], Callable[[Case], str]]  # (its value at a case, or None there; its message)


def named_mistake(got: Sequence[tuple[Case, Any, Any]], mistakes: Sequence[Mistake],
                  same: Callable[[Any, Any], bool]) -> str | None:
    """The message of the first named mistake that the learner's outputs match on EVERY case (its value None: the
    right answer there), at the first case where it is told apart from the right answer; None when none does (the
    verdict is then the plain "you return X, expected Y"). ``got`` holds (case, the learner's output, the right one)
    for every case. A mistake judged on one case alone names a coincidence: min(1, max(0, ·)) equals "the step
    forgot the old beta" on the first case, c_max·max(s/n, 1) equals "runs backwards" at step 0 (chapter 2), a ramp
    starting late equals "jumps from 0 to 1" at two epochs (chapter 4)."""
    for value, message in mistakes:
        values = [(case, out, want if (v := value(case)) is None else v, want) for case, out, want in got]
        told = [case for case, out, v, want in values if not same(v, want)]
        if told and all(same(out, v) for case, out, v, want in values):
            return message(told[0])
    return None


# ------------------------------------------------------------------- defences against plausible wrong learner code
# 1. Sizes and seeds the learner cannot read: a function right only for the first test case's shape, or only for
#    the seed printed in the check's source, fails on the next ones.
def fresh_seed() -> int:
    """A seed from the operating system's entropy: never printed, different in every run of a check."""
    return secrets.randbits(62)


def fresh_generator() -> torch.Generator:
    return seeded(fresh_seed())


def fresh_sizes(base: Mapping[str, int], ranges: Mapping[str, tuple[int, int]], count: int = 2) -> list[dict[str, int]]:
    """``count`` sets of sizes from ``ranges`` (bounds included): each size differs from the base's and, within one
    set, from the other sizes, so that a hard-coded, transposed or swapped dimension shows. The first set is the top
    of every range (the next size down where two would coincide), so that a size typed in as a cap (``means[:100]``,
    ``mu[..., :6]``) between the base and the top always shows, not by luck of the draw: each check's ranges reach
    well above its base (twice it; 128 examples, 9 latents). The second lies below the base where the range allows,
    the third above it again, and so on, drawn fresh."""
    rng = random.SystemRandom()
    top: dict[str, int] = {}
    for k, v in base.items():
        lo, hi = ranges.get(k, (v, v))
        top[k] = next((u for u in range(hi, lo - 1, -1) if u != v and u not in top.values()), v) if k in ranges else v
    out = [top][:count]
    for attempt in range(1000):  # ranges always leave room; the bound only keeps a badly written range from hanging
        if len(out) >= count:
            break
        sizes = {}
        for k, v in base.items():
            if k not in ranges:
                sizes[k] = v
                continue
            lo, hi = ranges[k]
            side = [u for u in range(lo, hi + 1) if (u > v if len(out) % 2 == 0 else u < v)]
            sizes[k] = rng.choice(side or [u for u in range(lo, hi + 1) if u != v] or [v])
        if (len(set(sizes.values())) == len(sizes) or attempt > 500) and sizes not in out:
            out.append(sizes)
    return out


def assumed(what: str, where: str) -> str:
    """The advice after a mistake found only at other sizes: which size the function may have typed in, and where
    to read it instead."""
    return f"Does your function assume {what}? Read it from {where}, never type a size in"


def show_sizes(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def across_sizes(build: Callable[[dict[str, int], torch.Generator], Sequence[Trial]], base: Mapping[str, int],
                 ranges: Mapping[str, tuple[int, int]], *, seed: int, advice: str, count: int = 2) -> list[Trial]:
    """The trials ``build(sizes, generator)`` makes, first at ``base`` with the fixed ``seed`` (reproducible
    messages), then at ``count`` fresh sizes on fresh data. A mistake found only there is reported as "right for
    <base> but not for <sizes>: <what is wrong>. <advice>", ``advice`` saying where the sizes should come from."""
    trials = list(build(dict(base), seeded(seed)))
    for sizes in fresh_sizes(base, ranges, count):
        trials += [_elsewhere(trial, sizes, base, advice) for trial in build(sizes, fresh_generator())]
    return trials


def _elsewhere(trial: Trial, sizes: Mapping[str, int], base: Mapping[str, int], advice: str) -> Trial:
    def run(f: Callable) -> None:
        lead = f"right for {show_sizes(base)} but not for {show_sizes(sizes)}"
        try:
            trial(f)
        except Problem as problem:
            raise Problem(f"{lead}: {problem}. {advice}") from None
        except Exception as error:
            if not getattr(error, "_raised_by_learner", False) or (isinstance(error, NotImplementedError)
                                                                   and _is_stub(error)):
                raise
            raise Problem(f"{lead}: there your function raised {error_text(error)}{where_in_learner_code(error)}. "
                          f"{advice}") from None
    return run


# 2. Inputs that must come back unchanged.
def snapshot(value: Any) -> Any:
    """A copy of an input to compare with after the call (tensors, arrays, dicts, lists, a module's weights)."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value)
    if isinstance(value, torch.nn.Module):
        return {k: v.detach().clone() for k, v in value.state_dict().items()}
    return value


def same(a: Any, b: Any) -> bool:
    """Two snapshots hold the same values (NaN equal to NaN)."""
    try:
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            return isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape and a.dtype == b.dtype \
                and bool(((a == b) | (a != a) & (b != b)).all())
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and \
                np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return bool(a == b) or (a != a and b != b)
    except Exception:
        return False


def called(f: Callable, args: Sequence[Any], names: Sequence[str | None], why: str = "") -> Any:
    """``f(*args)``, then a Problem if it changed an input that ``names`` names (None: not guarded, e.g. a generator,
    whose state is meant to move). ``why`` says what a changed input spoils in the chapter."""
    before = [snapshot(a) if name else None for a, name in zip(args, names)]
    out = f(*args)
    for arg, name, kept in zip(args, names, before):
        if name and not same(kept, snapshot(arg)):
            raise Problem(changed_message(name, arg, why))
    return out


def changed_message(name: str, value: Any, why: str = "") -> str:
    if isinstance(value, torch.nn.Module):
        how, copy = "its weights were changed", "leave the model's weights alone (no optimiser step, no in-place edits)"
    elif isinstance(value, dict):
        how, copy = "(.pop, del, or an assignment into it)", f"read it, or work on dict({name})"
    elif isinstance(value, np.ndarray):
        how, copy = f"(an assignment {name}[...] = ..., an in-place operator like -=, or {name}.sort())", \
            f"np.sort({name}, ...) or {name}.copy()"
    else:
        how, copy = f"(an assignment {name}[...] = ..., an in-place operator like -= or *=, or a method ending in _ " \
                    "such as .add_())", f"{name}.clone()"
    return (f"your function changed its input {name} in place {how}. A function must not modify its inputs: work "
            f"on a copy, {copy}" + (f". {why}" if why else ""))


# 3. Gradients that must reach the inputs that need them.
CUT = ".detach(), .data, .item(), float(...), numpy, torch.tensor(...) around a result, or torch.no_grad()"


def _tensors(out: Any) -> list[Tensor]:
    return [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, Tensor)]


def _gradients(out: Any, leaves: Mapping[str, Sequence[Tensor]]) -> dict[str, list[Tensor | None]] | None:
    """Gradients of a fixed random projection of ``out`` with respect to each group of leaves; None when no part of
    ``out`` is attached to the graph."""
    outs = [(i, o) for i, o in enumerate(_tensors(out)) if o.requires_grad]
    if not outs:
        return None
    loss = sum((o.to(F64) * torch.randn(o.shape, generator=seeded(1000 + i), dtype=F64)).sum() for i, o in outs)
    flat = [t for group in leaves.values() for t in group]
    grads = list(torch.autograd.grad(loss, flat, allow_unused=True))
    return {name: [grads.pop(0) for _ in group] for name, group in leaves.items()}


def _same_gradients(a: Sequence[Tensor | None], b: Sequence[Tensor | None]) -> bool:
    def full(g: Tensor | None, like: Tensor | None) -> Tensor | None:
        return torch.zeros_like(like) if g is None and like is not None else g
    def near(x: Tensor, y: Tensor) -> bool:  # float32 rounding, ~1e-7 of the gradient's size, is no cut term
        scale = max(float(as64(x).abs().max()), float(as64(y).abs().max())) if x.numel() and y.numel() else 0.0
        return close(x, y, rtol=1e-5, atol=1e-7 + 1e-6 * scale)
    return all((x is None and y is None) or (x is not None and y is not None and near(x, y))
               for x, y in ((full(x, y), full(y, x)) for x, y in zip(a, b)))


def compare_gradients(out: Any, leaves: Mapping[str, Sequence[Tensor]], ref_out: Any,
                      ref_leaves: Mapping[str, Sequence[Tensor]], name: str, why: str,
                      alternatives: Sequence[tuple[Any, Mapping[str, Sequence[Tensor]], str]] = ()) -> None:
    """Raise a Problem when the learner's ``out`` carries no gradient, or its gradient with respect to a group of
    leaves is missing or differs from that of the reference's ``ref_out`` (computed from its own copies of the
    leaves). ``alternatives``: (output, its leaves, message) of known wrong versions, named when the learner's
    gradients equal theirs. ``why`` says, in the chapter's terms, what training would miss."""
    mine = _gradients(out, leaves)
    if mine is None:
        raise Problem(f"{name} has the right values but carries no gradient: something cut the graph ({CUT}). {why}")
    for alt_out, alt_leaves, message in alternatives:
        theirs = _gradients(alt_out, alt_leaves)
        if theirs is not None and all(_same_gradients(mine[k], theirs[k]) for k in mine):
            raise Problem(f"{message}. {why}")
    ref = _gradients(ref_out, ref_leaves)
    for group in leaves:
        got, want = mine[group], ref[group]
        if all(g is None for g in got) and any(w is not None and bool(w.abs().max() > 0) for w in want):
            raise Problem(f"{name} has the right values, but no gradient reaches {group}: something cut the graph "
                          f"between them ({CUT}). {why}")
        if not _same_gradients(got, want):
            pairs = [(g if g is not None else torch.zeros_like(w), w) for g, w in zip(got, want) if w is not None]
            largest = max(float((as64(g) - as64(w)).abs().max()) for g, w in pairs) if pairs else math.nan
            raise Problem(f"{name} has the right values but the wrong gradient with respect to {group} (off by up to "
                          f"{largest:.3g}): part of the computation reaches the result as a value only ({CUT} on one "
                          f"term?). {why}")


def gradient_trial(reference: Callable[..., Any], args: Callable[[], Sequence[Any]], wrt: Mapping[int, str],
                   rules: Sequence[Rule], name: str, why: str,
                   alternatives: Sequence[tuple[Callable[..., Any], str]] = ()) -> Trial:
    """A trial: call the learner's function on ``args()`` with the arguments ``wrt`` names (position -> name)
    requiring grad, check its output with ``rules``, then :func:`compare_gradients` with the reference (and the
    wrong ``alternatives``, (function, message)) called on their own copies."""
    def leaves_of() -> tuple[list[Any], dict[str, list[Tensor]]]:
        given = list(args())
        for i in wrt:
            given[i] = given[i].detach().clone().requires_grad_(True)
        return given, {wrt[i]: [given[i]] for i in wrt}

    def run(f: Callable) -> None:
        given, leaves = leaves_of()
        out = expect(learner_call_with_grad(f, given, name, why), rules)
        ref_given, ref_leaves = leaves_of()
        alts = []
        for alternative, message in alternatives:
            alt_given, alt_leaves = leaves_of()
            alts.append((alternative(*alt_given), alt_leaves, message))
        compare_gradients(out, leaves, reference(*ref_given), ref_leaves, name, why, alts)
    return run


def learner_call_with_grad(f: Callable, args: Sequence[Any], name: str, why: str) -> Any:
    """``f(*args)`` on inputs that require grad, torch's errors about them said in the exercise's terms (torch's
    own advice for ``.numpy()``, "use tensor.detach().numpy()", would cut the gradient the check is looking for)."""
    try:
        return f(*args)
    except RuntimeError as error:
        text = message_of(error)
        if not getattr(error, "_raised_by_learner", False):
            raise
        if "numpy" in text and "requires grad" in text:
            where = where_in_learner_code(error)
            raise Problem(f"your function calls .numpy() on a tensor that needs a gradient{where}: numpy cannot carry "
                          f"gradients, and .detach() would cut them; compute {name} with torch operations only. {why}"
                          ) from None
        if "leaf Variable that requires grad" in text or "modified by an inplace operation" in text:
            raise Problem(f"your function changes a tensor in place{where_in_learner_code(error)}, which breaks the "
                          "gradient: a function must not modify its inputs, and an in-place edit of a value autograd "
                          f"still needs corrupts the backward pass; work on copies (.clone()). {why}") from None
        raise


# 4. Stability where the function must be stable: float32 at extreme inputs.
def float32_rules(name: str, want: Tensor, where: str, why: str,
                  wrong: Sequence[tuple[Tensor, str]] = (), rtol: float = 1e-4, atol: float = 1e-3) -> list[Rule]:
    """Rules for an output computed from float32 inputs at extreme values (``where`` names them), against ``want``
    computed in float64 from the same inputs: each ``wrong`` (the value a fragile formula gives there, its message)
    first, where that value is wrong (on a few rows a fragile formula may not fail: the right answer is no mistake),
    then finite, then close at float32's precision."""
    return [
        *[(lambda o, v=value: close(o, v, rtol=rtol, atol=atol, equal_nan=True)  # that mistake's value, where it is
           and not close(v, want, rtol=rtol, atol=atol, equal_nan=True), message)  # one (few rows: it may be right)
          for value, message in wrong],
        (lambda o: not torch.isfinite(o).all(), f"in float32 {where} {name} contains inf or NaN: {why}"),
        (lambda o: not close(o, want, rtol=rtol, atol=atol),
         lambda o: f"in float32 {where} {name} is inaccurate: {differs(o, want)}; {why}"),
    ]


__all__ = ["ATOL", "CUT", "Case", "ECHO", "F64", "FALLBACK", "LearnerFunction", "Mistake", "Problem", "RTOL",
           "RandomState", "Rule", "SCALE", "SETTINGS", "TIME_LIMIT", "TOTAL_LIMIT", "TimedOut", "Trial", "across_sizes",
           "as64", "assumed", "batch_shape_rules", "called", "changed_message", "close", "compare_gradients",
           "describe", "device_rule", "differs", "echo", "error_text", "expect", "finite_rule", "float32_rules", "fmt",
           "fresh_generator", "fresh_seed", "fresh_sizes", "gradient_trial", "is_real_number", "learner_call_with_grad",
           "message_of", "mismatch", "named_mistake", "number_text", "number_value", "own_state", "restore",
           "run_check", "same", "seeded", "settings", "shape_of", "show_sizes", "snapshot", "stopped_message",
           "tensor_rules", "verdict", "worst"]
