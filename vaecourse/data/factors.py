"""A ground-truth data set whose "images" are the factors themselves: the known-answer test bed of the metrics.

``FactorImages((3, 6, 40, 32, 32))`` has the grid of dSprites, but the observation of a factor vector is the
vector itself, scaled to [0, 1] and shaped like a 1 x K image. The identity representation
``lambda x: x.flatten(1)`` is then a perfectly disentangled code (one dimension per factor), and any other
code is a known function of the factors: a rotation entangles them, a constant knows nothing, noise
knows nothing either. The metrics' known-answer tests and chapter 3's ceiling use it.

Shape letters: n examples, K factors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.data.base import GroundTruthDataset
from vaecourse.runtime import default_device


class FactorImages(GroundTruthDataset):
    """Factor classes ``(n, K)`` rendered as ``(n, 1, 1, K)`` images: class / (size - 1) (0 for a constant factor)."""

    def __init__(self, factor_sizes: Sequence[int], factor_names: Sequence[str] | None = None,
                 device: str | torch.device = "cpu"):
        sizes = values.factor_sizes.check("factor_sizes", factor_sizes)
        names = values.sequence(f"{len(sizes)} distinct factor names (non-empty strings), one per factor size",
                                lambda v: len(v) == len(sizes) and all(isinstance(n, str) and n for n in v)
                                and len(set(v)) == len(v)).or_none().check("factor_names", factor_names)
        names = names if names is not None else tuple(f"v{k}" for k in range(len(sizes)))
        self.factor_sizes, self.factor_names = sizes, names
        self.device = default_device(device)  # checked: 'cpu', 'cuda[:N]', 'mps' or 'auto'

        self._scale = torch.tensor([max(s - 1, 1) for s in sizes], dtype=torch.float32, device=self.device)  # (K,)

    def __repr__(self) -> str:
        return f"FactorImages({self.factor_sizes})"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1, 1, self.num_factors)

    def factor_values(self, factors) -> Tensor:
        """class / (size - 1), in [0, 1] -> ``(n, K)``."""
        return self.check_factors(factors).float() / self._scale

    def render(self, factors) -> Tensor:
        """The factor values as ``(n, 1, 1, K)`` "images"."""
        return self.factor_values(factors)[:, None, None, :]


__all__ = ["FactorImages"]
