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
    if logits.shape != x.shape:
        raise ValueError(f"bernoulli_log_prob needs logits and x of one shape (B, ...), got {tuple(logits.shape)} "
                         f"and {tuple(x.shape)}")
    return (x * logits - F.softplus(logits)).flatten(1).sum(dim=1)


def bernoulli(logits: Tensor) -> Independent:
    """p(x|z) = prod_pixels Bernoulli(sigmoid(logits)); ``mean`` is the image of probabilities.

    ``validate_args=False`` lets grey values in [0, 1] be scored too (the cross-entropy reading).
    """
    return Independent(Bernoulli(logits=logits, validate_args=False), logits.dim() - 1, validate_args=False)


def gaussian(mean: Tensor, logvar: Tensor | float = 0.0) -> Independent:
    """p(x|z) = prod_pixels N(mean, e^logvar), a Gaussian head with shared or per-pixel variance."""
    if not isinstance(logvar, Tensor):
        logvar = values.log_variance.check("gaussian's logvar", logvar)
    scale = torch.exp(0.5 * torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device)).expand_as(mean)
    return Independent(Normal(mean, scale, validate_args=False), mean.dim() - 1, validate_args=False)


class LikelihoodHead(torch.nn.Module):
    """Wraps decoder outputs into p(x|z). For ``gaussian`` a learned scalar log-variance is kept."""

    def __init__(self, name: str = "bernoulli"):
        super().__init__()
        if name not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {name!r}: expected one of {LIKELIHOODS}")
        self.name = name
        if name == "gaussian":
            self.logvar = torch.nn.Parameter(torch.tensor(math.log(0.1)))

    def forward(self, params: Tensor) -> Independent:
        if self.name == "bernoulli":
            return bernoulli(params)
        return gaussian(params, self.logvar)

    def mean(self, params: Tensor) -> Tensor:
        """E[x|z], the picture a reconstruction shows."""
        return torch.sigmoid(params) if self.name == "bernoulli" else params


__all__ = ["LIKELIHOODS", "LikelihoodHead", "bernoulli", "bernoulli_log_prob", "gaussian"]
