"""Shuffled epochs: the one way a finite set of examples is cut into training batches.

Each epoch is a fresh permutation of the ``n`` examples drawn from ``generator``, cut into full batches of
``batch_size`` (the remainder is left for the next permutation); with fewer than ``batch_size`` examples each epoch is
one batch of all of them. ``train.fit`` uses it for a tensor of examples, ``data.catalog`` for the digits.

Shape letters: n examples, B batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def shuffled_epochs(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless index batches ``(B,)`` (on the generator's device), epochs back to back."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"shuffled_epochs needs a positive number of examples, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    while True:
        order = torch.randperm(n, generator=generator, device=generator.device)  # (n,)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[start:start + batch_size]


__all__ = ["shuffled_epochs"]
