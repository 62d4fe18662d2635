"""Checks of the exercises that ask a learner to think: *predict, then run*; *vary and measure*; *interpret* a figure.

Each chapter's notebook ends with exercises of three kinds beside the coding ones (docs/exercises.md, section 5):

- **predict, then run**: the learner's function returns a prediction (``def predict_multiplier(): return "higher"``)
  before a cell makes the run; ``check.predict_<name>(predict_fn, <the run's results>)`` computes the outcome from
  those results (never a stored answer), says whether the prediction matched, and explains the outcome either way;
- **vary and measure**: the learner picks one knob of a small run (``check.choose(my_epsilon, ...)`` reads it, with a
  default until then), the notebook makes the run, and the learner's function reads a measured quantity off it;
  ``check.vary_<name>(reading_fn, <the run>, ...)`` recomputes the quantity, names the typical misreadings (the
  first step instead of the last tenth, the KL instead of the multiplier, ...) and explains what the knob changed;
- **interpret**: a question on a figure the notebook just drew; ``check.interpret_<name>(answer_fn, <the figure's
  data>)`` recomputes the answer from the same data and gives the reason.

The learner's function is called through :func:`vaecourse.check.core.run_check` (its time limit, its "not done yet"
for an unsolved stub, its report of an exception or of an answer of the wrong type), so every message a coding check
prints about the learner's code is printed here the same way. A check prints one verdict and returns True/False; it
never raises: a failure to read the run's own results is reported in one line too.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.values import holds_bool, shown, with_values
from vaecourse.check.core import (Rule, describe, echo, expect, is_real_number, message_of, number_value, own_state,
                                  run_check)
from vaecourse.distributions import KL_ROUNDING

_NO_ANSWER = object()
PREDICTION_FOLLOW_UP = "Record your answer and run this cell again."


# --------------------------------------------------------------------------------------------- the learner's answer
def _norm(answer: str) -> str:
    return " ".join(answer.strip().lower().replace("_", " ").split())


def _names(names: Any, what: str, noun: str, count: int | None = None, with_none: bool = False) -> tuple[str, ...]:
    """Names the run gives (factors, concepts) as a tuple of strings, each read differently from the others the way
    an answer is read (case, spaces and "_" ignored: "posX" and "posx" are one answer), none empty, and none read as
    "none" where that is an answer of its own (``with_none``); ``count`` of them where it is given."""
    expected = (f"{count} " if count is not None else "a list of ") + f"{noun} (strings, each once, not empty" + \
        (', none of them "none"' if with_none else "") + "; case, spaces and _ ignored)"
    return values.sequence(expected, lambda v: all(isinstance(n, str) for n in v) and (count is None or len(v) == count)
                          and len(v) > 0 and all(_norm(n) for n in v) and len({_norm(n) for n in v}) == len(v)
                          and not (with_none and "none" in {_norm(n) for n in v})).check(what, names)


def choice_rules(allowed: Sequence[str]) -> list[Rule]:
    """An answer that is one of ``allowed`` (case and spacing ignored), or the message naming what came."""
    options = ", ".join(f'"{a}"' for a in allowed)
    keys = {_norm(a) for a in allowed}
    return [
        (lambda o: not isinstance(o, str),
         lambda o: f"return one of {options} (a string), got {describe(o)}"
                   + ("; one answer, not several" if isinstance(o, (list, tuple, set)) else "")),
        (lambda o: _norm(o) not in keys,
         lambda o: f'"{echo(o)}" is not one of the answers this question allows: {options}'),
    ]


def number_rules(what: str, low: float | None = None, high: float | None = None, integer: bool = False) -> list[Rule]:
    """One real number (a whole number when ``integer``), from ``low`` to ``high`` where they are given."""
    kind = "a whole number" if integer else "a number"
    span = f" from {low:g} to {high:g}" if low is not None and high is not None else \
        f" of at least {low:g}" if low is not None else ""
    return [
        (lambda o: isinstance(o, str), lambda o: f"return {what} as {kind}, not as text: got {describe(o)}"),
        (lambda o: not is_real_number(o), lambda o: f"return {what} as {kind}{span}, got {describe(o)}"),
        (lambda o: not math.isfinite(number_value(o)),
         lambda o: f"{what} is {number_value(o)}: return a finite number"),
        (lambda o: integer and abs(number_value(o) - round(number_value(o))) > 1e-9,  # float rounding allowed
         lambda o: f"{what} is a whole number, got {number_value(o)!r}"),
        (lambda o: (low is not None and number_value(o) < low) or (high is not None and number_value(o) > high),
         lambda o: f"{what} must be{span}, got {_past(number_value(o), low, high)}"),
    ]


def ask(exercise: str, title: str, fn: Any, rules: Sequence[Rule], *args: Any, follow_up: str = PREDICTION_FOLLOW_UP):
    """The learner's answer ``fn(*args)`` (each argument deep-copied, so the run's own results stay as they are),
    checked by ``rules``; ``_NO_ANSWER`` after printing run_check's verdict when it is missing or unusable (with
    ``follow_up`` in place of the coding checks' fallback line). Whatever the learner's code prints is kept."""
    got: dict[str, Any] = {}

    def trial(learner: Callable) -> None:
        got["answer"] = expect(learner(*[copy.deepcopy(a) for a in args]), rules)

    # no "matches the library" line: this check prints its own verdict, with the reason (report())
    ok = run_check(exercise, title, title, fn, [trial], fallback=follow_up, success=None)
    return got["answer"] if ok else _NO_ANSWER


def report(exercise: str, title: str, right: bool, said: str, why: str) -> bool:
    """Print the one verdict of a thinking exercise, with its reason whichever way it went; return ``right``."""
    print(f"{'✅' if right else '❌'} Exercise {exercise} ({title}): {said}\n   Why: {why}")
    return right


class YourArgument(ValueError):
    """A value the learner chose (ε, L, k, λ of the vary-and-measure exercises) that the check cannot use: guarded
    says so, not "the run"."""


def yours(kind: Any, name: str, value: Any) -> Any:
    """``kind.check(name, value)``, its refusal raised as :class:`YourArgument` (the learner's, not the run's)."""
    try:
        return kind.check(name, value)
    except ValueError as error:
        raise YourArgument(str(error)) from None


def guarded(exercise: str, title: str) -> Callable:
    """A check that reads the notebook's run never raises: a run it cannot read is one line, and False."""
    def wrap(check: Callable) -> Callable:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> bool:
            try:
                return check(*args, **kwargs)
            except YourArgument as error:  # the learner's own choice (k): what was expected, what came
                print(f"❌ Exercise {exercise} ({title}): {error}. Choose it again in the cell above and run this one.")
                return False
            except Exception as error:  # the run's results, not the learner's answer (ask() handles that)
                print(f"❌ Exercise {exercise} ({title}): the check could not read the run's results "
                      f"({type(error).__name__}: {message_of(error)}). Run the cells above this one again, in order; if that does "
                      "not help, please report this.")
                return False
        return run
    return wrap


def _choice_arguments(exercise: Any, what: Any, low: Any, high: Any, default: Any, integer: Any, taken: Any,
                      unit: Any) -> tuple[float, ...]:
    """``choose``'s arguments from the notebook (not the learner's answer) checked, ``taken`` as floats returned, or a
    ValueError naming the wrong one."""
    for name, text in (("exercise", exercise), ("what", what), ("unit", unit)):
        values.text.check(f"choose's {name}", text)
    for name, text in (("exercise", exercise), ("what", what)):  # printed as "Exercise 2.6: your ε = 4"
        if not text.strip():
            raise ValueError(f"choose's {name} must be a non-empty string (it is printed: \"Exercise 2.6: your ε = "
                             f"4\"), got {text!r}")
    low, high = values.finite.check("choose's low", low), values.finite.check("choose's high", high)
    if low > high:
        n = _digits(high, low)
        raise ValueError(f"choose's high must be at least low ({low:.{n}g}), got {high:.{n}g}")
    integer = values.boolean.check("choose's integer", integer)
    default = values.finite.check("choose's default", default)
    if not low <= default <= high or (integer and default != round(default)):
        raise ValueError(f"choose's default must be a{' whole' if integer else ''} number from low to high "
                         f"([{low:g}, {high:g}]), got {_past(default, low, high)}")
    if isinstance(taken, (set, frozenset, tuple, range)) or (not isinstance(taken, (str, bytes, Mapping, Tensor,
                                                                                     np.ndarray)) and
                                                              hasattr(taken, "__iter__")):
        taken = list(taken)  # a set or a generator of the runs' values, as a list of numbers
    taken = values.finite_numbers.check("choose's taken", taken)
    return tuple(float(t) for t in taken.reshape(-1).tolist())


@own_state
def choose(fn: Any, exercise: str, what: str, *, low: float, high: float, default: float, integer: bool = False,
           taken: Sequence[float] = (), unit: str = "") -> float:
    """The value the learner chose for the knob of a vary-and-measure exercise (``fn()``), or ``default`` until it is
    chosen, in range, and not one of the runs the notebook makes anyway (``taken``). Never raises on the learner's
    answer; the notebook's own arguments (``low <= default <= high``, finite; ``taken`` numbers; ``exercise``,
    ``what`` and ``unit`` strings) are checked first, a ValueError naming the one that is wrong."""
    taken = _choice_arguments(exercise, what, low, high, default, integer, taken, unit)  # low etc. kept as given
    title = f"vary and measure: your {what}"
    follow = f"Until you choose, the run uses {what} = {default:g}{unit}."
    try:
        value = ask(exercise, title, fn, number_rules(what, low, high, integer), follow_up=follow)
        if value is _NO_ANSWER:
            return default
        value = int(round(number_value(value))) if integer else number_value(value)
        if any(math.isclose(value, t) or f"{value:g}" == f"{t:g}" for t in taken):  # as printed: 4.0000001 is 4
            print(f"❌ Exercise {exercise} ({title}): {what} = {value:g}{unit} is a run this notebook makes anyway, the "
                  f"baseline to compare with; choose another value. {follow}")
            return default
        print(f"Exercise {exercise}: your {what} = {value:g}{unit}.")
        return value
    except Exception as error:  # never into the notebook
        print(f"❌ Exercise {exercise} ({title}): could not read your choice ({type(error).__name__}: "
              f"{message_of(error)}). {follow}")
        return default


def prediction_verdict(exercise: str, title: str, answer: Any, outcome: str | set[str], measured: str, why: str,
               verb: str = "predicted") -> bool:
    """The verdict of a prediction (or of an answer read off a figure, ``verb="answered"``): right when the answer is
    the outcome the run produced (or one of them)."""
    outcomes = {outcome} if isinstance(outcome, str) else set(outcome)
    shown = " or ".join(f'"{o}"' for o in sorted(outcomes))
    right = _norm(answer) in {_norm(o) for o in outcomes}
    said = (f'you {verb} "{answer}", and the run agrees: {measured}.' if right
            else f'you {verb} "{answer}"; the run says {shown}: {measured}.')
    return report(exercise, title, right, said, why)


def reading_verdict(exercise: str, title: str, value: float, want: float, measured: str, why: str,
             misreadings: Sequence[tuple[float, str]] = (), rel: float = 0.01, abs_tol: float = 5e-3,
             unit: str = "") -> bool:
    """The verdict of a measured quantity: right within ``rel`` / ``abs_tol``; a wrong one is matched against the
    typical ``misreadings`` (what that number is) before the plain difference is printed."""
    def near(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)

    if near(value, want):
        return report(exercise, title, True,
                      f"your reading {value:.4g}{unit} is the run's ({want:.4g}{unit}); {measured}.", why)
    for other, what in misreadings:
        if math.isfinite(other) and near(value, other) and not near(other, want):
            return report(exercise, title, False, f"you read {value:.4g}{unit}: that is {what}; the quantity asked "
                                                  f"for is {want:.4g}{unit}. {measured}.", why)
    return report(exercise, title, False, f"you read {value:.4g}{unit}, the run gives {want:.4g}{unit} (off by "
                                          f"{value - want:+.3g}); {measured}.", why)


KL_FLOOR = -KL_ROUNDING  # a KL is >= 0, up to float32 rounding


MAX_RUN_VALUE = values.MAX_MEASURED  # no loss, KL, multiplier, score or code of a run is this large; beyond it the
# check's own sums and means overflow (β of 1.7e308 averaged to inf, samples ×1e200 gave a correlation of NaN)


def _digits(value: float, bound: float) -> int:
    """Significant digits enough for ``value`` to read differently from ``bound`` (at least 4): a value just out of
    range never prints as the bound itself ("must be from 0 to 1, got values from 1 to 1")."""
    for n in range(4, 18):
        if f"{value:.{n}g}" != f"{bound:.{n}g}":
            return n
    return 17


def _past(value: float, low: float | None, high: float | None) -> str:
    """``value`` printed with the digits that show it past ``low`` or ``high`` (``:g`` where it is not past them)."""
    bound = low if low is not None and value < low else high if high is not None and value > high else None
    return f"{value:g}" if bound is None else f"{value:.{_digits(value, bound)}g}"


def _span(low: float, high: float, bound_low: float | None, bound_high: float | None) -> str:
    """"from LOW to HIGH", each printed with the digits that show it past the bound it crosses."""
    n = max(_digits(low, bound_low) if bound_low is not None and low < bound_low else 4,
            _digits(high, bound_high) if bound_high is not None and high > bound_high else 4)
    return f"from {low:.{n}g} to {high:.{n}g}"


def _finite(values: Any, what: str, low: float | None = None, high: float | None = None,
            whole: bool = False, bools: bool = False) -> np.ndarray:
    """The run's ``values`` (a tensor, an array, a list or a number) as a float64 array, or a ValueError (guarded's
    one line) when they are no outcome of a finished run: NaN or inf (a diverged run), values beyond
    ``MAX_RUN_VALUE`` in size, bools (unless ``bools``: a 0/1 mask, read as 0 and 1), complex numbers, text, None,
    tensors with no values (the meta device) or other objects, values below ``low`` or above ``high`` (a share, an
    accuracy or a KL outside its range: logits, percentages or a signed ρ passed by mistake; 1e-9 of rounding
    allowed, and the message prints the digits that show the excess), or values that are not whole numbers where
    they are counts (``whole``)."""
    refused = f"{what} must be real numbers from a finished run, got {shown(values)}"
    if isinstance(values, Tensor):
        with_values(what, values, "real numbers from a finished run")
        if values.is_complex() or (values.dtype == torch.bool and not bools):
            raise ValueError(refused)
        try:
            a = values.detach().cpu()
            a = (a.to_dense() if a.layout != torch.strided else a).double().numpy()
        except (RuntimeError, TypeError, NotImplementedError, ValueError):  # sparse, nested, quantized, ...
            raise ValueError(refused) from None
    else:
        if not bools and holds_bool(values):  # [True, 0.5]: numpy reads the bool as the number 1.0
            raise ValueError(refused)
        try:
            a = np.asarray(values)
        except (TypeError, ValueError, RuntimeError, NotImplementedError):  # ragged lists, objects numpy cannot hold
            a = None
        if a is not None and a.dtype == object and a.size and all(  # Python ints beyond int64 (2**70), as floats
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in a.reshape(-1)):
            a = np.array([float(v) for v in a.reshape(-1)]).reshape(a.shape)
        if a is None or a.dtype.kind not in ("iufb" if bools else "iuf"):  # strings, None, dicts, complex, bools
            raise ValueError(refused)
    a = a.astype(np.float64)
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"{what} must be finite numbers from a finished run, got "
                         f"{'nothing' if a.size == 0 else 'NaN or inf'}")
    if np.abs(a).max() > MAX_RUN_VALUE:
        biggest = float(np.abs(a).max())
        raise ValueError(f"{what} must be numbers of a finished run, at most {MAX_RUN_VALUE:g} in size (beyond it "
                         f"the check's sums overflow), got values up to {biggest:.{_digits(biggest, MAX_RUN_VALUE)}g}")
    if (low is not None and a.min() < low - 1e-9) or (high is not None and a.max() > high + 1e-9):  # (rounding)
        span = (f"from {low:g} to {high:g}" if low is not None and high is not None else
                f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise ValueError(f"{what} must be {span}, got values {_span(float(a.min()), float(a.max()), low, high)}")
    if whole and not (a == np.round(a)).all():
        raise ValueError(f"{what} must be whole numbers (counts), got {a.reshape(-1).tolist()}")
    return a


def _one(value: Any, what: str, low: float | None = None, high: float | None = None, whole: bool = False) -> float:
    """One number of the run (a threshold, a score, an accuracy, a count): a Python or numpy number, a 0-d tensor or
    anything of size 1, read by :func:`_finite`; several values are a ValueError naming ``what``."""
    a = _finite(value, what, low, high, whole)
    if a.size != 1:
        raise ValueError(f"{what} must be one number, got {a.size} values (shape {tuple(a.shape)})")
    return float(a.reshape(-1)[0])


def _keys(container: Any) -> str:
    try:
        keys = list(container.keys())
    except Exception:
        return "keys it cannot list"
    listed = ", ".join(repr(k) for k in keys[:12]) + (", ..." if len(keys) > 12 else "")
    return f"[{listed}]"


def _results(container: Any, what: str) -> Any:
    """A mapping of a run's results (a dict, or a History: what has keys and items), or a ValueError naming it."""
    if container is None or isinstance(container, (str, bytes, Tensor, np.ndarray)) or not (
            callable(getattr(container, "keys", None)) and hasattr(container, "__getitem__")):
        raise ValueError(f"{what} must be a dict of the run's results, got {shown(container)}")
    return container


def _has(container: Any, key: Any) -> bool:
    try:
        return key in container.keys()
    except Exception:
        return False


def _entry(container: Any, key: Any, what: str, item: str | None = None) -> Any:
    """``container[key]`` of a run's results, or a ValueError naming ``what``, the missing ``item`` (the key by
    default) and the keys there are: never a bare KeyError."""
    _results(container, what)
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"{what} has no {item or repr(key)} (it has {_keys(container)})") from None


def _series(history: Any, key: str, low: float | None = None, what: str = "the run") -> np.ndarray:
    """One logged term of a History (or a mapping of lists) as a float array (each value at least ``low``)."""
    return _finite(_entry(history, key, what), f"{what}'s {key!r}", low).reshape(-1)


_TRACE = values.numbers("a run's logged values: at least one finite number (a list or a tensor)",
                        lambda t: t.numel() >= 1)


def tail_mean(trace: Any, name: str = "tail_mean's trace") -> float:
    """The mean over the last tenth of the logged steps (at least one): where a short run ended. A trace of no
    steps (None, []) has no end: a ValueError naming ``name`` (the mean of nothing was nan)."""
    trace = _TRACE.check(name, trace).detach().cpu().double().numpy().reshape(-1)
    return float(trace[-max(1, len(trace) // 10):].mean())


def _budget_runs(runs: Any) -> dict[float, Any]:
    """The constrained runs keyed by their budget ε (a number >= 0, read from a float, an int or a 0-d tensor), or a
    ValueError naming the key that is none."""
    values.mapping.check("the runs (ε -> History)", runs)
    read = {values.non_negative.check("a run's budget ε (its key)", e): run for e, run in runs.items()}
    if len(read) != len(runs):
        raise ValueError(f"the runs must have one budget each, got {sorted(read)} from {len(runs)} runs")
    return read


def _traces(run: Any, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """The β and KL traces of one constrained run, one value per step in both, or a ValueError."""
    what = f"the ε = {epsilon:g} run"
    beta, kl = _series(run, "beta", 0.0, what), _series(run, "kl", KL_FLOOR, what)  # dual ascent projects beta >= 0
    if len(beta) != len(kl):
        raise ValueError(f"the ε = {epsilon:g} run's 'beta' and 'kl' must hold one value per step each, got "
                         f"{len(beta)} and {len(kl)} values")
    return beta, kl


def _as_image(image: Any, what: str = "the image") -> np.ndarray:
    """A single-channel image in [0, 1] of any of the shapes (H, W), (1, H, W), (1, 1, H, W) as (H, W) float64 (the
    decoder's mean, not its logits; pixels as fractions, not bytes)."""
    a = _finite(image, what, 0.0, 1.0)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{what} must be one grey image (H, W), got shape {np.shape(image)}")
    return a


# --------------------------------------------------------------------------------------------- chapter 1: the ELBO
PRIOR_MEAN_ANSWERS = ("blank", "average", "centre", "off-centre")


@guarded("1.5", "predict: the decoder at z = 0")
@own_state
def predict_prior_mean(fn: Callable[[], str], image: Any, average: Any) -> bool:
    """Exercise 1.5: what the decoder draws for z = 0, the prior's most probable code.

    ``image``: the decoder's mean image at z = 0; ``average``: the mean of many data images (the average image).
    The outcome, read off ``image``: no pixel above 0.5 and under 5 % of the average image's ink -> "blank"; no pixel
    above 0.5 but more ink -> "average" (a faint blur); else one sharp shape, "centre" when the centre of its bright
    pixels is within 1/8 of the side from the middle, "off-centre" otherwise.
    """
    title = "predict: the decoder at z = 0"
    answer = ask("1.5", title, fn, choice_rules(PRIOR_MEAN_ANSWERS))
    if answer is _NO_ANSWER:
        return False
    img, avg = _as_image(image, "the decoded image"), _as_image(average, "the average image")
    if img.shape != avg.shape:
        raise ValueError(f"the decoded image and the average image must have one size, got {img.shape} and {avg.shape}")
    if img.shape[0] != img.shape[1]:
        raise ValueError(f"the decoded image must be square (dSprites' H = W), got {img.shape[0]}×{img.shape[1]}")
    if avg.max() < 1e-3:
        raise ValueError(f"the average image has no ink (its brightest pixel {avg.max():.2g}): no data set's average "
                         "image is blank; pass the mean of many data images")
    side = img.shape[-1]
    on = img > 0.5
    average_peak = float(avg.max())
    if not on.any():
        outcome = "blank" if img.sum() < 0.05 * avg.sum() else "average"
        measured = (f"no pixel of the decoded image is above 0.5 (its brightest {img.max():.2f}), and its ink is "
                    f"{img.sum() / max(avg.sum(), 1e-9):.0%} of the average image's")
    else:
        rows, cols = np.nonzero(on)
        cx, cy, middle = cols.mean(), rows.mean(), (side - 1) / 2
        outcome = "centre" if max(abs(cx - middle), abs(cy - middle)) <= side / 8 else "off-centre"
        measured = (f"{int(on.sum())} pixels of the decoded image are above 0.5, one shape centred at "
                    f"({cx:.0f}, {cy:.0f}) in a {side}×{side} image; the average image's brightest pixel is "
                    f"{average_peak:.2f}")
    typical = ("z = 0 is the middle of the prior, and in a trained VAE the middle value of each latent is a middle "
               "value of what it encodes: position X and Y half-way across, a medium size. One code is decoded to one "
               "image, the image that code stands for: a single sharp shape near the middle.")
    not_average = (f"The average image (a faint square spread over every position, brightest pixel {average_peak:.2f}) "
                   "is what a decoder draws when it ignores z: a collapsed VAE, which chapter 2's appendix meets; and "
                   "no dSprites image is blank.")
    why = {"centre": f"{typical} {not_average}",
           "off-centre": f"{typical} This decoder put it away from the middle: its latents do not centre the "
                         f"positions on 0 (a latent may flip or shift the factor's scale). {not_average}",
           "average": "this decoder draws a faint blur at z = 0: it barely reads z, so its best guess for any code is "
                      "the average of the images, the sign of a collapsed or barely trained VAE (KL ≈ 0). A trained "
                      f"decoder draws one sharp shape for one code. {typical}",
           "blank": "this decoder draws almost nothing at z = 0, which no dSprites image looks like: a decoder so "
                    f"early in training that it has learnt mostly the black background. {typical}"}[outcome]
    return prediction_verdict("1.5", title, answer, outcome, measured, why)


@guarded("1.6", "interpret: the traversal rows that move")
@own_state
def interpret_traversals(fn: Callable[[], int], grid: Any, kl: Any) -> bool:
    """Exercise 1.6: how many rows of a traversal grid change the image.

    ``grid``: (R, V, C, H, W), row r traverses latent r (``viz.traversal_images``); ``kl``: (R,) batch-mean KL of each
    latent. A row moves when at least 0.2 % of its pixels change by more than 0.5 along it.
    """
    title = "interpret: the traversal rows that move"
    grid = torch.from_numpy(_finite(grid, "the traversal grid (decoded means)", 0.0, 1.0))
    if grid.dim() != 5 or grid.shape[1] < 2:
        raise ValueError(f"the traversal grid must be (R, V, C, H, W) (viz.traversal_images) with V >= 2 values per "
                         f"row (a row of one image cannot change), got shape {tuple(grid.shape)}")
    rows = grid.shape[0]
    answer = ask("1.6", title, fn, number_rules("the number of rows", 0, rows, integer=True))
    if answer is _NO_ANSWER:
        return False
    answer = int(round(number_value(answer)))
    kl = _finite(kl, "the latents' KL", KL_FLOOR).reshape(-1)
    if len(kl) != rows:
        raise ValueError(f"the latents' KL must hold one value per traversal row ({rows}), got {len(kl)}")
    changed = ((grid.amax(1) - grid.amin(1)) > 0.5).flatten(1).double().mean(1).numpy()  # (R,) fraction of pixels
    moving = [r for r in range(rows) if changed[r] >= 0.002]
    flat = [r for r in range(rows) if r not in moving]
    right = answer == len(moving)
    listed = ", ".join(f"z{r} ({changed[r]:.0%} of its pixels)" for r in moving) or "none"
    said = (f"you counted {answer}; {len(moving)} rows change the image: {listed}; the "
            f"other {len(flat)} are flat")
    if not right and abs(answer - len(moving)) == 1:
        said += " (off by one: a row whose shape only shifts a little still counts; a row that stays the same does not)"
    kl_moving = ", ".join(f"z{r} {kl[r]:.2f}" for r in moving) or "none"
    kl_flat = f"{max(kl[r] for r in flat):.3f}" if flat else "–"
    why = (f"a row moves only if the decoder reads that latent. The moving rows are the latents that carry information "
           f"(mean KL in nats: {kl_moving}); the flat ones have KL ≈ 0 (at most {kl_flat} nats): their posterior is "
           "the prior for every image, they say nothing, and the decoder has learnt to ignore them. dSprites has five "
           f"factors, yet this β = 1 VAE draws with {len(moving)} latents: shape and orientation change few pixels and "
           "are barely learnt, and the factors it did learn are spread over its latents (the lecture's last check "
           "counts several latents per factor).")
    return report("1.6", title, right, said, why)


# --------------------------------------------------------------------------------------------- chapter 2: beta-VAE
MULTIPLIER_ANSWERS = ("higher", "same", "lower")


def _compare(a: float, b: float, tolerance: float = 0.1) -> str:
    """'higher' / 'same' / 'lower' for a against b; 'same' within ``tolerance`` of the larger (and 0.02)."""
    if abs(a - b) <= tolerance * max(abs(a), abs(b)) + 0.02:
        return "same"
    return "higher" if a > b else "lower"


@guarded("2.5", "predict: the multiplier for a tighter budget")
@own_state
def predict_multiplier(fn: Callable[[], str], runs: Mapping[float, Any], tight: float = 4.0,
                       loose: float = 8.0) -> bool:
    """Exercise 2.5: with ε = ``tight`` instead of ``loose``, does the multiplier end higher, the same or lower?

    ``runs``: ε -> the History of a constrained run (``beta`` and ``kl`` logged per step), both from the same seed.
    The outcome compares the mean of β over the last tenth of the steps ("same": within 10 %).
    """
    title = "predict: the multiplier for a tighter budget"
    answer = ask("2.5", title, fn, choice_rules(MULTIPLIER_ANSWERS))
    if answer is _NO_ANSWER:
        return False
    tight, loose = (values.non_negative.check(f"predict_multiplier's {n}", v) for n, v in (("tight", tight),
                                                                                          ("loose", loose)))
    if not tight < loose:
        raise ValueError(f"predict_multiplier's tight budget must be below its loose one, got tight = {tight:g} "
                         f"and loose = {loose:g}")
    runs = _budget_runs(runs)
    for e in (tight, loose):
        if e not in runs:
            raise ValueError(f"the runs have no run with ε = {e:g} (they have {sorted(runs)})")
    traces = {e: _traces(runs[e], e) for e in (tight, loose)}
    if len(traces[tight][0]) != len(traces[loose][0]):
        raise ValueError(f"the two runs must be of one length, got {len(traces[tight][0])} steps with ε = {tight:g} "
                         f"and {len(traces[loose][0])} with ε = {loose:g}")
    beta = {e: tail_mean(traces[e][0]) for e in (tight, loose)}
    kl = {e: tail_mean(traces[e][1]) for e in (tight, loose)}
    steps = len(traces[tight][0])
    outcome = _compare(beta[tight], beta[loose])
    measured = (f"over the last tenth of {steps} steps β was {beta[tight]:.2f} with ε = {tight:g} and "
                f"{beta[loose]:.2f} with ε = {loose:g} (the KL {kl[tight]:.1f} and {kl[loose]:.1f} nats)")
    reason = (f"dual ascent moves β by η (KL − ε) after every step. With ε = {tight:g} the same KL is "
              f"{loose - tight:g} nats further over the budget at every step, so β climbs faster; and to hold the KL at a smaller budget "
              "the pressure on it has to stay larger. The multiplier is the price of a nat of KL: the tighter the "
              "budget, the higher the price (in the chapter's sweep, the fixed β that spends fewer nats is the larger "
              "one).")
    if outcome == "higher":
        why = reason + " This run shows it."
    else:
        why = (reason + f" This short run did not show it: after {steps} steps neither run has settled (β often falls "
               "to 0 early on, while the KL dips under the budget, and climbs again later), so the two can be at "
               "different points of that transient; a longer run (the chapter's 4,500 steps) ends with the tighter "
               "budget's multiplier above the looser one's.")
    return prediction_verdict("2.5", title, answer, outcome, measured, why)


@guarded("2.6", "vary and measure: the multiplier at your budget")
@own_state
def vary_epsilon(fn: Callable[[Any], float], runs: Mapping[float, Any], epsilon: float) -> bool:
    """Exercise 2.6: the learner's reading of β at the end of their run (ε = ``epsilon``), recomputed.

    ``runs``: ε -> History of the constrained runs (the learner's and the baselines). The quantity: the mean of
    ``history["beta"]`` over the last tenth of the steps.
    """
    title = "vary and measure: the multiplier at your budget"
    epsilon = yours(values.non_negative, "vary_epsilon's epsilon (your budget ε)", epsilon)
    runs = _budget_runs(runs)
    if epsilon not in runs:
        raise ValueError(f"the runs have no run with your ε = {epsilon:g} (they have {sorted(runs)})")
    mine = runs[epsilon]
    value = ask("2.6", title, fn, number_rules("the multiplier", 0.0), mine)
    if value is _NO_ANSWER:
        return False
    beta_trace, kl_trace = _traces(mine, epsilon)
    want = tail_mean(beta_trace)
    order = sorted(runs)
    ends = {e: tail_mean(_traces(runs[e], e)[0]) for e in order}
    kl_end = tail_mean(kl_trace)
    measured = ("β at the end of each run: " + ", ".join(f"ε = {e:g} → {ends[e]:.2f}" for e in order)
                + f"; your run's KL ended at {kl_end:.2f} nats against ε = {epsilon:g}")
    misreadings = [(float(beta_trace[-1]), "β at the very last step, not the mean over the last tenth"),
                   (float(beta_trace[0]), "β at the first step (it starts at β₀)"),
                   (float(beta_trace.mean()), "the mean of β over the whole run"),
                   (float(beta_trace.max()), "the largest β of the run"),
                   (kl_end, "the KL at the end, not the multiplier")]
    misreadings += [(ends[e], f"the multiplier of the ε = {e:g} run, not of yours") for e in order if e != epsilon]
    falling = all(ends[a] >= ends[b] - 0.02 for a, b in zip(order, order[1:]))
    slackness = "complementary slackness, β (KL − ε) = 0 at the solution"
    if want < 0.05:
        state = (f"β has fallen to (about) 0: the constraint is slack. By {slackness}: when the model's KL can stay "
                 "under the budget the multiplier goes to 0, and the objective is the reconstruction term alone.")
    elif abs(kl_end - epsilon) <= 0.05 * epsilon:
        state = (f"β > 0 with the KL at the budget: the constraint is active ({slackness}: β > 0 only where "
                 "KL = ε), and the multiplier holds the KL there.")
    elif kl_end < epsilon:
        state = (f"the KL ({kl_end:.2f} nats) is under your budget, so every step lowers β: it is on its way down, "
                 f"toward 0 if the KL stays under ε (the constraint slack) or to the value that holds KL = ε if the "
                 f"KL comes back up ({slackness}).")
    else:
        state = (f"the KL ({kl_end:.2f} nats) is still over your budget, so every step raises β: the multiplier is "
                 "still climbing toward the value that holds the KL at ε (the constraint active).")
    trend = ("The larger the budget, the smaller the multiplier: β is the price of a nat of KL, the reconstruction "
             "one more nat of budget would buy, and it falls as the budget loosens." if falling else
             f"Here the order is not monotone in ε: these runs are short ({len(beta_trace)} steps) and β has not "
             "settled; over a full run the larger budget ends with the smaller multiplier.")
    return reading_verdict("2.6", title, number_value(value), want, measured, f"{state} {trend}", misreadings)


@guarded("2.7", "interpret: what β = 16 lets go")
@own_state
def interpret_dropped_factor(fn: Callable[[], str], scores: Mapping[str, Any], kl: Any = None) -> bool:
    """Exercise 2.7: which factor has no latent of its own, from ``metrics.factor_latent_correlations`` of the
    model (``factor_names``, ``latent``, ``abs_rho``, ``threshold``); ``kl``: its (D,) per-dimension KL."""
    title = "interpret: what β = 16 lets go"
    what = "scores (metrics.factor_latent_correlations' dict)"
    names = _names(_entry(scores, "factor_names", what), "factor_names", "factor names", with_none=True)
    answer = ask("2.7", title, fn, choice_rules([*names, "none"]))
    if answer is _NO_ANSWER:
        return False
    rho = _finite(_entry(scores, "abs_rho", what), "abs_rho (|ρ|)", 0.0, 1.0).reshape(-1).tolist()
    kl = None if kl is None else _finite(kl, "the latents' KL", KL_FLOOR).reshape(-1)
    latents = _finite(_entry(scores, "latent", what), "latent (each factor's best latent, an index" + (
        f" into the KL, which holds {len(kl)})" if kl is not None else f" below {values.MAX_UNITS:,})"), 0.0,
                      values.MAX_UNITS - 1 if kl is None else len(kl) - 1, whole=True).reshape(-1)
    latents = [int(v) for v in latents]
    threshold = _one(_entry(scores, "threshold", what), "threshold (an |ρ|)", 0.0, 1.0)
    if not len(rho) == len(latents) == len(names):
        raise ValueError(f"factor_names, latent and abs_rho must have one entry per factor, got {len(names)}, "
                         f"{len(latents)} and {len(rho)}")
    if len(set(latents)) != len(latents):  # factor_latent_correlations assigns one latent per factor (Hungarian)
        raise ValueError(f"latent must name a different latent for each factor (one latent per factor), got "
                         f"{latents}")
    dropped = {n for n, r in zip(names, rho) if r < threshold}
    outcome = dropped or {"none"}
    measured = ("the best latent of each factor: " + ", ".join(f"{n} z{l} |ρ| {r:.3f}" for n, l, r in
                                                               zip(names, latents, rho))
                + f" (a latent of its own needs |ρ| ≥ {threshold:g})")
    budget = ""
    if kl is not None:
        budget = (f"β = 16 leaves a budget of {kl.sum():.1f} nats per image, spent on {int((kl > 0.1).sum())} active "
                  "latents. ")
    why = (budget + "Moving the shape changes many pixels, and position has 32 values along each axis; a change of "
           "scale (6 values) changes only the rim. Per nat of KL, position buys far more reconstruction, so when the "
           "budget is tightest it is scale that goes: the moving rows of the traversal move the shape left–right and "
           "up–down, none of them makes it grow. The factors that survive a budget are those that buy the most "
           "reconstruction per nat, the KL side of the rate–distortion trade.")
    if outcome == {"none"}:
        why = ("every factor kept a latent of its own in this model. " + why)
    return prediction_verdict("2.7", title, answer, outcome, measured, why, verb="answered")


# ----------------------------------------------------------------------------------- chapter 3: the metrics
ROTATION_ANSWERS = ("Higgins", "MIG", "both", "neither")


IDEAL_SCORE_FLOOR = 0.05  # an ideal code's Higgins score is ~1 (chance is 1/K) and its MIG ~1 (lecture 3)


@guarded("3.5", "predict: which metric notices a rotation")
@own_state
def predict_rotation(fn: Callable[[], str], scores: Mapping[str, Mapping[str, float]]) -> bool:
    """Exercise 3.5: ``scores["ideal code"]`` and ``scores["rotated"]``, each {"Higgins": ..., "MIG": ...}. A metric
    notices the rotation when the rotated code keeps less than half of the ideal code's score."""
    title = "predict: which metric notices a rotation"
    answer = ask("3.5", title, fn, choice_rules(ROTATION_ANSWERS))
    if answer is _NO_ANSWER:
        return False
    what = "scores (the ideal and the rotated code's)"
    ideal, rotated = ({m: _one(_entry(_entry(scores, code, what), m, f"scores[{code!r}]"), f"the {code}'s {m} score",
                               0.0, 1.0) for m in ("Higgins", "MIG")} for code in ("ideal code", "rotated"))
    for m in ("Higgins", "MIG"):
        if ideal[m] < IDEAL_SCORE_FLOOR:
            raise ValueError(f"the ideal code's {m} score must be at least {IDEAL_SCORE_FLOOR:g} (an ideal code scores "
                             f"high; the rotated code keeps a share of it), got "
                             f"{ideal[m]:.{_digits(ideal[m], IDEAL_SCORE_FLOOR)}g}")
        if rotated[m] > ideal[m] + 0.25:
            raise ValueError(f"the rotated code's {m} score ({rotated[m]:.3f}) must not be far above the ideal "
                             f"code's ({ideal[m]:.3f}): a rotation adds no information; were the two swapped?")
    kept = {m: rotated[m] / ideal[m] for m in ("Higgins", "MIG")}
    noticed = [m for m in ("Higgins", "MIG") if kept[m] < 0.5]
    outcome = "both" if len(noticed) == 2 else noticed[0] if noticed else "neither"
    measured = ", ".join(f"the rotated code keeps {kept[m]:.0%} of the ideal code's {m} ({float(rotated[m]):.3f} of "
                         f"{float(ideal[m]):.3f})" for m in ("Higgins", "MIG"))
    why = ("a rotation loses no information, but it spreads every factor over every dimension. The Higgins metric's "
           "classifier is linear in z_diff: with a factor fixed, |z1 − z2| is still small along some direction, and a "
           "linear classifier finds that direction whatever the axes, so the score barely moves: the metric "
           "saturates. MIG asks, for each factor, how much more the single best dimension knows than the second "
           "best; after the rotation several dimensions know about each factor alike, so the gap, and MIG, collapse. "
           "That is why the metrics after Higgins et al. ask for one dimension per factor.")
    if outcome not in ("MIG",):
        why += (" (In this run the scores fell otherwise than usual: with few evaluation points, FAST mode, a score "
                "scatters by several hundredths.)")
    return prediction_verdict("3.5", title, answer, outcome, measured, why)


@guarded("3.6", "vary and measure: pairs per point")
@own_state
def vary_pairs(fn: Callable[[Any], float], results: Mapping[int, Mapping[str, Any]], pairs: int, baseline: int = 32,
               chance: float | None = None) -> bool:
    """Exercise 3.6: the Higgins score (eval accuracy) of the run with L = ``pairs`` pairs per point, recomputed
    from ``results`` (L -> the dict ``metrics.higgins`` returned), beside the ``baseline`` L."""
    title = "vary and measure: pairs per point"
    pairs = yours(values.positive_int, "vary_pairs's pairs (your L)", pairs)
    baseline = values.positive_int.check("vary_pairs's baseline", baseline)
    chance = None if chance is None else _one(chance, "vary_pairs's chance (an accuracy)", 0.0, 1.0)
    what = "vary_pairs's results (L -> metrics.higgins' dict)"
    values.mapping.check(what, results)
    mine = _results(_entry(results, pairs, what, f"run with your L = {pairs}"), f"the L = {pairs} run's results")
    value = ask("3.6", title, fn, number_rules("the eval accuracy", 0.0), mine)
    if value is _NO_ANSWER:
        return False
    theirs = _entry(results, baseline, what, f"run with the baseline L = {baseline}")
    want, base = (_one(_entry(r, "eval_accuracy", f"the L = {L} run's results"), f"the L = {L} run's eval accuracy",
                       0.0, 1.0) for L, r in ((pairs, mine), (baseline, theirs)))
    n_eval = (int(_one(mine["n_eval"], "the run's n_eval (a number of points)", 1.0, whole=True))
              if _has(mine, "n_eval") and mine["n_eval"] is not None else None)
    train = (_one(mine["train_accuracy"], "the run's train accuracy", 0.0, 1.0)
             if _has(mine, "train_accuracy") and mine["train_accuracy"] is not None else math.nan)
    measured = f"L = {pairs}: {want:.3f}; L = {baseline}: {base:.3f}" + (f"; chance {chance:.2f}" if chance is not None else "")
    misreadings = [(train,
                    "the training accuracy; the score is the eval accuracy"),
                   (100 * want, "the accuracy in percent; give it as a fraction from 0 to 1"),
                   (base, f"the score at L = {baseline}, the baseline, not at your L")]
    spread = f" (an accuracy on {n_eval} points scatters by about ±{math.sqrt(want * (1 - want) / n_eval):.3f})" \
        if n_eval else ""
    why = ("one point's z_diff averages |z1 − z2| over L pairs. In every pair the fixed factor's coordinates agree, "
           "while the other factors differ at random; averaging over L pairs shrinks that noise like 1/√L. With few "
           "pairs the fixed factor hides in the noise and the classifier guesses wrong more often; with many, the "
           "smallest coordinates point at it reliably and the score stops rising.")
    if pairs < baseline:
        why += f" Here fewer pairs scored {'lower' if want < base else 'not lower'}{spread}."
    else:
        why += f" Here more pairs scored {'higher' if want > base else 'no higher'}{spread}: past a few dozen pairs " \
               "the score saturates."
    return reading_verdict("3.6", title, number_value(value), want, measured, why, misreadings, rel=0.0,
                           abs_tol=5e-4)  # three decimals; 1 % of an accuracy would pass another quantity


# ----------------------------------------------------------------------------------- chapter 4: the Ladder VAE
WARMUP_ANSWERS = ("more", "same", "fewer")


@guarded("4.5", "predict: active units without warm-up")
@own_state
def predict_warmup(fn: Callable[[], str], runs: Mapping[str, Mapping[str, Sequence[int]]]) -> bool:
    """Exercise 4.5: ``runs["with warm-up"]`` and ``runs["without warm-up"]``, each {"kl": active units per layer by
    KL > 0.01 nats, "au": by A_u > 0.01}. The outcome: the KL count without warm-up against the count with it."""
    title = "predict: active units without warm-up"
    answer = ask("4.5", title, fn, choice_rules(WARMUP_ANSWERS))
    if answer is _NO_ANSWER:
        return False
    what = "runs (with and without warm-up)"
    warm, cold = (_results(_entry(runs, name, what), f"the {name} run's counts") for name in ("with warm-up",
                                                                                              "without warm-up"))

    counts = {(name, key): _finite(_entry(run, key, f"the {name} run's counts"),
                                   f"the {name} run's {key!r} (active units per layer)", 0.0, values.MAX_UNITS,
                                   whole=True).reshape(-1).astype(np.int64)
              for name, run in (("with warm-up", warm), ("without warm-up", cold)) for key in ("kl", "au")
              if key == "kl" or _has(run, key)}
    if len({len(c) for c in counts.values()}) != 1:
        raise ValueError("the runs' counts must hold one count per layer, the same layers in both, got "
                         + ", ".join(f"{len(c)} in {name} {key!r}" for (name, key), c in counts.items()))
    a, b = int(counts["with warm-up", "kl"].sum()), int(counts["without warm-up", "kl"].sum())
    outcome = "same" if a == b else "more" if b > a else "fewer"
    shown = {k: c.tolist() for k, c in counts.items()}
    measured = (f"units with KL > 0.01 nats, layers z1 … z{len(shown['with warm-up', 'kl'])}: "
                f"{shown['with warm-up', 'kl']} ({a}) with warm-up, {shown['without warm-up', 'kl']} ({b}) without"
                + (f"; by A_u: {shown['with warm-up', 'au']} and {shown['without warm-up', 'au']}"
                   if ("with warm-up", "au") in shown and ("without warm-up", "au") in shown else ""))
    reason = ("with the KL at full weight from the first step, a unit pays for what it says before the decoder has "
              "learnt to use it, so a unit that is not useful at once is pushed onto its prior; once there, its KL "
              "and its gradient toward being used are both near 0, and it stays inactive. Warm-up (β from 0 to 1, "
              "Eq. 26) lets units become useful before the KL presses them [sonderby2016, Sec. 2.4]; the lecture's "
              "models show it (VAE + BN + warm-up keeps more active units than VAE + BN).")
    if outcome == "fewer":
        why = reason + " This run shows it."
    else:
        why = (reason + " This run did not show it: a small three-layer ladder, a few epochs, one seed; at this size "
               "another seed moves the count by a few units either way, which can hide the effect. (A_u counts units "
               "whose mean moves with x, and in a ladder that includes units whose KL is 0: the lecture, section 5.)")
    return prediction_verdict("4.5", title, answer, outcome, measured, why)


@guarded("4.6", "vary and measure: importance samples")
@own_state
def vary_samples(fn: Callable[[Tensor, int], float], log_w: Tensor, k: int) -> bool:
    """Exercise 4.6: L_k − L_1 in nats, the mean over the images of the importance-weighted bound with the first
    ``k`` samples of ``log_w`` (k_max, B) minus the one-sample bound (the first sample), recomputed."""
    from vaecourse.objectives import log_mean_exp

    title = "vary and measure: importance samples"
    log_w = torch.from_numpy(_finite(log_w, "log_w (the log-weights)"))
    if log_w.dim() != 2:
        raise ValueError(f"log_w must be the log-weights (k_max, B): samples by images, got shape {tuple(log_w.shape)}")
    k = yours(values.integer(f"a number of samples from 1 to {log_w.shape[0]} (log_w's k_max), a whole number",
                             1, log_w.shape[0]), "vary_samples' k (your k)", k)
    value = ask("4.6", title, fn, number_rules("L_k − L_1"), log_w, k)
    if value is _NO_ANSWER:
        return False
    k_max = log_w.shape[0]
    bound = {j: float(log_mean_exp(log_w[:j], 0).mean()) for j in sorted({1, 10, k, k_max}) if j <= k_max}
    want = bound[k] - bound[1]
    elbo = float(log_w.mean())
    measured = ("bounds on the same images, in nats: " + ", ".join(f"L_{j} {v:.2f}" for j, v in bound.items()))
    misreadings = [(bound[k], f"L_{k} itself, not its gain over L_1"),
                   (bound[k] - elbo, f"L_{k} minus the mean log-weight of all samples; the question asks for L_1, the "
                                     "first sample alone"),
                   (bound[1] - bound[k], "L_1 − L_k: the sign is the other way round"),
                   (bound[log_w.shape[0]] - bound[1], f"the gain at k = {log_w.shape[0]} (all samples), not at your k")]
    why = (f"L_k = log (1/k) Σ w_s is never below the average of log w_s (Jensen), and in expectation it rises with k "
           f"toward log p(x) [burda2016, Theorem 1]: each extra sample is another chance to find a z that explains x "
           f"better. The gain comes fast for the first samples and slowly after; the gain at k = {log_w.shape[0]}, "
           f"{bound[log_w.shape[0]] - bound[1]:+.2f} nats, is (in expectation) a lower bound on how far the ELBO sits "
           "below log p(x), that is on KL(q(z|x) || p(z|x)).")
    return reading_verdict("4.6", title, number_value(value), want, measured, why, misreadings, rel=1e-3, abs_tol=1e-3,
                    unit=" nats")


# ----------------------------------------------------------------------------------- chapter 5: CausalVAE
COLLIDER_ANSWERS = ("observational", "conditioned", "intervened")


MIN_POINTS = 50  # |r| > 0.3 is not chance from 50 points on (at n = 4 it often is; ~43 points give p = 0.05)


def _corr(sample: Any, a: str, b: str, panel: str) -> float:
    """corr(a, b) of one panel's samples, or a ValueError when the panel cannot show a correlation: samples of two
    lengths, fewer than ``MIN_POINTS`` points, or a constant variable. Each variable is divided by its largest size
    and centred before its spread is taken, so that no sum overflows (1e30) and no square underflows (1e-300)."""
    what = f"the {panel} panel"
    x, y = (_finite(_entry(sample, v, what), f"the {panel} panel's {v}") for v in (a, b))
    if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"the {panel} panel's {a} and {b} must be samples of one length (1-D), got shapes "
                         f"{x.shape} and {y.shape}")
    if len(x) < MIN_POINTS:
        raise ValueError(f"the {panel} panel cannot show whether {a} and {b} are correlated: {len(x)} points, and "
                         f"below {MIN_POINTS} a correlation of 0.3 is often chance; the check does not judge it")
    scaled = []
    for v in (x, y):
        size = float(np.abs(v).max())
        v = v / size if size > 0 else v
        v = v - v.mean()
        scaled.append((v, float(v.std())))
    (x, sx), (y, sy) = scaled
    if sx <= 1e-12 or sy <= 1e-12:  # constant, up to the rounding of its mean
        raise ValueError(f"the {panel} panel cannot show whether {a} and {b} are correlated: {len(x)} points, "
                         f"{a} {'constant' if sx <= 1e-12 else 'varies'}, {b} "
                         f"{'constant' if sy <= 1e-12 else 'varies'}; the check does not judge it")
    return float(np.clip((x / sx * (y / sy)).mean(), -1.0, 1.0))


@guarded("5.5", "predict: the collider")
@own_state
def predict_collider(fn: Callable[[], str], panels: Mapping[str, Mapping[str, Any]]) -> bool:
    """Exercise 5.5: ``panels`` "observational", "conditioned" (x2 ≈ 1), "intervened" (do(x2 = 1)) of the collider
    x1 → x2 ← x3, each {"x1": ..., "x3": ...}; dependent where |corr(x1, x3)| > 0.3."""
    title = "predict: the collider"
    answer = ask("5.5", title, fn, choice_rules(COLLIDER_ANSWERS))
    if answer is _NO_ANSWER:
        return False
    r = {name: _corr(_entry(panels, name, "panels (the collider's samples)", f"{name!r} panel"), "x1", "x3", name)
         for name in COLLIDER_ANSWERS}
    dependent = {name for name, v in r.items() if abs(v) > 0.3} or {"none of them"}
    measured = "corr(x1, x3): " + ", ".join(f"{name} {v:+.2f}" for name, v in r.items())
    why = ("x1 and x3 are independent causes of x2. Observed, nothing connects them. Knowing that x2 ≈ 1 does: if x1 "
           "is large, x3 must be small for their sum to land near 1 ('explaining away', a dependence created by "
           "selecting on a common effect). do(x2 = 1) sets x2 without looking at x1 or x3: the arrows into x2 are cut, "
           "x1 and x3 keep their own equations and stay independent. So conditioning and intervening differ: in a "
           "chain or a fork both remove the dependence; in a collider conditioning creates one and intervening "
           "does not.")
    if dependent != {"conditioned"}:
        why += (" (This run's sample did not come out that way: was your sampler of 5.1 checked? With the library's "
                "sampler only the conditioned panel is dependent.)")
    return prediction_verdict("5.5", title, answer, dependent, measured, why)


EFFECT_ANSWERS = ("shadow only", "shadow and pendulum", "pendulum only", "nothing")
MIN_CHANGE = 1e-3  # mean |pixel change| along a row below which nothing moved (a float32 decoder's rounding is ~1e-7)


def _row_mask(rows: Any, height: int) -> Tensor:
    """``shadow_rows`` as a bool tensor (height,) with rows inside and outside the shadow: a bool tensor, a bool
    array or a list of bools; anything else (None, text, numbers, a dict, a meta tensor) is a ValueError naming it."""
    expected = (f"shadow_rows must be a boolean mask of the {height} image rows (a bool tensor, array or list of "
                f"bools) with rows inside and outside the shadow, got ")
    if isinstance(rows, Tensor):
        mask = rows.detach().cpu() if rows.device.type != "meta" and rows.dtype == torch.bool else None
    elif isinstance(rows, np.ndarray):
        mask = torch.from_numpy(rows.copy()) if rows.dtype == np.bool_ else None
    elif isinstance(rows, (list, tuple)) and rows and all(isinstance(r, (bool, np.bool_)) for r in rows):
        mask = torch.tensor([bool(r) for r in rows])
    else:
        mask = None
    if mask is None:
        raise ValueError(expected + shown(rows))
    if mask.shape != (height,) or mask.all() or not mask.any():
        raise ValueError(expected + f"{mask.dtype} of shape {tuple(mask.shape)}"
                         + (" with every row in it" if mask.shape == (height,) and mask.all() else
                            " with no row in it" if mask.shape == (height,) else ""))
    return mask


def _row_change(images: Any, rows: Any, what: str = "a row of intervened images") -> tuple[float, float]:
    """How much a row of images (V, C, H, W) in [0, 1] changes along it: mean |image − their mean| outside and inside
    ``rows``."""
    images = torch.from_numpy(_finite(images, f"{what} (pixels in [0, 1]: decoded means, not logits or bytes)",
                                      0.0, 1.0))
    if images.dim() != 4 or images.shape[0] < 2:
        raise ValueError(f"a row of intervened images must be (V, C, H, W) with V >= 2 values (one value changes "
                         f"nothing), got shape {tuple(images.shape)}")
    rows = _row_mask(rows, images.shape[2])
    d = (images - images.mean(0, keepdim=True)).abs()
    return float(d[:, :, ~rows].mean()), float(d[:, :, rows].mean())


@guarded("5.6", "predict: do(shadow position) in a model of the graph")
@own_state
def predict_effect_intervention(fn: Callable[[], str], model_rows: Mapping[str, Any], true_rows: Mapping[str, Any],
                                shadow_rows: Any) -> bool:
    """Exercise 5.6: the model's images under do(theta = c) and do(shadow_position = c) for several c
    (``model_rows[concept]``: (V, C, H, W)), the simulator's (``true_rows``), and the image rows the shadow can darken.
    The shadow moves when its rows change by more than a quarter of the simulator's change; the pendulum (and sun)
    when the pixels outside change by more than a quarter of what do(theta) changes there."""
    title = "predict: do(shadow position) in a model of the graph"
    answer = ask("5.6", title, fn, choice_rules(EFFECT_ANSWERS))
    if answer is _NO_ANSWER:
        return False
    sources = {"model": _results(model_rows, "model_rows (the model's do() rows)"),
               "simulator": _results(true_rows, "true_rows (the simulator's do() rows)")}
    row = {(who, c): _entry(source, c, f"the {who}'s rows", f"do({c}) row") for who, source in sources.items()
           for c in ("shadow_position", "theta") if c == "shadow_position" or who == "model" or _has(source, c)}
    rows = {k: np.shape(v) for k, v in row.items()}
    if len(set(rows.values())) != 1:
        raise ValueError("the model's and the simulator's rows must be images of one shape (V, C, H, W), got "
                         + ", ".join(f"{shape} ({who}, do({c}))" for (who, c), shape in rows.items()))
    outside, inside = _row_change(row["model", "shadow_position"], shadow_rows, "the model's do(shadow_position) row")
    _, truth_inside = _row_change(row["simulator", "shadow_position"], shadow_rows,
                                  "the simulator's do(shadow_position) row")
    theta_outside, _ = _row_change(row["model", "theta"], shadow_rows, "the model's do(theta) row")
    if truth_inside < MIN_CHANGE:
        raise ValueError(f"the simulator's shadow does not move under do(shadow position) (its shadow rows change by "
                         f"{truth_inside:.{_digits(truth_inside, MIN_CHANGE)}g}): the run cannot show whether the "
                         "model's does; the check does not judge it")
    if theta_outside < MIN_CHANGE:  # the yardstick of "the pendulum moves": a model whose do(θ) moves nothing has none
        raise ValueError(f"the model's pendulum does not move under do(θ) (its pixels outside the shadow change by "
                         f"{theta_outside:.{_digits(theta_outside, MIN_CHANGE)}g}): the run cannot show whether "
                         "do(shadow position) moves it; the check does not judge it")
    shadow_moves, rest_moves = inside > 0.25 * truth_inside, outside > 0.25 * theta_outside
    outcome = {(True, False): "shadow only", (True, True): "shadow and pendulum", (False, True): "pendulum only",
               (False, False): "nothing"}[shadow_moves, rest_moves]
    measured = (f"across the values of do(shadow position) the model's shadow rows change by {inside:.3f} on average "
                f"(the simulator's {truth_inside:.3f}), its pixels outside them by {outside:.4f} (under do(θ): "
                f"{theta_outside:.4f})")
    why = ("do(shadow position = c) replaces the position's equation by the constant c: the arrows θ → position and "
           "φ → position are cut, and an intervention acts only downstream. θ and φ keep their values, so the pendulum "
           "and the sun stay where they were; the position has no child in the true graph, so nothing else follows. "
           "The promise model learned that graph (its prune removed position → length) and draws the shadow's rows "
           "from the shadow's latents, so its counterfactuals do as the simulator's. Under do(θ) it is the other way "
           "round: the pendulum swings and the shadow follows it (θ → length, θ → position).")
    if outcome != "shadow only":
        why += (" This model's images did not do that here: a model whose decoder draws the shadow from the angle "
                "latents, or whose graph is wrong, moves the pendulum too, or the shadow not at all.")
    return prediction_verdict("5.6", title, answer, outcome, measured, why)


@guarded("5.7", "vary and measure: the independence weight")
@own_state
def vary_independence(fn: Callable[[Tensor], int], learned: Any, true: Any, weight: float,
                      names: Sequence[str] | None = None, threshold: float = 0.3) -> bool:
    """Exercise 5.7: the structural Hamming distance of the graph learned from the labels with independence weight
    ``weight``, recomputed from ``learned`` A (n, n) against ``true`` (edges where |A| > ``threshold``)."""
    from vaecourse.metrics.causal import structural_hamming_distance

    title = "vary and measure: the independence weight"

    weight = yours(values.non_negative, "vary_independence's weight (your λ)", weight)
    threshold = values.non_negative.check("vary_independence's threshold (an |A|)", threshold)
    A = torch.from_numpy(_finite(learned, "the learned graph A")).float()
    G = torch.from_numpy(_finite(true, "the true graph", bools=True)).float()
    n = G.shape[0] if G.dim() == 2 else 0
    for what, graph in (("the learned graph A", A), ("the true graph", G)):
        if graph.dim() != 2 or graph.shape != (n, n) or n < 2:
            raise ValueError(f"{what} must be a square (n, n) adjacency matrix like the true graph's, got shapes "
                             f"{tuple(A.shape)} (learned) and {tuple(G.shape)} (true)")
    G = G != 0
    if names is not None:
        names = _names(names, "vary_independence's names", "concept names", count=n)
    pairs = n * (n - 1) // 2
    value = ask("5.7", title, fn, number_rules("the SHD", 0, pairs, integer=True), A)
    if value is _NO_ANSWER:
        return False
    want = structural_hamming_distance(A, G.float(), threshold)
    edges = A.abs() > threshold
    names = list(names) if names is not None else [f"x{i + 1}" for i in range(n)]
    missing, reversed_, extra = [], [], []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if G[i, j] and not edges[i, j]:
                (reversed_ if edges[j, i] else missing).append(f"{names[i]} → {names[j]}")
            elif edges[i, j] and not G[i, j] and not G[j, i]:
                extra.append(f"{names[i]} → {names[j]}")
    counted = int(edges.sum())
    measured = (f"λ = {weight:g}: SHD {want} of {pairs} node pairs; " + "; ".join(
        f"{what} {', '.join(items)}" for what, items in (("missing", missing), ("reversed", reversed_),
                                                         ("extra", extra)) if items) if want else
        f"λ = {weight:g}: SHD 0, the true graph")
    misreadings = [(float(counted), "the number of learned edges; the SHD counts the node pairs where the learned "
                                    "graph differs from the true one"),
                   (float(want + len(reversed_)), "a reversed edge counted twice (missing + extra); it is one pair, "
                                                  "one difference")]
    if weight == 0:
        why = ("with λ = 0 the fit minimises the squared error alone, and on these labels the squared error is lowest "
               "on graphs rooted at the shadow (the lecture: the true graph has the highest label loss of the three), "
               "so expect reversed edges: a regression loss does not see which way the arrows point.")
    else:
        why = ("the HSIC term asks the residuals, the graph's noises, to be independent, as an SCM's are. On the true "
               "graph they are (θ and φ are independent), on the reversed one they are not, so the term orients the "
               "two colliders θ → length ← φ and θ → position ← φ. The lecture's λ = 10 fit found the four true edges, "
               "sometimes with the extra edge position → length that the angles already explain (the prune's job).")
        if want > 0:
            why += (" Where edges are still missing, the fit may be too short (FAST mode runs 150 steps) or stuck: the "
                    "length is a steep, non-monotone function of the angles, and while its edges are small the bounded "
                    "equations cannot pull them up.")
    return reading_verdict("5.7", title, float(round(number_value(value))), float(want), measured, why, misreadings, rel=0.0, abs_tol=0.0)


__all__ = ["choose", "interpret_dropped_factor", "interpret_traversals", "predict_collider",
           "predict_effect_intervention", "predict_multiplier", "predict_prior_mean", "predict_rotation",
           "predict_warmup", "vary_epsilon", "vary_independence", "vary_pairs", "vary_samples"]
