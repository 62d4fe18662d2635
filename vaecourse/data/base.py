"""The ground-truth-factor protocol shared by data sets with known generative factors.

A ground-truth data set (dSprites [matthey2017], the pendulum of [yang2021]) is a finite grid of
factor combinations, one image per combination. Everything the disentanglement metrics
[higgins2017] need is here: sample factor classes, render them, convert between a flat index and
factor classes (mixed radix, last factor fastest, as the official dSprites file is ordered), and
read the real factor values.

Shape letters: n or B batch, K factors, C channels, H rows, W columns.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import numpy as np
import torch

from vaecourse import values
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["GroundTruthDataset", "check_dataset", "mixed_radix_bases"]


def _integer_tensor(name: str, value, expected: str) -> Tensor:
    """``value`` as a tensor (not yet checked for dtype or shape), or a ValueError when it cannot be one (strings,
    ragged lists, None) or is a meta tensor (it holds no values)."""
    if isinstance(value, Tensor):
        tensor = value
    elif value is None or isinstance(value, (str, bytes)):
        tensor = None
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value)) if not isinstance(value, np.ndarray) else torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            tensor = None
        if tensor is not None and not (tensor.dtype.is_floating_point or tensor.dtype.is_complex
                                       or tensor.dtype in (torch.bool, torch.uint8, torch.int8, torch.int16,
                                                           torch.int32, torch.int64)):
            tensor = None
    if tensor is None:
        raise ValueError(f"{name} must be {expected}, got {values.shown(value)}")
    values.with_values(name, tensor, expected)
    return tensor


def mixed_radix_bases(sizes: Sequence[int]) -> tuple[int, ...]:
    """Weights of the flat index: base_k = prod(sizes[k+1:]), the last factor varies fastest.

    >>> mixed_radix_bases((1, 3, 6, 40, 32, 32))
    (737280, 245760, 40960, 1024, 32, 1)
    """
    sizes = values.factor_sizes.check("sizes", sizes)
    return tuple(math.prod(sizes[k + 1:]) for k in range(len(sizes)))


class GroundTruthDataset(Dataset, abc.ABC):
    """A grid of factor combinations with one image each; also a torch ``Dataset`` of (image, factors).

    Subclasses set ``factor_names``, ``factor_sizes`` and ``device`` and implement ``render`` and
    ``factor_values``. Factors are always class indices: a ``LongTensor (n, K)`` with column k in
    ``[0, factor_sizes[k])``. Randomness is passed in as a ``torch.Generator`` (``None``: torch's
    global CPU generator).
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    device: torch.device = torch.device("cpu")

    # ---- the grid -------------------------------------------------------------------------------
    @property
    def num_factors(self) -> int:
        """K, the number of factors (constant ones included, e.g. dSprites' colour)."""
        return len(self.factor_sizes)

    @property
    def varying_factors(self) -> tuple[int, ...]:
        """Indices of the factors that take more than one value (the ones metrics score)."""
        return tuple(k for k, size in enumerate(self.factor_sizes) if size > 1)

    @property
    def factor_bases(self) -> tuple[int, ...]:
        """Mixed-radix weights: ``index = sum_k factors[:, k] * factor_bases[k]``."""
        return mixed_radix_bases(self.factor_sizes)

    @property
    def num_combinations(self) -> int:
        """Number of factor combinations, the product of the factor sizes (737,280 for dSprites)."""
        return math.prod(self.factor_sizes)

    def __len__(self) -> int:
        """Number of images: one per factor combination."""
        return self.num_combinations

    # ---- checks ---------------------------------------------------------------------------------
    def check_factors(self, factors) -> Tensor:
        """Return ``factors`` as a ``LongTensor (n, K)`` on ``self.device``, or raise a helpful ValueError."""
        names = ", ".join(self.factor_names)
        factors = _integer_tensor("factors", factors, f"integer class indices of shape (n, {self.num_factors})")
        if factors.dtype.is_floating_point or factors.dtype.is_complex or factors.dtype == torch.bool:
            raise ValueError(f"factors must hold integer class indices (torch.long), got dtype {factors.dtype}; "
                             "real factor values go through render_values() where the data set has one")
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(f"factors must have shape (n, {self.num_factors}), one column per factor ({names}); "
                             f"got shape {tuple(factors.shape)}")
        factors = factors.to(device=self.device, dtype=torch.long)
        sizes = torch.tensor(self.factor_sizes, device=self.device)  # (K,)
        bad = (factors < 0) | (factors >= sizes)  # (n, K)
        if bool(bad.any()):
            row, k = (int(i) for i in bad.nonzero()[0])
            raise ValueError(f"factor {self.factor_names[k]!r} (column {k}) must be a class index in "
                             f"[0, {self.factor_sizes[k] - 1}], got {int(factors[row, k])} (row {row})")
        return factors

    def check_indices(self, indices) -> Tensor:
        """Return flat ``indices`` as a ``LongTensor (n,)`` on ``self.device``, or raise a ValueError."""
        indices = _integer_tensor("indices", indices, "integer flat indices of shape (n,)")
        if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
            raise ValueError(f"indices (each index of the grid) must be integers (torch.long), got dtype {indices.dtype}")
        if indices.ndim != 1:
            raise ValueError(f"indices (each index of the grid) must have shape (n,), got shape {tuple(indices.shape)}")
        indices = indices.to(device=self.device, dtype=torch.long)
        bad = (indices < 0) | (indices >= self.num_combinations)
        if bool(bad.any()):
            row = int(bad.nonzero()[0, 0])
            raise ValueError(f"index must be in [0, {self.num_combinations - 1}], "
                             f"got {int(indices[row])} (position {row})")
        return indices

    # ---- conversions ----------------------------------------------------------------------------
    def index_of(self, factors) -> Tensor:
        """Flat index of each row of factor classes: ``sum_k factors[:, k] * base_k`` -> ``(n,)``."""
        factors = self.check_factors(factors)  # (n, K)
        bases = torch.tensor(self.factor_bases, device=self.device)  # (K,)
        return (factors * bases).sum(dim=1)

    def factors_at(self, indices) -> Tensor:
        """Factor classes of each flat index (inverse of ``index_of``) -> ``(n, K)``."""
        indices = self.check_indices(indices)  # (n,)
        bases = torch.tensor(self.factor_bases, device=self.device)  # (K,)
        sizes = torch.tensor(self.factor_sizes, device=self.device)  # (K,)
        return torch.div(indices[:, None], bases, rounding_mode="floor") % sizes  # digit k of the mixed radix

    @abc.abstractmethod
    def factor_values(self, factors) -> Tensor:
        """The real value of each factor class -> ``FloatTensor (n, K)``."""

    # ---- sampling and rendering -----------------------------------------------------------------
    def sample_factors(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` rows of factor classes, each factor uniform and independent -> ``LongTensor (n, K)``.

        The draw happens on the generator's device (CPU by default) and is then moved to
        ``self.device``, so a seeded CPU generator gives the same factors on every device.
        """
        n = values.draws.check("n", n)  # bounded before the (n, K) draw is allocated
        generator = values.generator.or_none().check("generator", generator)
        where = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand((n, self.num_factors), generator=generator, device=where, dtype=torch.float64)  # (n, K)
        sizes = torch.tensor(self.factor_sizes, device=where)  # (K,)
        factors = torch.minimum((u * sizes).long(), sizes - 1)  # floor(u * size) is uniform on {0..size-1}
        return factors.to(self.device)

    @abc.abstractmethod
    def render(self, factors) -> Tensor:
        """Images of the given factor classes -> ``FloatTensor (n, C, H, W)`` in [0, 1] on ``self.device``."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` random (images ``(n, C, H, W)``, factors ``(n, K)``) pairs."""
        factors = self.sample_factors(n, generator)
        return self.render(factors), factors

    # ---- torch Dataset view ---------------------------------------------------------------------
    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(image ``(C, H, W)``, factors ``(K,)``) of flat index ``i`` (negative counts from the end)."""
        given = i
        if isinstance(i, Tensor) and i.dim() == 0 and not i.is_floating_point() and i.dtype != torch.bool:
            i = int(i)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"a data set's index must be an integer, got {values.shown(given)}")
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):  # an IndexError, as a sequence's: iteration stops on it
            raise IndexError(f"index {given} out of range for a data set of {len(self)} images (0..{len(self) - 1}, "
                             f"or -{len(self)}..-1 from the end)")
        factors = self.factors_at(torch.tensor([i]))  # (1, K)
        return self.render(factors)[0], factors[0]

    def as_torch_dataset(self) -> Dataset:
        """A ``torch.utils.data.Dataset`` of (image, factors) pairs: the data set itself."""
        return self


def check_dataset(dataset, who: str, min_varying: int = 1) -> GroundTruthDataset:
    """Return ``dataset`` if it is a ground-truth data set (``who`` names the caller in the error) with at least ``min_varying`` varying factors."""
    values.text.check("check_dataset's who", who)
    min_varying = values.non_negative_int.check("check_dataset's min_varying", min_varying)
    needed = ("factor_sizes", "sample_factors", "render", "index_of")
    missing = [name for name in needed if not hasattr(dataset, name)]
    if missing:
        raise ValueError(f"{who} needs a data set with ground-truth factors (a vaecourse.data.GroundTruthDataset "
                         f"such as DSprites); got {type(dataset).__name__}, which has no {', '.join(missing)}")
    varying = [k for k, size in enumerate(dataset.factor_sizes) if size > 1]
    if len(varying) < min_varying:
        raise ValueError(f"{who} needs at least {min_varying} factor(s) that take more than one value; the data set's "
                         f"factor sizes are {tuple(dataset.factor_sizes)}")
    return dataset
