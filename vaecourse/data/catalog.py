"""The named data sets a training run asks for (``make_dataset("dsprites", device, image_shape=(1, 32, 32))``):
a renderer or a loader behind one small interface, :class:`TrainingData` (training batches, an evaluation
batch, the image shape). The command line's ``train`` and ``evaluate`` and the notebooks read it.

Shape letters: B batch, C channels, H rows, W columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Callable

import torch

from vaecourse import values
from vaecourse.data.epochs import shuffled_epochs
from vaecourse.runtime import default_device

DATASETS = ("dsprites", "mnist", "digits", "pendulum")


@dataclass
class TrainingData:
    """What a run trains and is evaluated on: a renderer or a loader behind one small interface."""

    batches: Callable  # (batch_size, steps, generator) -> iterator of (x, ...)
    evaluation_batch: Callable  # (n, generator) -> x
    image_shape: tuple[int, int, int]
    examples: int | None = None  # training-set size when finite (epochs for warm-up schedules)
    dataset: object | None = None  # the ground-truth data set (or view) behind the batches, for metrics


def make_dataset(name: str, device: torch.device, image_shape: tuple[int, ...] | None = None,
                 shadow_noise: float = 0.0) -> TrainingData:
    """The named data set, rendered or loaded on ``device``; ``image_shape`` (C, H, W) may ask for a smaller side
    (dSprites: the 64x64 renders seen through ``Pooled(DSprites(), side)``, e.g. 32 for the ``conv32`` models;
    the pendulum: rendered at that side); ``shadow_noise`` gives the pendulum's shadow its own exogenous noise
    (scene units)."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {values.shown(name)}: expected one of {DATASETS}")
    device = default_device(device)  # checked: 'cpu', 'cuda[:N]', 'mps', 'auto' or a torch.device
    image_shape = values.image_shape.or_none().check("make_dataset's image_shape", image_shape)
    shadow_noise = values.non_negative.check("make_dataset's shadow_noise (scene units)", shadow_noise)
    if image_shape is not None and image_shape[1] != image_shape[2]:
        raise ValueError(f"make_dataset's image_shape must be square images (C, H, H), got {image_shape}")
    if name == "dsprites" and image_shape is not None and image_shape[0] != 1:
        raise ValueError(f"make_dataset's image_shape must have 1 channel for dsprites (grey images), got "
                         f"{image_shape}")
    if name in ("mnist", "digits") and image_shape not in (None, DIGIT_SHAPE):  # as shadow_noise: never dropped
        raise ValueError(f"make_dataset's image_shape must be None or {DIGIT_SHAPE} for {name!r} (its digits are "
                         f"28x28 grey images, loaded as they are), got {image_shape}")
    side = 64 if image_shape is None else image_shape[-1]
    if shadow_noise and name != "pendulum":
        raise ValueError(f"make_dataset's shadow_noise is the pendulum's (its shadow's own noise): expected 0 for "
                         f"{name!r}, got {shadow_noise:g}")
    if name == "dsprites":
        from vaecourse.data.dsprites import DSprites
        from vaecourse.data.views import Pooled
        view = Pooled(DSprites(device=device), side=side)
        return TrainingData(batches=view.batches, evaluation_batch=lambda n, g: view.sample(n, g)[0],
                            image_shape=view.image_shape, dataset=view)
    if name in ("mnist", "digits"):
        return _digit_dataset(name, device)
    if name == "pendulum":  # chapter 5: rendered at the requested side directly, batches of (images, labels u)
        from vaecourse.data.pendulum import Pendulum
        pendulum = Pendulum(size=side, device=device, shadow_noise=shadow_noise)
        return TrainingData(batches=pendulum.batches,
                            evaluation_batch=lambda n, g: pendulum.render(pendulum.sample_factors(n, g)),
                            image_shape=pendulum.image_shape, dataset=pendulum)
    raise AssertionError(name)  # (every name of DATASETS is handled above)


DIGIT_SHAPE = (1, 28, 28)  # MNIST's and the shipped digits' (C, H, W)


def _digit_dataset(name: str, device: torch.device) -> TrainingData:
    """MNIST from the verified cache (``python -m vaecourse data mnist --download``) or, for ``digits``, the 5,000
    MNIST digits shipped in the package, shuffled every epoch and dynamically binarised batch by batch [sonderby2016]."""
    from vaecourse.data.mnist import dynamic_binarize, load_digit_images
    digits = load_digit_images(name)
    train, test = digits.train.to(device), digits.test.to(device)

    def batches(batch_size, steps, generator):  # checked at the call (shuffled_epochs checks its own)
        steps = values.step_count.or_none().check("steps (None: endless)", steps)
        epochs = shuffled_epochs(len(train), batch_size, generator)
        return ((dynamic_binarize(train[index.to(device)], generator), None) for index in islice(epochs, steps))

    def evaluation_batch(n, generator):
        n = values.examples.check("n (test images)", n)
        return dynamic_binarize(test[:n], generator)

    return TrainingData(batches=batches, evaluation_batch=evaluation_batch, image_shape=tuple(digits.image_shape),
                        examples=len(train))


__all__ = ["DATASETS", "TrainingData", "make_dataset"]
