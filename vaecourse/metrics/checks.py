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


def check_draw(who: str, points: int, batch_size: int) -> None:
    """``points`` x ``batch_size`` factor vectors, what one draw of a pair or vote metric samples at once, at most
    MAX_EXAMPLES (``sample_factors``' bound), or a ValueError naming ``who``'s batch_size: the draw's own words named
    an argument ``n`` the caller never passed."""
    if points * batch_size > values.MAX_EXAMPLES:
        whose = f"{who}'" if who.endswith("s") else f"{who}'s"
        raise ValueError(f"{whose} batch_size must be at most {values.MAX_EXAMPLES // max(points, 1):,} here: "
                         f"{points:,} points are drawn together, each of batch_size factor vectors, at most "
                         f"{values.MAX_EXAMPLES:,} at once; got batch_size {batch_size:,} ({points * batch_size:,} "
                         "vectors): lower batch_size")


def check_generator(generator, who: str) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"{who} needs generator=torch.Generator(...).manual_seed(seed) (all randomness comes from "
                         f"it, so a fixed seed gives a fixed score); got {type(generator).__name__}")
    return generator


def check_numbers(value, name: str) -> Tensor:
    """Real numbers as a floating tensor (a tensor keeps its device and floating dtype; an integer tensor, a numpy
    array or a list of numbers is read as float64), or a ValueError naming ``name``: bools (also mixed into a list),
    complex numbers, strings, None and meta tensors are not numbers here. NaN and inf are the caller's to refuse
    (with its own reason). The values kind :data:`vaecourse.values.real_numbers` is the one reader."""
    return values.real_numbers.check(name, value)


MAX_CODE = values.MAX_MEASURED  # |z| beyond this is no code: scikit-learn's classifiers read float32 and square the features


def check_codes(codes, n: int, dim: int | None = None, who: str = "representation_fn") -> np.ndarray:
    """The output of a representation function as float64 ``(n, D)`` of finite values at most ``MAX_CODE`` in
    size, or a ValueError naming the problem."""
    if codes is None:
        raise ValueError(f"{who} must return a (batch, D) tensor or array of codes, got None (does the function end "
                         "with `return ...`?)")
    values.with_values(f"{who}'s codes", codes, "codes (batch, D) with values")
    if isinstance(codes, Tensor) and (codes.dtype == torch.bool or codes.is_complex()):
        raise ValueError(f"{who} must return real-valued codes (a float tensor or array), got dtype {codes.dtype}")
    if isinstance(codes, np.ndarray) and codes.dtype.kind in "bc":
        raise ValueError(f"{who} must return real-valued codes (a float tensor or array), got dtype {codes.dtype}")
    if values.holds_bool(codes):  # a list mixing bools and numbers: numpy would read True as the code 1.0
        raise ValueError(f"{who} must return real-valued codes (a float tensor or array), got a list holding bools")
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
    return check_code_size(codes, f"{who} returned", "")


def check_code_size(codes: np.ndarray, who: str, what: str = " a code of") -> np.ndarray:
    """Finite codes (n, D) at most ``MAX_CODE`` in size, or a ValueError saying where the largest is."""
    size = np.abs(codes).max(initial=0.0)
    if size > MAX_CODE:
        row, col = np.argwhere(np.abs(codes) == size)[0]
        raise ValueError(f"{who}{what} {codes[row, col]:.3g} at row {row}, dimension {col}: codes must be at most "
                         f"{MAX_CODE:g} in size (the classifiers read float32 and square them)")
    return codes


SKLEARN_SEED = values.integer("a seed between 0 and 2**32 - 1 (scikit-learn's random_state)", 0, 2 ** 32 - 1)


def check_table(value, name: str, *, dims: tuple[int, ...] = (2,), rows: int = 1, columns: int = 1,
                finite: bool = True, non_negative: bool = False, what: str = "", layout: str = "") -> np.ndarray:
    """Real numbers of ``dims`` dimensions (a tensor, an array or a list) as a float64 array with at least ``rows``
    entries along the first axis and ``columns`` along the second (``layout`` names the axes, e.g. "(D, K)"), finite unless ``finite=False`` and >= 0 when
    ``non_negative``, or a ValueError naming ``name``: ``{name} must be {expected}, got {value}``."""
    shape = {1: "(n,)", 2: "(n, D)", 3: "(P, L, D)"}
    layout = layout or " or ".join(shape.get(d, f"{d}-D") for d in dims)
    sizes = f" with at least {rows} row{'s' * (rows != 1)}" + (f" and {columns} column{'s' * (columns != 1)}"
                                                              if max(dims) > 1 else "")
    expected = (f"{what or 'an array'} {layout} of {'finite ' if finite else ''}real numbers"
                f"{' >= 0' if non_negative else ''}{sizes}")

    def fits(t: Tensor) -> bool:
        if t.dim() not in dims or t.shape[0] < rows or (t.dim() > 1 and t.shape[1] < columns):
            return False
        return not non_negative or t.numel() == 0 or bool((t.nan_to_num(0.0) >= 0).all())

    table = values.numbers(expected, fits, finite=finite).check(name, value)
    return table.detach().cpu().double().numpy()


def check_classes(value, name: str, *, dims: tuple[int, ...] = (1, 2), rows: int = 1) -> np.ndarray:
    """Class labels (integers: an integer tensor or array, or whole floats) of ``dims`` dimensions as an int64 array,
    or a ValueError naming ``name``."""
    layout = " or ".join({1: "(n,)", 2: "(n, K)"}[d] for d in dims)
    kind = values.numbers(f"class labels {layout} (whole numbers) with at least {rows} row{'s' * (rows != 1)}",
                          lambda t: t.dim() in dims and t.shape[0] >= rows and (t.dim() < 2 or t.shape[1] >= 1)
                          and bool((t == t.round()).all()) and bool((t.abs() < 2 ** 53).all()))
    return kind.check(name, value).detach().cpu().numpy().astype(np.int64)


def check_supervised(x_train, y_train, x_eval, y_eval, *, label_dims: tuple[int, ...] = (2,),
                     who: str = "", classes: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four arrays of a fitted-then-scored metric: codes ``x (n, D)`` and class labels ``y`` (``(n,)`` or
    ``(n, K)``) of training and evaluation points, one label row per code row, the same D and K in both sets, and
    at least ``classes`` classes of every factor among the training labels (a classifier of one class predicts
    nothing; ``classes=1`` where a constant factor has a defined score)."""
    at = f"{who}'s " if who else ""
    x_train = check_code_size(check_table(x_train, f"{at}x_train", rows=2, what="codes"), f"{at}x_train holds")
    y_train = check_classes(y_train, f"{at}y_train", dims=label_dims, rows=2)
    x_eval = check_code_size(check_table(x_eval, f"{at}x_eval", what="codes"), f"{at}x_eval holds")
    y_eval = check_classes(y_eval, f"{at}y_eval", dims=label_dims)
    for x, y, part in ((x_train, y_train, "train"), (x_eval, y_eval, "eval")):
        if len(y) != len(x):
            raise ValueError(f"{at}y_{part} must hold one label row per row of x_{part} ({len(x)}), got {len(y)} rows")
    if x_eval.shape[1] != x_train.shape[1]:
        raise ValueError(f"{at}x_eval must have the {x_train.shape[1]} code dimensions of x_train, got "
                         f"{x_eval.shape[1]}")
    if y_eval.ndim != y_train.ndim or y_eval.shape[1:] != y_train.shape[1:]:
        raise ValueError(f"{at}y_eval must have the shape of y_train's rows {y_train.shape[1:]}, got {y_eval.shape[1:]}")
    columns = y_train.reshape(len(y_train), -1)
    for k in range(columns.shape[1]):
        if np.unique(columns[:, k]).size < classes:
            where = f" (factor {k})" if y_train.ndim == 2 else ""
            raise ValueError(f"{at}y_train must hold at least {classes} classes{where} to fit a classifier, got only the class "
                             f"{int(columns[0, k])} in all {len(columns)} rows")
    return x_train, y_train, x_eval, y_eval


__all__ = ["MAX_CODE", "SKLEARN_SEED", "check_classes", "check_code_size", "check_codes", "check_count", "check_dataset", "check_generator",
           "check_numbers", "check_supervised", "check_table"]
