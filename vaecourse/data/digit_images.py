"""What chapter 4's digit loaders return: :class:`DigitImages`, grey images in [0, 1] with labels, split.

Its own module so that both loaders build it without importing each other: :mod:`vaecourse.data.mnist5k` (the
5,000 shipped digits) and :mod:`vaecourse.data.mnist` (the IDX files, and the choice between the two, which
imports ``mnist5k``). Shapes: N train and M test images of (1, 28, 28).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vaecourse import values


@dataclass(frozen=True)
class DigitImages:
    """Grey images in [0, 1] with labels, split into train and test, and where they came from."""

    train: Tensor  # (N, 1, 28, 28) float32
    train_labels: Tensor  # (N,) int64
    test: Tensor  # (M, 1, 28, 28) float32
    test_labels: Tensor  # (M,) int64
    source: str  # a sentence naming the data, for notebooks and logs

    def __post_init__(self) -> None:
        for images, labels, name in ((self.train, self.train_labels, "train"), (self.test, self.test_labels, "test")):
            if not isinstance(images, Tensor) or not isinstance(labels, Tensor) or images.dim() != 4 \
                    or labels.shape != images.shape[:1]:
                raise ValueError(f"DigitImages' {name} must be images (N, 1, H, W) and {name}_labels N labels, got "
                                 f"{getattr(images, 'shape', type(images).__name__)} and "
                                 f"{getattr(labels, 'shape', type(labels).__name__)}")
            values.with_values(f"DigitImages' {name}", images, "grey images in [0, 1]")
            values.with_values(f"DigitImages' {name}_labels", labels, "integer class labels")
            if not images.is_floating_point():
                raise ValueError(f"DigitImages' {name} must be grey images in [0, 1] (a floating tensor), got "
                                 f"{values.shown(images)}")
            if images.numel():
                lo, hi = (float(v) for v in torch.aminmax(images))  # one pass; NaN reaches both ends
                if not (0.0 <= lo and hi <= 1.0):
                    raise ValueError(f"DigitImages' {name} must be grey images in [0, 1], got {values.shown(images)}"
                                     + ("" if lo != lo or hi != hi else f" with values from {lo:g} to {hi:g}"))
            if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
                raise ValueError(f"DigitImages' {name}_labels must be integer class labels, got {values.shown(labels)}")
        values.text.check("DigitImages' source", self.source)
        if self.train.shape[1:] != self.test.shape[1:]:
            raise ValueError(f"DigitImages' test images must have the train images' shape {tuple(self.train.shape[1:])}, "
                             f"got {tuple(self.test.shape[1:])}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])

    def __repr__(self) -> str:
        return f"DigitImages({self.source}: {len(self.train)} train, {len(self.test)} test, {self.image_shape})"


__all__ = ["DigitImages"]
