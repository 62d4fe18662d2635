"""What every model shares: a registry (so checkpoints can rebuild a model by name) and input checks."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from vaecourse import values

MODEL_REGISTRY: dict[str, type[nn.Module]] = {}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: make ``cls`` loadable by :func:`vaecourse.checkpoints.load` under its name."""
    MODEL_REGISTRY[cls.__name__] = cls
    return cls


class CourseModel(nn.Module):
    """Base class: keeps the constructor's keyword arguments in ``hparams`` (plain Python values)."""

    hparams: dict[str, Any]
    takes_labels = False  # True for the label-conditioned models (chapter 5), called as model(x, u)

    def parameter_groups(self, lr: float) -> list[dict]:
        """The optimiser's parameter groups at learning rate ``lr``: one group here; a model whose parts learn at
        other rates (CausalVAE's A) says so by overriding this. ``torch.optim.Adam(model.parameter_groups(lr))``."""
        return [{"params": list(self.parameters()), "lr": values.learning_rate.check("parameter_groups' lr", lr)}]

    def _remember(self, **hparams: Any) -> None:
        self.hparams = {k: (list(v) if isinstance(v, tuple) else v) for k, v in hparams.items()}

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[CourseModel]:
        """The model in eval mode for a measurement, its mode restored after (also on an error): batch norm reads
        its running statistics, so a score does not depend on the batch, and the measurement does not update them.
        ``with model.evaluating(): ...``"""
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def check_latent(self, z: Any, size: int, who: str, name: str = "z") -> Tensor:
        """``z`` checked as latents of this model (:func:`check_latents`) and in the model's dtype."""
        return check_latents(z, size, who=who, name=name, device=self.device, dtype=self.dtype)

    def check_input(self, x: Any) -> Tensor:
        """The images ``x`` checked (:func:`check_images`) and in the model's dtype."""
        return self.check_pixels(x)

    def check_pixels(self, x: Any, who: str | None = None) -> Tensor:
        """:meth:`check_input` of the images alone; ``who`` names the reader in a refusal (default: the model)."""
        return check_images(x, self.image_shape, unit_range=self.likelihood.name == "bernoulli",
                            who=who or type(self).__name__, device=self.device, dtype=self.dtype)


def check_images(x: Any, image_shape: tuple[int, ...], *, unit_range: bool, who: str,
                 device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """``x`` as a batch the model can read, or a ValueError saying what was expected and what came.

    ``image_shape`` is (C, H, W); a batch is a non-empty (B, C, H, W) floating-point tensor of finite values, on
    ``device`` (the model's), in [0, 1] when ``unit_range`` (a Bernoulli likelihood scores pixel probabilities).
    Any floating dtype is accepted and returned in ``dtype`` (the model's), so float64 or float16 images simply
    work. One ``aminmax`` pass finds NaN and inf (NaN propagates to both ends) and the range together.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{who} expected a torch.Tensor of images, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{who} expected floating-point images (e.g. torch.float32 in [0, 1]), got dtype {x.dtype}; "
                         "convert with x.float() (and divide uint8 images by 255)")
    if x.dim() != len(image_shape) + 1 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{who} expected images of shape (B, {', '.join(map(str, image_shape))}), "
                         f"got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{who} expected a non-empty batch of images (B >= 1), got an empty one of shape "
                         f"{tuple(x.shape)}")
    values.with_values(f"{who}'s images", x, "images with values")
    if device is not None and x.device != device:
        raise ValueError(f"{who} expected images on the model's device {device}, got them on {x.device}: "
                         f"move them with x.to({str(device)!r})")
    if dtype is not None:
        x = x.to(dtype)
    lo, hi = (v.item() for v in torch.aminmax(x.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        found = "NaN" if math.isnan(lo) else "inf"
        raise ValueError(f"{who} expected finite pixel values, got images containing {found}")
    if unit_range and (lo < 0 or hi > 1):
        raise ValueError(f"{who} expected pixel values in [0, 1] for a Bernoulli likelihood, "
                         f"got values from {lo:.3g} to {hi:.3g}")
    return x


def check_latents(z: Any, size: int, *, who: str, name: str = "z", device: torch.device | None = None,
                  dtype: torch.dtype | None = None) -> Tensor:
    """``z`` as a non-empty batch of latents (B, ``size``): a real floating-point tensor on ``device`` (the model's),
    returned in ``dtype`` (the model's, so float64 latents simply work), or a ValueError/TypeError naming ``name``.
    Shapes, dtypes and devices only: no value is read (decode runs at every training step; NaN follows IEEE)."""
    if not isinstance(z, Tensor):
        raise TypeError(f"{who} expected {name} as a tensor of shape (B, {size}), got {values.shown(z)}")
    if not z.is_floating_point():
        raise TypeError(f"{who} expected {name} as a real floating-point tensor (B, {size}), got dtype {z.dtype}")
    if z.dim() != 2 or z.shape[1] != size:
        raise ValueError(f"{who} expected {name} of shape (B, {size}), got {tuple(z.shape)}")
    if z.shape[0] == 0:
        raise ValueError(f"{who} expected a non-empty batch of {name} (B >= 1), got shape {tuple(z.shape)}")
    values.with_values(f"{who}'s {name}", z, f"latents (B, {size}) with values")  # (a meta model refuses below)
    if device is not None and z.device != device:
        raise ValueError(f"{who} expected {name} on the model's device {device}, got it on {z.device}")
    return z if dtype is None else z.to(dtype)


def check_weights(model: nn.Module, who: str, finite: bool = False) -> nn.Module:
    """``model`` when every weight and buffer has values, or a ValueError naming the first that is a meta tensor: a
    model built under ``torch.device("meta")`` or moved with ``model.to("meta")`` has shapes only (saving or training
    it reached torch's "Cannot copy out of meta tensor"). With ``finite``, also the first that holds NaN or inf: such
    a model computes NaN (a figure of it is blank; training it stopped at step 0 blaming the learning rate)."""
    for key, tensor in model.state_dict().items():
        values.with_values(f"{who}'s weight {key}", tensor, "a model with values (build it on 'cpu' or 'cuda', "
                           "or load its weights with load_state_dict(..., assign=True))")
        if finite and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{who}'s weight {key} holds NaN or inf: the run that trained it diverged (or its file "
                             "was damaged), so everything it computes is NaN; load it or train it again")
    return model
