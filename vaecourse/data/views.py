"""Views: a ground-truth data set seen differently is itself a ground-truth data set.

- :class:`Pooled` average-pools the images to a smaller side and leaves the factors alone:
  ``Pooled(DSprites(), side=32)`` is dSprites as chapters 2 and 3's ``conv32`` models see it (each pixel the fraction
  of its 2x2 block that is on, so grey edge pixels keep the sub-pixel position);
- :class:`SubGrid` keeps some classes of some factors (classes renumbered 0..n-1): a smaller grid, e.g. the
  documented CPU subsample of dSprites (:func:`cpu_subgrid`: every 4th orientation and every 2nd position, all
  shapes and scales, 46,080 of 737,280 images), on which metrics run in seconds rather than minutes on a CPU.

A view renders and reads factor values through its parent, so a model trained on it, the metrics scoring it and
``evaluate`` all see the same images, and the model's representation function is simply ``model.embed``. Views
compose: ``Pooled(cpu_subgrid(DSprites()), side=32)``.

Shape letters: n or B examples, K factors, C channels, H rows, W columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vaecourse import values
from vaecourse.data.base import GroundTruthDataset, check_dataset


class Pooled(GroundTruthDataset):
    """``dataset``'s images average-pooled to ``side`` x ``side``; the factors, their values and the grid unchanged.

    ``side`` must divide the parent's (square) image side. ``render``, ``sample`` and ``batches`` (for a parent that
    streams batches, such as ``DSprites.batches``) pool what the parent draws, on the parent's device, and draw
    exactly the random numbers the parent would.
    """

    def __init__(self, dataset, side: int):
        check_dataset(dataset, "Pooled")
        shape = getattr(dataset, "image_shape", None)
        if shape is None or len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"Pooled needs a data set of square images with image_shape (C, H, H); "
                             f"{type(dataset).__name__} has image_shape {shape}")
        side = values.positive_int.check("Pooled's side", side)  # numpy ints too; bools are no sizes
        if shape[1] % side:
            raise ValueError(f"Pooled: {type(dataset).__name__}'s {shape[1]}x{shape[2]} images can be average-pooled "
                             f"to a side that divides {shape[1]}, got side={values.shown(side)}")
        self.parent, self.side = dataset, side
        self.kernel = shape[1] // side  # pixels per side of each averaged block
        self.factor_names = tuple(dataset.factor_names)
        self.factor_sizes = tuple(dataset.factor_sizes)
        self.device = dataset.device

    def __repr__(self) -> str:
        return f"Pooled({self.parent!r}, side={self.side})"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.parent.image_shape[0], self.side, self.side)

    def pool(self, x: Tensor) -> Tensor:
        """Parent images ``(B, C, H, H)`` -> ``(B, C, side, side)``, each pixel the mean of its block."""
        expected = tuple(self.parent.image_shape)
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != expected or not x.is_floating_point():
            raise ValueError(f"Pooled.pool's x must be the parent's floating images (B, {', '.join(map(str, expected))}), "
                             f"got {values.shown(x)}")
        return F.avg_pool2d(x, self.kernel) if self.kernel > 1 else x

    def render(self, factors) -> Tensor:
        return self.pool(self.parent.render(factors))

    def factor_values(self, factors) -> Tensor:
        return self.parent.factor_values(factors)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        x, factors = self.parent.sample(n, generator)
        return self.pool(x), factors

    def batches(self, batch_size: int, steps: int | None = None,
                generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, ...]]:
        """The parent's batches ``(images, factors or labels, ...)`` with the images pooled (the arguments checked by
        the parent, at the call)."""
        if not hasattr(self.parent, "batches"):
            raise ValueError(f"Pooled.batches needs a parent that streams batches, got {type(self.parent).__name__}")
        return self._pooled(self.parent.batches(batch_size, steps, generator))

    def _pooled(self, batches) -> Iterator[tuple[Tensor, ...]]:
        for x, *rest in batches:
            yield (self.pool(x), *rest)


class SubGrid(GroundTruthDataset):
    """``dataset`` restricted to some classes of some factors; classes are renumbered 0..n-1.

    ``SubGrid(dsprites, orientation=range(0, 40, 4), posX=range(0, 32, 2))`` keeps those classes; factors
    not named keep all their classes. Rendering and factor values go through the parent data set.
    """

    def __init__(self, dataset, **keep: Sequence[int]):
        check_dataset(dataset, "SubGrid")
        self.parent = dataset
        self.factor_names = tuple(dataset.factor_names)
        self.device = dataset.device
        unknown = set(keep) - set(self.factor_names)
        if unknown:
            raise ValueError(f"unknown factor(s) {sorted(unknown)}; the data set's factors are {self.factor_names}")
        self.kept: list[Tensor] = []
        for name, size in zip(self.factor_names, dataset.factor_sizes):
            kept = values.indices.check(f"the classes kept for {name!r}", keep[name]) if name in keep else range(size)
            classes = torch.as_tensor(list(kept), dtype=torch.long)
            if classes.numel() == 0 or bool(((classes < 0) | (classes >= size)).any()) \
                    or classes.unique().numel() != classes.numel():
                raise ValueError(f"the classes kept for {name!r} must be distinct values in [0, {size - 1}], "
                                 f"got {classes.tolist()}")
            self.kept.append(classes.to(self.device))
        self.factor_sizes = tuple(int(c.numel()) for c in self.kept)

    def __repr__(self) -> str:
        return f"SubGrid({self.parent!r}, sizes={self.factor_sizes})"

    @property
    def image_shape(self):
        return getattr(self.parent, "image_shape", None)

    def parent_factors(self, factors) -> Tensor:
        """Classes of the sub-grid ``(n, K)`` -> classes of the parent grid ``(n, K)``."""
        factors = self.check_factors(factors)
        return torch.stack([self.kept[k][factors[:, k]] for k in range(self.num_factors)], dim=1)

    def render(self, factors) -> Tensor:
        return self.parent.render(self.parent_factors(factors))

    def factor_values(self, factors) -> Tensor:
        return self.parent.factor_values(self.parent_factors(factors))


def cpu_subgrid(dataset, orientation_step: int = 4, position_step: int = 2) -> SubGrid:
    """The documented CPU subsample of dSprites: every 4th orientation, every 2nd position (46,080 images)."""
    check_dataset(dataset, "cpu_subgrid")
    names = tuple(dataset.factor_names)
    if not {"orientation", "posX", "posY"} <= set(names):
        raise ValueError(f"cpu_subgrid expects dSprites factors (orientation, posX, posY), got {names}")
    size = dict(zip(names, dataset.factor_sizes))

    def step(name: str, value, classes: int) -> int:  # at least two classes kept, or the factor no longer varies
        return values.integer(f"a positive integer at most {max(classes - 1, 1)} (every k-th of {classes} classes; at "
                              f"least two kept)", 1, max(classes - 1, 1)).check(f"cpu_subgrid's {name}", value)

    orientation_step = step("orientation_step", orientation_step, size["orientation"])
    position_step = step("position_step", position_step, min(size["posX"], size["posY"]))
    return SubGrid(dataset, orientation=range(0, size["orientation"], orientation_step),
                   posX=range(0, size["posX"], position_step), posY=range(0, size["posY"], position_step))


__all__ = ["Pooled", "SubGrid", "cpu_subgrid"]
