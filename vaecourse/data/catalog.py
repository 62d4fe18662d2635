"""The named data sets a training run asks for (``make_dataset("dsprites", device, image_shape=(1, 32, 32))``):
a renderer or a loader behind one small interface, :class:`TrainingData` (training batches, an evaluation
batch, the image shape). The command line's ``train`` and ``evaluate`` and the notebooks read it.

Shape letters: B batch, C channels, H rows, W columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

DATASETS = ("dsprites", "mnist", "digits", "pendulum")


@dataclass
class TrainingData:
    """Batches for the command line: a renderer or a loader behind one small interface."""

    batches: Callable  # (batch_size, steps, generator) -> iterator of (x, ...)
    evaluation_batch: Callable  # (n, generator) -> x
    image_shape: tuple[int, int, int]
    examples: int | None = None  # training-set size when finite (epochs for warm-up schedules)


def make_dataset(name: str, device: torch.device, image_shape: tuple[int, ...] | None = None,
                 shadow_noise: float = 0.0) -> TrainingData:
    """The named data set, rendered or loaded on ``device``; ``image_shape`` (C, H, W) may ask for the
    images average-pooled to a smaller side (e.g. 64x64 dSprites seen at 32x32 by the ``conv32`` model);
    ``shadow_noise`` gives the pendulum's shadow its own exogenous noise (scene units)."""
    if name == "dsprites":
        from vaecourse.data import DSprites
        data = DSprites(device=device)
        side = 64 if image_shape is None else int(image_shape[-1])
        if 64 % side:
            raise ValueError(f"dSprites can be pooled from 64x64 to a divisor of 64, got a side of {side}")
        pool = 64 // side

        def shrink(x: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(x, pool) if pool > 1 else x  # grey values in [0, 1]: the fraction of pixels on

        def batches(batch_size, steps, generator):
            return ((shrink(x), f) for x, f in data.batches(batch_size, steps, generator=generator))

        return TrainingData(batches=batches, evaluation_batch=lambda n, g: shrink(data.sample(n, generator=g)[0]),
                            image_shape=(1, side, side))
    if name in ("mnist", "digits"):
        return _digit_dataset(name, device)
    if name == "pendulum":  # chapter 5: rendered at the requested side directly, batches of (images, labels u)
        from vaecourse.data import Pendulum
        side = 64 if image_shape is None else int(image_shape[-1])
        pendulum = Pendulum(size=side, device=device, shadow_noise=shadow_noise)
        return TrainingData(batches=lambda batch_size, steps, generator: pendulum.batches(batch_size, steps, generator),
                            evaluation_batch=lambda n, g: pendulum.render(pendulum.sample_factors(n, g)),
                            image_shape=pendulum.image_shape)
    raise ValueError(f"unknown dataset {name!r}: expected one of {DATASETS}")


def _digit_dataset(name: str, device: torch.device) -> TrainingData:
    """MNIST from the verified cache (``python -m vaecourse data mnist --download``) or scikit-learn's digits,
    shuffled every epoch and dynamically binarised batch by batch [sonderby2016]."""
    from vaecourse.data.mnist import dynamic_binarize, load_mnist, load_sklearn_digits
    digits = load_mnist() if name == "mnist" else load_sklearn_digits()
    train, test = digits.train.to(device), digits.test.to(device)

    def batches(batch_size, steps, generator):
        done = 0
        while done < steps:
            order = torch.randperm(len(train), generator=generator, device=generator.device).to(device)
            for start in range(0, len(train) - batch_size + 1, batch_size):
                if done == steps:
                    return
                yield dynamic_binarize(train[order[start:start + batch_size]], generator), None
                done += 1

    def evaluation_batch(n, generator):
        return dynamic_binarize(test[:n], generator)

    return TrainingData(batches=batches, evaluation_batch=evaluation_batch, image_shape=tuple(digits.image_shape),
                        examples=len(train))


__all__ = ["DATASETS", "TrainingData", "make_dataset"]
