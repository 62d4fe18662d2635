"""What a number or a name of a run may be: one check, shared by :class:`vaecourse.recipes.Recipe`,
:func:`vaecourse.train.fit` and the command line.

A :class:`Kind` says in words what it expects ("a positive integer"), tests a Python value, and reads the
command line's text. ``kind.check(name, value)`` returns the value (ints as int, floats as float) or raises a
ValueError naming ``name``, what was expected and what came; called with a string, ``kind(text)`` is an argparse
``type=`` that parses and checks (one ``error: argument --lr: expected ...`` line). Booleans are not numbers here
(``True`` is not a batch size), NaN and inf are not finite numbers, and a float is not an integer.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

MAX_BATCH = 65_536  # one batch of 64x64 float images is 1 GiB at this size: larger is a typo (1e11), not a plan
MAX_SEED = 2 ** 63 - 1  # torch.Generator.manual_seed's range for non-negative seeds
MAX_FLOAT = 3.4e38  # training runs in float32: a larger value overflows to inf inside the optimiser
MAX_SIDE = 1024  # image side in pixels: the course's images are 28 to 64; 1024 is already 3 MiB per RGB image
MAX_UNITS = 65_536  # latent or hidden units of one layer: 2^16 units of a 64x64 decoder is already 1 GiB of weights
MAX_STEPS = 10 ** 9  # optimiser steps: a billion steps is years on a laptop
MAX_EXAMPLES = 10 ** 6  # images or points one call encodes or samples: a million 64x64 images is 16 GiB of float32
MAX_SAMPLES = 10 ** 5  # importance samples per image: k = 100,000 already takes hours for one test set on a CPU
MAX_BYTES = 16 * 2 ** 30  # one array the course allocates at once: 16 GiB is more than a laptop or Colab has
MAX_DPI = 1200
MAX_MEASURED = 1e30  # a code, a KL in nats, a loss, a multiplier or a score of a run: none the course computes comes
# near it, and beyond it the sums, means and squares made from it overflow (float32 squares 1e20 to inf; sixty
# means of 1.7e308 are inf). The metrics' codes, the KL recorder and the thinking checks' run values share it.
MAX_WEIGHT = 1e6  # a loss weight, a bound in nats, a step size, a noise level, a number of epochs: the course's are
WEIGHT_LIMIT = "beyond it float32 losses overflow"  # at most 1e4; a weight of 3e38 gave a loss of inf or NaN  # a traversal PNG of 9 columns at 1200 dpi is already poster-sized


_REFUSED = object()  # what a converter returns for a value of the wrong type


def _scalar(value: Any, floating: bool) -> Any:
    """A 0-d tensor of one real number as that number (a loss weight or a score computed with torch); anything
    else as it came. Bool, complex and meta tensors are no numbers."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.device.type != "meta" \
            and value.dtype != torch.bool and not value.is_complex() and (floating or not value.is_floating_point()):
        return value.item()
    return value


def _as_int(value: Any) -> Any:
    value = _scalar(value, floating=False)
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    return int(value) if ok else _REFUSED


def _as_float(value: Any) -> Any:
    value = _scalar(value, floating=True)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return _REFUSED
    try:
        value = float(value)
    except OverflowError:  # an int beyond float64 (10**400) is no finite number
        return _REFUSED
    return value if math.isfinite(value) else _REFUSED


def _as_sizes(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return _REFUSED
    try:
        out = tuple(_as_int(v) for v in value)
    except TypeError:
        return _REFUSED
    return out if out and _REFUSED not in out else _REFUSED


def _as_tuple(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return _REFUSED
    try:
        return tuple(value)
    except TypeError:
        return _REFUSED


def _as_shape(value: Any) -> Any:
    sizes = _as_tuple(value)
    if sizes is _REFUSED:
        return _REFUSED
    sizes = tuple(_as_int(v) for v in sizes)
    return _REFUSED if _REFUSED in sizes else sizes


def holds_bool(value: Any) -> bool:
    """Whether a list or tuple holds a bool anywhere inside it (nested, as an item, a bool array or a bool tensor):
    numpy reads [True, 0.5] as [1.0, 0.5], so a mask or a flag mixed into numbers would pass as numbers."""
    stack, seen = [value], set()
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            if id(v) not in seen:  # (a list that holds itself is walked once)
                seen.add(id(v))
                stack.extend(v)
        elif isinstance(v, (bool, np.bool_)) or (isinstance(v, torch.Tensor) and v.dtype == torch.bool) or (
                isinstance(v, np.ndarray) and v.dtype == np.bool_):
            return True
    return False


def _as_numbers(value: Any) -> Any:
    """Real numbers as a floating tensor: a floating tensor is kept (its device and dtype), an integer tensor, an
    array or a (nested) list of numbers is read as float64; bools (alone or mixed into a list of numbers), complex
    numbers, strings and None are refused."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            return _REFUSED
        return value if value.is_floating_point() else value.double()
    if value is None or isinstance(value, (str, bytes)) or holds_bool(value):
        return _REFUSED
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists
        return _REFUSED
    return torch.from_numpy(array.astype(np.float64)) if array.dtype.kind in "iuf" else _REFUSED


def _all_finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


def with_values(name: str, value: Any, expected: str) -> Any:
    """``value`` as it came, or a ValueError when it is a meta tensor: one built under ``torch.device("meta")`` or
    moved with ``.to("meta")`` has a shape and a dtype but no values, so nothing can be read, saved or trained from
    it (torch's words were "Cannot copy out of meta tensor" or "Tensor.item() cannot be called on meta tensors").
    The one test of every public reader of tensors (the numbers kinds read it in :meth:`Kind.check`)."""
    if isinstance(value, torch.Tensor) and value.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor (no values): expected {expected}, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """``value`` in a few words for a one-line message: an array by its shape, dtype and any NaN or inf."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        numbers = _as_numbers(value)
        meta = isinstance(value, torch.Tensor) and value.device.type == "meta"
        bad = " on the meta device (shapes only, no values)" if meta else "" if numbers is _REFUSED else \
            " holding NaN" if bool(torch.isnan(numbers).any()) else \
            " holding inf" if bool(torch.isinf(numbers).any()) else ""
        return f"a {type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}{bad}"
    try:
        text = " ".join(repr(value).split())
    except Exception:  # the caller's own object whose repr fails: its refusal must still be one line of ours
        text = f"an object of type {type(value).__name__} (whose repr fails)"
    text = text if len(text) <= 120 else text[:117] + "..."
    # numpy reads [True, 0.5] as numbers: the words say why such a list is refused
    return f"a list holding bools: {text}" if isinstance(value, (list, tuple)) and holds_bool(value) \
        else text


def is_path(value: Any) -> bool:
    """A path that names something: a str or PathLike, not empty ('' would be read as '.') and without NUL."""
    return isinstance(value, (str, os.PathLike)) and "\0" not in os.fspath(value) and os.fspath(value) != ""


def _as_path(value: Any) -> Any:
    from pathlib import Path
    return Path(value) if is_path(value) else _REFUSED


shown = _shown  # what a one-line message says a refused value was


def _parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(","))


@dataclass(frozen=True)
class Kind:
    """A kind of value: ``expected`` in words, ``convert`` (Python value -> value, or refused), ``test`` on it."""

    expected: str
    test: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value
    parse: Callable[[str], Any] = str  # the command line's text -> a Python value
    optional: bool = False  # None is also accepted (an option that is off)

    def check(self, name: str, value: Any) -> Any:
        """``value`` converted and checked, or a ValueError: ``{name} must be {expected}, got {value!r}``."""
        if value is None and self.optional:
            return None
        converted = self.convert(with_values(name, value, self.expected))
        if converted is _REFUSED or not self.test(converted):
            raise ValueError(f"{name} must be {self.expected}, got {_shown(value)}")
        return converted

    def __call__(self, text: str) -> Any:
        """argparse's ``type=``: the text parsed and checked, or an ArgumentTypeError saying what was expected."""
        if self.optional and str(text).strip().lower() == "none":  # the option off, as leaving the flag out
            return None
        try:
            return self.check("value", self.parse(str(text).strip()))
        except (TypeError, ValueError, OverflowError):
            off = " (none: off)" if self.optional else ""  # the text none is the command line's None
            raise argparse.ArgumentTypeError(f"expected {self.expected.removesuffix(' (or None)')}{off}, got "
                                             f"{text!r}") from None

    def or_none(self) -> "Kind":
        """This kind, or None."""
        return replace(self, expected=f"{self.expected} (or None)", optional=True)


def integer(expected: str, low: int, high: int) -> Kind:
    """An int in [low, high] (not a bool, not a float)."""
    return Kind(expected, lambda v: low <= v <= high, _as_int, int)


def real(expected: str, test: Callable[[float], bool], limit: float = MAX_FLOAT, why: str = "float32") -> Kind:
    """A finite number, at most ``limit`` in size (MAX_FLOAT: training runs in float32), passing ``test``; kept as
    float. ``why`` says where the limit comes from."""
    return Kind(f"{expected} (at most {limit:g} in size: {why})", lambda v: abs(v) <= limit and test(v),
                _as_float, float)


def numbers(expected: str, test: Callable[[torch.Tensor], bool] = lambda t: True, finite: bool = True) -> Kind:
    """Real numbers as a floating tensor (not bools, strings or None), finite unless ``finite=False``, passing
    ``test`` (usually a shape)."""
    # the test (a shape, a count) first: a finiteness pass over 10^9 values would itself reach the allocator
    return Kind(expected, lambda t: test(t) and (not finite or _all_finite(t)), _as_numbers)  # (meta: Kind.check)


def one_of(*names: str) -> Kind:
    """One of ``names``."""
    return Kind(f"one of {', '.join(names)}", lambda v: v in names)


def sequence(expected: str, test: Callable[[tuple], bool]) -> Kind:
    """A list or tuple (not a string) whose items, as a tuple, pass ``test``."""
    return Kind(expected, test, _as_tuple)


def instance(expected: str, *types: type) -> Kind:
    """An instance of one of ``types`` (a model, a dict, a string), ``expected`` saying which in words."""
    return Kind(expected, lambda v: isinstance(v, types))


MAX_INT = 2 ** 63 - 1  # what torch and numpy hold in an int64: a larger count cannot even be stored
positive_int = integer(f"a positive integer (at most 2**63 - 1 = {MAX_INT:,})", 1, MAX_INT)
non_negative_int = integer(f"an integer >= 0 (at most 2**63 - 1 = {MAX_INT:,})", 0, MAX_INT)
seed = integer("a seed between 0 and 2**63 - 1", 0, MAX_SEED)
steps = integer(f"a number of steps between 1 and {MAX_STEPS:,}", 1, MAX_STEPS)
step_count = integer(f"a number of steps between 0 and {MAX_STEPS:,}", 0, MAX_STEPS)  # fit(steps=0) trains nothing
units = integer(f"a number of units between 1 and {MAX_UNITS:,}", 1, MAX_UNITS)
batch_size = integer(f"a batch size between 1 and {MAX_BATCH:,}", 1, MAX_BATCH)
image_side = integer(f"an image side in pixels between 1 and {MAX_SIDE:,}", 1, MAX_SIDE)
draws = integer(f"a number of examples between 0 and {MAX_EXAMPLES:,}", 0, MAX_EXAMPLES)  # 0: an empty draw
examples = integer(f"a number of examples between 1 and {MAX_EXAMPLES:,}", 1, MAX_EXAMPLES)
samples = integer(f"a number of samples between 1 and {MAX_SAMPLES:,}", 1, MAX_SAMPLES)
MIN_DPI = 10  # below it matplotlib cannot size the figure's labels (FreeType: "invalid ppem value" at 3 dpi)
dpi = integer(f"a resolution in dots per inch between {MIN_DPI} and {MAX_DPI:,}", MIN_DPI, MAX_DPI)
finite = real("a finite number", lambda v: True)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # about 1.2e-38: below it float32 keeps no precision (or is 0)
positive = real(f"a finite number > 0 (at least about {FLOAT32_TINY:.2g}: float32)", lambda v: v >= FLOAT32_TINY)
non_negative = real("a finite number >= 0", lambda v: v >= 0, MAX_WEIGHT, WEIGHT_LIMIT)
epochs = real("a number of epochs >= 0", lambda v: v >= 0)  # then bounded as a number of steps (MAX_STEPS)
MAX_LOGVAR = 30.0  # e^30 is 1e13: a log-variance beyond it overflows float32's KL (e^89 is inf) in the first steps
log_variance = real(f"a log-variance between -{MAX_LOGVAR:g} and {MAX_LOGVAR:g}", lambda v: True, MAX_LOGVAR,
                    f"e^{MAX_LOGVAR:g} is already 1e13; float32's exp overflows at 89")
fraction = real("a fraction in [0, 1)", lambda v: 0 <= v < 1)
learning_rate = real("a learning rate > 0 that float32 can hold (at least about 1e-38)",
                     lambda v: v > 0 and float(np.float32(v)) >= FLOAT32_TINY, MAX_WEIGHT,
                     "Adam's first step is lr / (1 - beta1), ten times lr: 3e38 overflowed float32 inside it")
function = Kind("a function (a callable)", callable)
boolean = Kind("True or False", lambda v: True, lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else _REFUSED)
generator = Kind("a torch.Generator (e.g. torch.Generator().manual_seed(0))", lambda v: isinstance(v, torch.Generator))
indices = Kind(f"a list of ints between 0 and {MAX_EXAMPLES:,}", lambda v: all(0 <= n <= MAX_EXAMPLES for n in v),
               _as_shape)
shape = replace(indices, expected=f"a shape: a tuple of sizes between 0 and {MAX_EXAMPLES:,}")
functions = Kind("a list of functions (callables)", lambda v: all(callable(f) for f in v), _as_tuple)
MAX_CHANNELS = 4  # grey, RGB, RGBA: the course's images have 1 or 3
image_shape = Kind(f"(C, H, W) with 1 to {MAX_CHANNELS} channels and sides between 1 and {MAX_SIDE:,} pixels", lambda v: len(v) == 3 and 1 <= v[0] <= MAX_CHANNELS and all(1 <= n <= MAX_SIDE for n in v[1:]),
                   _as_sizes, _parse_sizes)
factor_sizes = Kind(f"factor sizes: at least one int >= 1, at most {MAX_INT:,} combinations in all",
                    lambda v: min(v) >= 1 and math.prod(v) <= MAX_INT, _as_sizes)
MAX_LAYERS = 64  # layers of one network or one hierarchy: what the figures of depth draw (one tick each)
layers = integer(f"a number of layers between 1 and {MAX_LAYERS}", 1, MAX_LAYERS)
layer_sizes = Kind(f"layer sizes between 1 and {MAX_UNITS:,}, comma-separated on the command line (e.g. 64,32,16), "
                   f"1 to {MAX_LAYERS} layers", lambda v: 1 <= len(v) <= MAX_LAYERS and all(1 <= n <= MAX_UNITS for n in v),
                   _as_sizes, _parse_sizes)


MAX_PANELS = 1_024  # images or bars in one figure: matplotlib draws a thousand panels in tens of seconds
panels = integer(f"a number of panels between 1 and {MAX_PANELS:,}", 1, MAX_PANELS)
MIN_INCHES = 0.1  # one pixel at MIN_DPI: below it a panel has no pixel (1e-300 inches drew an empty PNG)
inches = real(f"a size in inches of at least {MIN_INCHES:g}", lambda v: v >= MIN_INCHES, 100,
              "a figure beyond 100 inches is not drawn")
finite_numbers = numbers("finite real numbers (a tensor, an array or a list of floats)")
real_numbers = numbers("real numbers (a tensor, an array or a list of floats)", finite=False)
MAX_FIGURE_PIXELS = 10 ** 8  # one figure: the command line's 100-megapixel PNG (400 MB while drawn; larger is a typo)
MAX_FIGURE_VALUES = MAX_FIGURE_PIXELS  # pixel values in one figure's images
figure_images = numbers(f"images (N, C, H, W) of finite values: 1 to {MAX_PANELS:,} images of 1, 3 or 4 channels, "
                        f"at most {MAX_FIGURE_VALUES:,} pixel values in all",
                        lambda t: t.dim() == 4 and 1 <= len(t) <= MAX_PANELS and t.shape[1] in (1, 3, 4)
                        and min(t.shape[2:]) >= 1 and t.numel() <= MAX_FIGURE_VALUES)
def measured(t: torch.Tensor) -> bool:
    """Every value of ``t`` at most ``MAX_MEASURED`` in size (NaN fails): what a figure or a summary of a run's
    values may read; beyond it a figure's own margins, means and spans overflow to inf (matplotlib then refuses)."""
    return bool((t.abs() <= MAX_MEASURED).all())


class Measured:
    """Finite real numbers (a :func:`numbers` kind) each at most MAX_MEASURED in size: the one reader of what a figure
    draws. Beyond the bound the refusal is a second sentence naming the first value beyond it and where it is."""

    def __init__(self, kind: Kind) -> None:
        self.kind, self.expected = kind, kind.expected

    def check(self, name: str, value):
        t = self.kind.check(name, value)
        if t is not None and not measured(t):
            array = t.detach().cpu().double().numpy()
            where = np.unravel_index(int(np.argmax(np.abs(array))), array.shape) if array.ndim else ()
            at = f" at {where[0] if len(where) == 1 else tuple(int(i) for i in where)}" if where else ""
            raise ValueError(f"{name} must hold values at most {MAX_MEASURED:g} in size (beyond it the figure's "
                             f"margins, means and spans overflow to inf), got {float(array[where]):g}{at}")
        return t


def measured_numbers(expected: str, test: Callable[[torch.Tensor], bool] = lambda t: True) -> Measured:
    """Finite real numbers passing ``test`` (described by ``expected``), each at most MAX_MEASURED in size: every
    number a figure draws (values, matrices, samples, steps, log-likelihoods)."""
    return Measured(numbers(expected, test))


figure_values = measured_numbers(f"1 to {MAX_PANELS:,} finite values in a list or a 1-D tensor",
                                 lambda t: t.dim() == 1 and 1 <= len(t) <= MAX_PANELS)  # one bar or box each
figure_samples = measured_numbers(f"1 to {MAX_EXAMPLES:,} finite values in a list or a 1-D tensor",
                                  lambda t: t.dim() == 1 and 1 <= len(t) <= MAX_EXAMPLES)  # a distribution a box summarises
figure_number = real("a finite number", lambda v: True, MAX_MEASURED,
                     "beyond it a figure's margins and spans overflow")  # an axis limit, a threshold, a value drawn


mapping = instance("a dict", Mapping)
text = instance("a string", str)
path = Kind("a path (a non-empty string or os.PathLike, no NUL character)", lambda v: True, _as_path)
floating_dtype = Kind("a floating torch dtype (torch.float32, torch.float64, ...)",
                      lambda v: isinstance(v, torch.dtype) and v.is_floating_point)


_COUNT = integer("a count (an int >= 0)", 0, math.inf)  # unbounded: a count beyond MAX_INT is refused below, in bytes
_BYTES_EACH = integer("a size in bytes (an int >= 0)", 0, math.inf)  # 0: an empty draw needs nothing


def _count_text(count: int) -> str:
    """A count in words of one line: 1,500,000, or 1.0e400 for one with more digits than a line holds."""
    text = str(count)
    return f"{count:,}" if len(text) <= 30 else f"{text[0]}.{text[1:3]}e{len(text) - 1}"


def fits_in_memory(name: str, count: int, bytes_each: int, what: str = "items") -> int:
    """``count`` as an int, or a ValueError when ``count`` items of ``bytes_each`` bytes would need more than
    MAX_BYTES at once, naming ``name`` and the estimate, before anything is allocated. Both are read as ints (a
    0-d integer tensor or a numpy integer is its int; a bool, a float or a float tensor is no count)."""
    count = _COUNT.check(f"{name} (the count)", count)
    bytes_each = _BYTES_EACH.check(f"{name} (the bytes of each of its {what})", bytes_each)
    if count * bytes_each > MAX_BYTES:
        gib = count * bytes_each / 2 ** 30 if (count * bytes_each).bit_length() < 1000 else None  # (10**400: no float)
        raise ValueError(f"{name} must be at most {MAX_BYTES // bytes_each:,} {what} ({bytes_each:,} bytes each, "
                         f"{MAX_BYTES / 2 ** 30:g} GiB at once), got {_count_text(count)} (about "
                         + (f"{gib:,.1f} GiB)" if gib is not None else f"2^{(count * bytes_each).bit_length() - 30} GiB)"))
    return count


__all__ = ["FLOAT32_TINY", "Kind", "with_values", "holds_bool", "MAX_PANELS", "boolean", "factor_sizes", "figure_images", "figure_samples", "figure_values", "finite_numbers", "inches",
           "numbers", "panels", "real_numbers", "MAX_BATCH", "MAX_BYTES", "MAX_DPI", "MIN_DPI", "MAX_EXAMPLES", "MAX_FLOAT", "MAX_INT", "MAX_LOGVAR", "MAX_MEASURED", "MIN_INCHES", "figure_number", "measured", "Measured", "measured_numbers", "MAX_FIGURE_PIXELS", "MAX_SAMPLES", "MAX_WEIGHT",
           "MAX_CHANNELS", "MAX_SEED", "MAX_SIDE", "MAX_STEPS", "MAX_UNITS", "batch_size", "dpi", "draws", "epochs", "examples", "finite", "fits_in_memory", "floating_dtype", "fraction", "function", "functions", "generator", "image_side", "integer",
           "image_shape", "indices", "instance", "mapping", "path", "text", "layer_sizes", "layers", "MAX_LAYERS", "learning_rate", "log_variance", "non_negative", "non_negative_int", "one_of", "positive", "positive_int",
           "real", "samples", "seed", "sequence", "shown", "shape", "step_count", "steps", "units"]
