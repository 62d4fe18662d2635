"""Which latents carry information: the KL to the prior, split by latent dimension.

For a diagonal Gaussian posterior the KL to N(0, I) is a sum over dimensions [kingma2014, App. B]:

    KL(q(z|x) || p(z)) = sum_d KL_d,   KL_d = 1/2 (mu_d^2 + sigma_d^2 - 1 - log sigma_d^2)

A dimension whose average KL_d is near 0 says the same thing for every image (q(z_d|x) = p(z_d)): it is
switched off, and the decoder ignores it. beta > 1 switches dimensions off until only the ones that buy the
most reconstruction per nat remain [higgins2017, Sec. 4; burgess2018, Sec. 4]: the bar chart of the
batch-mean KL_d is how chapter 2 counts the "active" latents.

Shape letters: B batch, D latent dimensions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.distributions import check_kls
from vaecourse.metrics.checks import check_numbers


_POSTERIOR = values.numbers("finite real numbers of shape (B, D), B >= 1 examples and D >= 1 dimensions",
                            lambda t: t.dim() == 2 and min(t.shape) >= 1)


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL_d = 1/2 (mu_d^2 + e^logvar_d - 1 - logvar_d) per example and dimension: (B, D) -> (B, D).

    Summed over the last dimension it is :func:`vaecourse.distributions.kl_standard_normal`.
    """
    mu = _POSTERIOR.check("kl_per_dimension's mu", mu)
    logvar = _POSTERIOR.check("kl_per_dimension's logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, D)
    if not bool(torch.isfinite(kl).all()):  # finite mu and logvar whose KL overflows (e^1000): no posterior
        raise ValueError(f"kl_per_dimension's mu and logvar give a KL that overflows {kl.dtype} (mu up to "
                         f"{mu.abs().max().item():.3g} in size, logvar up to {logvar.max().item():.3g}): they are "
                         "no posterior's parameters")
    return kl


@torch.no_grad()
def model_kl_per_dimension(model, x: Tensor) -> Tensor:
    """The batch-mean KL_d of ``model``'s posterior on images ``x``: (D,), in nats."""
    from vaecourse.models.base import CourseModel

    if not isinstance(model, CourseModel) or not hasattr(model, "encode"):
        raise ValueError(f"model_kl_per_dimension's model must be a vaecourse model whose encode gives a diagonal "
                         f"Gaussian q(z|x) (e.g. a VAE), got {type(model).__name__}")
    from vaecourse.models.ladder import LadderVAE

    if isinstance(model, LadderVAE):  # KL_d to N(0, I) of stacked layers would be a number about no prior at all
        raise ValueError("model_kl_per_dimension's model must have the prior N(0, I) (e.g. a VAE), got a LadderVAE: "
                         "its lower layers' prior is p(z_i | z_{i+1}); use its own per-unit KLs (model(x).kl_units, "
                         "metrics.kl_per_unit)")
    if not isinstance(x, Tensor):
        raise ValueError(f"model_kl_per_dimension's x must be a tensor of images (B, C, H, W), got {values.shown(x)}")
    values.numbers("a non-empty tensor of images (B, C, H, W) of finite values",
                   lambda t: t.dim() >= 2 and t.shape[0] >= 1).check("model_kl_per_dimension's x", x)
    q = model.encode(x.to(model.device))
    if not (hasattr(q, "mu") and hasattr(q, "logvar")):
        raise ValueError(f"model_kl_per_dimension's model must encode to a diagonal Gaussian (mu, logvar); "
                         f"{type(model).__name__}.encode gave {type(q).__name__}")
    return kl_per_dimension(q.mu, q.logvar).mean(dim=0).cpu()  # (D,)




def active_latents(kl: Tensor, threshold: float = 0.1) -> Tensor:
    """The dimensions whose batch-mean KL exceeds ``threshold`` nats, most informative first.

    kl: per-example, per-dimension KLs (B, D) (or their batch mean (D,)), a tensor, an array or a list. Returns a LongTensor of
    dimension indices sorted by decreasing mean KL.
    """
    kl = check_numbers(kl, "active_latents' kl (per-dimension KLs)")  # a list or an array is read as a tensor
    if kl.dim() not in (1, 2) or min(kl.shape) < 1:
        raise ValueError(f"active_latents expected KLs of shape (B, D) or (D,) with at least one example and "
                         f"dimension, got {tuple(kl.shape)}")
    threshold = values.non_negative.check("threshold (nats)", threshold)
    D = kl.shape[-1]
    check_kls(kl, "active_latents' kl", lambda i: f"dimension {i % D}" + (f" of example {i // D}" if kl.dim() == 2 else ""))
    mean = kl.mean(dim=0) if kl.dim() == 2 else kl  # (D,)
    order = torch.argsort(mean, descending=True, stable=True)  # (D,)
    return order[mean[order] > threshold]


__all__ = ["active_latents", "kl_per_dimension", "model_kl_per_dimension"]
