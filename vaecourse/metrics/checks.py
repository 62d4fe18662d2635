"""The checked inputs of the metrics: a ground-truth data set, counts, a generator, and the codes a
representation function returns (each a ValueError naming what was expected and what came).

Shape letters: n examples, D code dimensions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vaecourse import values
from vaecourse.data.base import check_dataset


def check_count(value, name: str, at_least: int = 1, why: str = "") -> int:
    """An int in [``at_least``, MAX_EXAMPLES] (a size or a number of points), or a ValueError that says so: a
    million points is already minutes of encoding, and 10^12 would be refused only by the allocator."""
    return values.integer(f"an int >= {at_least}{f' ({why})' if why else ''} and at most {values.MAX_EXAMPLES:,}",
                          at_least, values.MAX_EXAMPLES).check(name, value)


def check_generator(generator, who: str) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"{who} needs generator=torch.Generator(...).manual_seed(seed) (all randomness comes from "
                         f"it, so a fixed seed gives a fixed score); got {type(generator).__name__}")
    return generator


def check_numbers(value, name: str) -> Tensor:
    """Real numbers as a floating tensor (a tensor keeps its device and floating dtype; an integer tensor, a numpy
    array or a list of numbers is read as float64), or a ValueError naming ``name``: bools, complex numbers,
    strings and None are not numbers here. NaN and inf are the caller's to refuse (with its own reason)."""
    if isinstance(value, Tensor):
        kind = "b" if value.dtype == torch.bool else "c" if value.is_complex() else "f"
        if kind == "f":
            return value if value.is_floating_point() else value.double()
        got = f"a tensor of dtype {value.dtype}"
    else:
        array = None if isinstance(value, (str, bytes)) or value is None else np.asarray(value)
        if array is not None and array.dtype.kind in "iuf":
            return torch.from_numpy(array.astype(np.float64))
        got = f"{type(value).__name__}" + (f" of dtype {array.dtype}" if array is not None else "")
    raise ValueError(f"{name} must be real numbers (a tensor, an array or a list of floats), got {got}")


def check_codes(codes, n: int, dim: int | None = None, who: str = "representation_fn") -> np.ndarray:
    """The output of a representation function as float64 ``(n, D)``, or a ValueError naming the problem."""
    if isinstance(codes, Tensor) and (codes.dtype == torch.bool or codes.is_complex()):
        raise ValueError(f"{who} must return real-valued codes (a float tensor or array), got dtype {codes.dtype}")
    if isinstance(codes, np.ndarray) and codes.dtype.kind in "bc":
        raise ValueError(f"{who} must return real-valued codes (a float tensor or array), got dtype {codes.dtype}")
    if isinstance(codes, Tensor):
        codes = codes.detach().to("cpu", torch.float64).numpy()
    try:
        codes = np.asarray(codes, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{who} must return a (batch, D) tensor or array of numbers, got {type(codes).__name__}") \
            from error
    if codes.ndim != 2:
        raise ValueError(f"{who} must return a 2-D (batch, D) array, one code per image; got shape {codes.shape} "
                         f"for a batch of {n} images" + (" (flatten each code to a vector)" if codes.ndim > 2 else ""))
    if codes.shape[0] != n:
        raise ValueError(f"{who} returned {codes.shape[0]} codes for a batch of {n} images; it must return one code "
                         "per image, shape (batch, D)")
    if codes.shape[1] == 0:
        raise ValueError(f"{who} returned codes with 0 dimensions, shape {codes.shape}")
    if dim is not None and codes.shape[1] != dim:
        raise ValueError(f"{who} returned codes of {codes.shape[1]} dimensions after codes of {dim}: the dimension "
                         "must not change between batches")
    finite = np.isfinite(codes)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(f"{who} returned {codes[row, col]} (NaN or inf) at row {row}, dimension {col}; every code "
                         "must be finite")
    return codes


__all__ = ["check_codes", "check_numbers", "check_count", "check_dataset", "check_generator"]
