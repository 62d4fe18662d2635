"""Views: a ground-truth data set seen differently is itself a ground-truth data set.

- :class:`SubGrid` keeps some classes of some factors (classes renumbered 0..n-1): a smaller grid, e.g. the
  documented CPU subsample of dSprites (:func:`cpu_subgrid`: every 4th orientation and every 2nd position, all
  shapes and scales, 46,080 of 737,280 images), on which metrics run in seconds rather than minutes on a CPU.

A view renders and reads factor values through its parent, so a model trained on it, the metrics scoring it and
``evaluate`` all see the same images.

Shape letters: n or B examples, K factors, C channels, H rows, W columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vaecourse.data.base import GroundTruthDataset, check_dataset


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
            classes = torch.as_tensor(list(keep.get(name, range(size))), dtype=torch.long)
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
    names = tuple(dataset.factor_names)
    if not {"orientation", "posX", "posY"} <= set(names):
        raise ValueError(f"cpu_subgrid expects dSprites factors (orientation, posX, posY), got {names}")
    size = dict(zip(names, dataset.factor_sizes))
    return SubGrid(dataset, orientation=range(0, size["orientation"], orientation_step),
                   posX=range(0, size["posX"], position_step), posY=range(0, size["posY"], position_step))


__all__ = ["SubGrid", "cpu_subgrid"]
