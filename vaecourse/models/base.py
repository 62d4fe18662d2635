"""What every model shares: a registry (so checkpoints can rebuild a model by name) and input checks."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

MODEL_REGISTRY: dict[str, type[nn.Module]] = {}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: make ``cls`` loadable by :func:`vaecourse.checkpoints.load` under its name."""
    MODEL_REGISTRY[cls.__name__] = cls
    return cls


class CourseModel(nn.Module):
    """Base class: keeps the constructor's keyword arguments in ``hparams`` (plain Python values)."""

    hparams: dict[str, Any]

    def _remember(self, **hparams: Any) -> None:
        self.hparams = {k: (list(v) if isinstance(v, tuple) else v) for k, v in hparams.items()}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def check_images(x: Any, image_shape: tuple[int, ...], *, unit_range: bool, who: str) -> None:
    """Raise a ValueError saying what was expected and what came, for a batch of images.

    ``image_shape`` is (C, H, W); a batch is (B, C, H, W) floating point, in [0, 1] when
    ``unit_range`` (a Bernoulli likelihood scores pixel probabilities).
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{who} expected a torch.Tensor of images, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{who} expected floating-point images (e.g. torch.float32 in [0, 1]), got dtype {x.dtype}; "
                         "convert with x.float() (and divide uint8 images by 255)")
    if x.dim() != len(image_shape) + 1 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{who} expected images of shape (B, {', '.join(map(str, image_shape))}), "
                         f"got {tuple(x.shape)}")
    if unit_range and x.numel():
        lo, hi = torch.aminmax(x.detach())
        if lo < 0 or hi > 1:
            raise ValueError(f"{who} expected pixel values in [0, 1] for a Bernoulli likelihood, "
                             f"got values from {lo.item():.3g} to {hi.item():.3g}")
