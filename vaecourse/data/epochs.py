"""Shuffled epochs: the one way a finite set of examples is cut into training batches.

Each epoch is a fresh permutation of the ``n`` examples drawn from ``generator``, cut into full batches of
``batch_size`` (the remainder is left for the next permutation); with fewer than ``batch_size`` examples each epoch is
one batch of all of them. ``train.fit`` uses it for a tensor of examples, ``data.catalog`` for the digits.

Shape letters: n examples, B batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from vaecourse import values
from torch import Tensor


def shuffled_epochs(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless index batches ``(B,)`` (on the generator's device), epochs back to back."""
    n = values.examples.check("shuffled_epochs' number of examples n", n)
    batch_size = values.batch_size.check("batch_size", batch_size)
    generator = values.generator.check("shuffled_epochs' generator", generator)
    return _epochs(n, batch_size, generator)  # checked at the call, not at the first batch


def _epochs(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    while True:
        order = torch.randperm(n, generator=generator, device=generator.device)  # (n,)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[start:start + batch_size]


__all__ = ["shuffled_epochs"]
