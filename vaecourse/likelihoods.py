"""Observation models p(x|z): heads that turn decoder outputs into ``torch.distributions``.

Each ``log_prob(x)`` is already summed over the pixels and returned per example, (B,), in nats:
never a mean over pixels inside an ELBO (DESIGN.md §2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, Independent, Normal

from vaecourse import values

LIKELIHOODS = ("bernoulli", "gaussian")


def bernoulli_log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """log B(x | sigmoid(logits)) = sum_pixels [x * logits - softplus(logits)].  (B,)  [slides, Eq. 12]

    The same number as minus the summed binary cross-entropy; written with softplus it stays finite
    for any logit, where log(sigmoid(l)) would underflow.
    """
    _batch("bernoulli_log_prob", "logits", logits)
    _batch("bernoulli_log_prob", "x", x)
    if logits.shape != x.shape:
        raise ValueError(f"bernoulli_log_prob needs logits and x of one shape (B, ...), got {tuple(logits.shape)} "
                         f"and {tuple(x.shape)}")
    if x.device != logits.device:
        raise ValueError(f"bernoulli_log_prob's x must be on the logits' device {logits.device}, got it on {x.device}")
    if x.numel() and x.device.type != "meta":  # one aminmax pass, as the models' check_images (NaN reaches both ends)
        lo, hi = (v.item() for v in torch.aminmax(x.detach()))
        if not (0 <= lo and hi <= 1):  # (False for NaN)
            raise ValueError(f"bernoulli_log_prob's x must be pixel values in [0, 1] (a Bernoulli scores "
                             f"probabilities), got values from {lo:.3g} to {hi:.3g}")
    return (x * logits - F.softplus(logits)).flatten(1).sum(dim=1)


def bernoulli(logits: Tensor) -> Independent:
    """p(x|z) = prod_pixels Bernoulli(sigmoid(logits)); ``mean`` is the image of probabilities.

    ``validate_args=False`` lets grey values in [0, 1] be scored too (the cross-entropy reading).
    """
    _batch("bernoulli", "logits", logits)
    return Independent(Bernoulli(logits=logits, validate_args=False), logits.dim() - 1, validate_args=False)


def gaussian(mean: Tensor, logvar: Tensor | float = 0.0) -> Independent:
    """p(x|z) = prod_pixels N(mean, e^logvar), a Gaussian head with shared or per-pixel variance."""
    _batch("gaussian", "mean", mean)
    if not isinstance(logvar, Tensor):
        logvar = values.log_variance.check("gaussian's logvar", logvar)
    else:
        if not logvar.is_floating_point():
            raise TypeError(f"gaussian's logvar must be a number or a real floating-point tensor, got "
                            f"{values.shown(logvar)}")
        try:
            fits = torch.broadcast_shapes(logvar.shape, mean.shape) == mean.shape
        except RuntimeError:
            fits = False
        if not fits or logvar.device != mean.device:
            raise ValueError(f"gaussian's logvar must be a number or a tensor that broadcasts to mean's shape "
                             f"{tuple(mean.shape)} on {mean.device}, got shape {tuple(logvar.shape)} on {logvar.device}")
    scale = torch.exp(0.5 * torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device)).expand_as(mean)
    return Independent(Normal(mean, scale, validate_args=False), mean.dim() - 1, validate_args=False)


def _batch(who: str, name: str, t) -> None:
    """``t`` a real floating-point tensor (B, ...) with at least a batch axis and one more, or an error naming
    ``name`` (no value is read: a decoder's output reaches here at every training step)."""
    if not isinstance(t, Tensor) or not t.is_floating_point():
        raise TypeError(f"{who}'s {name} must be a real floating-point tensor (B, ...), got {values.shown(t)}")
    if t.dim() < 2:
        raise ValueError(f"{who}'s {name} must have a batch axis and at least one more (B, C, H, W for images), "
                         f"got shape {tuple(t.shape)}")


class LikelihoodHead(torch.nn.Module):
    """Wraps decoder outputs into p(x|z). For ``gaussian`` a learned scalar log-variance is kept."""

    def __init__(self, name: str = "bernoulli"):
        super().__init__()
        if not isinstance(name, str) or name not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {values.shown(name)}: expected one of {LIKELIHOODS}")
        self.name = name
        if name == "gaussian":
            self.logvar = torch.nn.Parameter(torch.tensor(math.log(0.1)))

    def forward(self, params: Tensor) -> Independent:
        _batch("LikelihoodHead", "params", params)
        if self.name == "bernoulli":
            return bernoulli(params)
        return gaussian(params, self.logvar)

    def mean(self, params: Tensor) -> Tensor:
        """E[x|z], the picture a reconstruction shows."""
        _batch("LikelihoodHead.mean", "params", params)
        return torch.sigmoid(params) if self.name == "bernoulli" else params


__all__ = ["LIKELIHOODS", "LikelihoodHead", "bernoulli", "bernoulli_log_prob", "gaussian"]
