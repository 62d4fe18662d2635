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
"""

from __future__ import annotations

import math
import os
import traceback
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

FALLBACK = "The rest of the notebook uses the library's version for now."
F64 = torch.float64
RTOL, ATOL = 1e-5, 1e-6

Rule = tuple[Callable[[Any], Any], Any]  # (condition on the learner's output, message or message(output))
Trial = Callable[[Callable[..., Any]], None]


# --------------------------------------------------------------------------------------------------- framework
class Problem(Exception):
    """A mistake found in the learner's output; its message is shown as the verdict."""


def verdict(out: Any, rules: Sequence[Rule]) -> str | None:
    """The message of the first rule whose condition holds on ``out``, or None when none does.

    A condition that cannot be evaluated (say, on an output of the wrong type) simply does not hold.
    """
    for condition, message in rules:
        try:
            hit = bool(condition(out))
        except Exception:
            continue
        if hit:
            try:
                return message(out) if callable(message) else str(message)
            except Exception:
                return "the result is not what the exercise asks for"
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


def _package():
    import vaecourse

    return vaecourse


def run_check(exercise: str, title: str, todo: str, fn: Any, trials: Sequence[Trial], hint: str = "") -> bool:
    """Run the trials on ``fn``; print one verdict; return True when all pass. Never raises."""
    header = f"Exercise {exercise} ({title})"
    try:
        if not callable(fn):
            raise Problem(f"expected your function, got {type(fn).__name__}: pass the function itself, "
                           "without calling it, e.g. check.gaussian_kl(gaussian_kl)")
        for trial in trials:
            trial(fn)
    except Problem as problem:
        print(f"❌ {header}: {problem}\n   {FALLBACK}")
        return False
    except NotImplementedError as error:
        print(f"Exercise {exercise} is not done yet: {todo_from_stub(error, exercise, todo)}. {FALLBACK}")
        return False
    except Exception as error:  # the learner's code failed: explain, never re-raise
        message = str(error).strip().splitlines()
        message = message[0] if message else ""
        print(f"❌ {header}: your function raised {type(error).__name__}: {message}{where_in_learner_code(error)}"
              + (f"\n   Hint: {hint}" if hint else "") + f"\n   {FALLBACK}")
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


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def worst(out: Any, ref: Tensor) -> tuple[tuple[int, ...], float, float]:
    """Index of the largest difference, the learner's value there and the expected one."""
    diff = (as64(out) - as64(ref)).abs().nan_to_num(nan=math.inf)
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    return index, float(as64(out)[index]), float(as64(ref)[index])


def tensor_rules(name: str, shape: tuple[int, ...], shape_rules: Sequence[Rule] = (),
                  meaning: str = "") -> list[Rule]:
    """The first diagnostics of every check: a floating tensor of the right shape with finite values."""
    return [
        (lambda o: not isinstance(o, Tensor),
         lambda o: f"{name} should be a torch.Tensor, got {type(o).__name__}"
                   + (": keep it a tensor (no .item(), float() or numpy)" if isinstance(o, (int, float)) else "")),
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


__all__ = ["ATOL", "F64", "FALLBACK", "RTOL", "Problem", "Rule", "Trial", "as64", "batch_shape_rules", "close",
           "expect", "finite_rule", "fmt", "run_check", "seeded", "shape_of", "tensor_rules", "verdict", "worst"]
