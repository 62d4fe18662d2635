"""Codes of a ground-truth data set: encode on demand, or encode a factor grid once and look codes up.

Every disentanglement metric asks the same question many times: *what code does the representation give
the image of these factors?* There are two ways to answer it, and they give the same numbers:

- **direct**: render the images of the factors and call ``representation_fn`` on them (in batches);
- **cached**: encode every combination of a factor grid once (:func:`encode_grid`), then look each
  code up by the combination's flat index. Comparing five metrics, or five seeds, then costs one pass
  of the encoder instead of five.

A metric takes either: ``higgins(dataset, model_fn, ...)`` or ``higgins(dataset, encode_grid(dataset,
model_fn), ...)``. Both draw the same factors from the same generator, so with a deterministic encoder
they return the same scores (``tests/test_metrics.py`` checks it).

Which grid: the full dSprites grid is 737,280 images. On a GPU that is one pass of a few seconds. On a
laptop CPU a conv encoder needs minutes for it, so ``data.cpu_subgrid`` documents a smaller grid, the
**CPU subsample**: every 4th orientation (10 of 40, 0 to 2 pi in steps of 4 pi / 39) and every 2nd
position (16 of 32 in x and y), all shapes and scales, 46,080 images. A ``data.SubGrid`` is itself a
ground-truth data set (factor classes renumbered 0..n-1), so the direct path can run on it too, and
cached and direct still agree; its scores are those of the coarser grid, not of the full one.

The inputs are checked by :mod:`vaecourse.metrics.checks`.

Shape letters: n or B examples, K factors, D code dimensions, N grid combinations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from vaecourse.data.base import GroundTruthDataset
from vaecourse.metrics.checks import check_code_size, check_codes, check_count, check_dataset, check_generator, check_table

RepresentationFn = Callable[[Tensor], object]  # images (B, C, H, W) -> codes (B, D), tensor or array

DEFAULT_ENCODE_BATCH = 1024
RENDER_BATCH = 8192  # images rendered per call (a float32 64x64 batch of 8192 is 134 MB)


# ---- the two ways to get codes ----------------------------------------------------------------------
def _encode(dataset, representation_fn: RepresentationFn, factors: Tensor, batch_size: int,
            dim: int | None = None) -> np.ndarray:
    """Render ``factors (n, K)`` and encode them in batches of ``batch_size`` -> float64 ``(n, D)``.

    Images are rendered ``RENDER_BATCH`` at a time (the renderer is several times faster per image on large
    batches than on small ones) and handed to the representation ``batch_size`` at a time.
    """
    chunks = []
    with torch.no_grad():
        for first in range(0, factors.shape[0], RENDER_BATCH):
            images = dataset.render(factors[first:first + RENDER_BATCH])  # (r, C, H, W)
            for start in range(0, images.shape[0], batch_size):
                part = images[start:start + batch_size]
                codes = check_codes(representation_fn(part), part.shape[0], dim)  # (b, D)
                dim = codes.shape[1]
                chunks.append(codes)
    if not chunks:
        raise ValueError("no factors to encode")
    return np.concatenate(chunks)


@dataclass(frozen=True)
class CodeCache:
    """The codes of every combination of ``dataset``'s grid, row ``i`` = flat index ``i``: ``codes (N, D)``.

    Pass it to any metric in place of the representation function. ``seconds`` is how long encoding took.
    """

    dataset: GroundTruthDataset
    codes: np.ndarray  # (N, D) float64
    seconds: float = float("nan")

    def __post_init__(self) -> None:
        check_dataset(self.dataset, "CodeCache")
        n = self.dataset.num_combinations
        codes = self.codes
        codes = check_code_size(check_table(codes, "CodeCache's codes", what="codes, one row per combination,"),
                                "CodeCache's codes hold")  # real, finite, at most MAX_CODE
        if codes.shape[0] != n:
            raise ValueError(f"CodeCache's codes must be an array (N, D) with one row per combination of the "
                             f"dataset's grid (N = {n:,}), got shape {codes.shape}")
        object.__setattr__(self, "codes", codes)  # float64
        if not isinstance(self.seconds, (int, float, np.floating)) or isinstance(self.seconds, bool) or \
                not (math.isnan(self.seconds) or 0 <= self.seconds < math.inf):
            raise ValueError(f"CodeCache's seconds must be a time >= 0 in seconds (or NaN: not measured), got "
                             f"{self.seconds!r}")

    @property
    def dim(self) -> int:
        return int(self.codes.shape[1])

    def lookup(self, factors) -> np.ndarray:
        """Codes of factor classes ``(n, K)`` -> ``(n, D)``: the rows at their flat indices."""
        index = self.dataset.index_of(factors).cpu().numpy()  # (n,)
        return self.codes[index]


def encode_grid(dataset, representation_fn: RepresentationFn | Mapping[str, RepresentationFn], *,
                batch_size: int = DEFAULT_ENCODE_BATCH, progress: bool = False) -> CodeCache | dict[str, CodeCache]:
    """Encode every combination of ``dataset``'s factor grid once -> :class:`CodeCache`.

    Use the full data set on a GPU; on a CPU pass ``cpu_subgrid(dataset)`` (see the module docstring).
    ``representation_fn`` may also be a mapping ``{name: fn}``: each chunk of the grid is then rendered once and
    encoded by every function, and the result is ``{name: CodeCache}``.
    """
    import time

    from vaecourse import values

    check_dataset(dataset, "encode_grid")
    batch_size = check_count(batch_size, "batch_size")
    progress = values.boolean.check("encode_grid's progress", progress)
    several = isinstance(representation_fn, Mapping)
    functions = dict(representation_fn) if several else {"": representation_fn}
    if not functions:
        raise ValueError("encode_grid's representation_fn must be a function of images or a mapping {name: function} "
                         "holding at least one, got an empty mapping")
    for name, fn in functions.items():
        if not callable(fn):
            raise ValueError(f"representation_fn{f'[{name!r}]' if several else ''} must be a function of images, "
                             f"got {type(fn).__name__}")
    n = check_count(int(dataset.num_combinations), "encode_grid's grid (the data set's combinations)",
                    why="every combination is rendered and encoded")
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in functions}
    seconds = dict.fromkeys(functions, 0.0)
    starts = range(0, n, RENDER_BATCH)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="encoding the grid", total=math.ceil(n / RENDER_BATCH))
    with torch.no_grad():
        for start in starts:
            started = time.perf_counter()
            images = dataset.render(dataset.factors_at(torch.arange(start, min(start + RENDER_BATCH, n))))  # (r, C, H, W)
            rendering = (time.perf_counter() - started) / len(functions)  # shared out among the functions
            for name, fn in functions.items():
                started = time.perf_counter()
                dim = chunks[name][0].shape[1] if chunks[name] else None
                for first in range(0, images.shape[0], batch_size):
                    part = images[first:first + batch_size]
                    chunks[name].append(check_codes(fn(part), part.shape[0], dim))
                    dim = chunks[name][-1].shape[1]
                seconds[name] += rendering + time.perf_counter() - started
    caches = {name: CodeCache(dataset=dataset, codes=np.concatenate(parts), seconds=seconds[name])
              for name, parts in chunks.items()}
    return caches if several else caches[""]


class CodeSource:
    """``codes(factors)`` for a metric: a lookup in a :class:`CodeCache`, or render-and-encode."""

    def __init__(self, dataset, representation, who: str, batch_size: int = DEFAULT_ENCODE_BATCH):
        self.dataset = dataset
        self.batch_size = check_count(batch_size, "encode_batch_size")
        if isinstance(representation, CodeCache):
            if tuple(representation.dataset.factor_sizes) != tuple(dataset.factor_sizes):
                raise ValueError(f"{who}: the code cache was built on a grid with factor sizes "
                                 f"{tuple(representation.dataset.factor_sizes)}, but the data set has "
                                 f"{tuple(dataset.factor_sizes)}; encode the same data set the metric samples "
                                 "(e.g. both cpu_subgrid(dsprites))")
            self.cache = representation
            self.fn = None
        elif callable(representation):
            self.cache, self.fn = None, representation
        else:
            raise ValueError(f"{who} needs a representation function (images -> codes (B, D)) or a CodeCache from "
                             f"encode_grid; got {type(representation).__name__}")

    def __call__(self, factors: Tensor) -> np.ndarray:
        """Codes of factor classes ``(n, K)`` -> float64 ``(n, D)``."""
        if self.cache is not None:
            return self.cache.lookup(factors)
        return _encode(self.dataset, self.fn, factors, self.batch_size)


def factor_code_batch(dataset, source: CodeSource, n: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random grid points: codes ``(n, D)`` and the classes of the varying factors ``(n, K')``.

    The observations MIG, DCI and SAP read [locatello2019].
    """
    factors = dataset.sample_factors(n, generator)  # (n, K)
    codes = source(factors)  # (n, D)
    varying = list(dataset.varying_factors)
    return codes, factors[:, varying].cpu().numpy()


def train_eval_codes(dataset, representation_fn, who: str, generator: torch.Generator, n_train: int, n_eval: int,
                     encode_batch_size: int = DEFAULT_ENCODE_BATCH):
    """The checked inputs of a supervised metric (DCI, SAP): codes and factor classes of ``n_train`` then
    ``n_eval`` random grid points -> ``(x_train (n, D), y_train (n, K'), x_eval, y_eval)``."""
    check_dataset(dataset, who)
    check_generator(generator, who)
    K = len(dataset.varying_factors)
    n_train = check_count(n_train, "n_train", at_least=max(2, K), why=f"no fewer points than factors ({K})")
    n_eval = check_count(n_eval, "n_eval", at_least=1)
    source = CodeSource(dataset, representation_fn, who, encode_batch_size)
    x_train, y_train = factor_code_batch(dataset, source, n_train, generator)  # (n, D), (n, K')
    x_eval, y_eval = factor_code_batch(dataset, source, n_eval, generator)
    return x_train, y_train, x_eval, y_eval


def sklearn_seed(generator: torch.Generator) -> int:
    """A seed for scikit-learn drawn from the metric's generator (so one seed fixes everything)."""
    check_generator(generator, "sklearn_seed")
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


__all__ = ["CodeCache", "CodeSource", "DEFAULT_ENCODE_BATCH", "RepresentationFn", "encode_grid",
           "factor_code_batch", "sklearn_seed", "train_eval_codes"]
