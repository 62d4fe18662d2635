"""The diagonal-Gaussian posterior q(z|x), reparameterised sampling and closed-form KLs.

Shape letters: B batch, D latent dimensions, S Monte-Carlo samples.
Every KL here is summed over D and returned per example, (B,), in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Independent, Normal, kl_divergence, register_kl

from vaecourse import values

LOG_2PI = math.log(2.0 * math.pi)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I) and sigma = exp(logvar / 2).  [kingma2014, Eq. 10]

    The randomness lives in eps, outside the parameters, so dz/dmu and dz/dlogvar exist and
    gradients of E_q[f(z)] flow back into the encoder.
    """
    _same_shapes("reparameterize", mu=mu, logvar=logvar)
    if eps is not None:
        _floating("reparameterize", "eps", eps)
    if eps is not None and (eps.dim() < mu.dim() or tuple(eps.shape[eps.dim() - mu.dim():]) != tuple(mu.shape)):
        got = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
        raise ValueError(f"reparameterize expected eps of shape (..., {', '.join(map(str, mu.shape))}) (mu's, with any "
                         f"sample axes in front), got {got}")
    if eps is not None and eps.device != mu.device:  # (a meta eps is refused by _floating)
        raise ValueError(f"reparameterize expected eps on mu's device {mu.device}, got eps on {eps.device}")
    if eps is None:
        generator = values.generator.or_none().check("reparameterize's generator", generator)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)  # (B, D)
    return mu + torch.exp(0.5 * logvar) * eps  # (B, D)


def _floating(who: str, name: str, t) -> None:
    """``t`` a real floating-point tensor (not an integer, bool or complex one, not a list), or a TypeError naming
    ``name``, or a ValueError when it is a meta tensor: dtype and device checks cost nothing; the values follow IEEE
    arithmetic (NaN in, NaN out)."""
    if not isinstance(t, Tensor) or not t.is_floating_point():
        got = values.shown(t) if isinstance(t, Tensor) else f"a {type(t).__name__}: {values.shown(t)}"
        raise TypeError(f"{who}'s {name} must be a real floating-point tensor (torch.float32, torch.float64, ...), "
                        f"got {got}")
    values.with_values(f"{who}'s {name}", t, "a real floating-point tensor with values")  # (a meta one reached .item())


def _same_shapes(who: str, **tensors) -> None:
    """Each of ``tensors`` a real floating-point tensor, all of one shape and on one device (checks that cost
    nothing: no value is read, so a GPU is not synchronised; values follow IEEE)."""
    if not all(isinstance(t, Tensor) for t in tensors.values()):
        got = {name: tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for name, t in tensors.items()}
        raise ValueError(f"{who} expected {', '.join(tensors)} as tensors of one shape, got "
                         + ", ".join(f"{name} {shape}" for name, shape in got.items()))
    for name, t in tensors.items():
        _floating(who, name, t)
    got = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(got.values())) > 1:
        raise ValueError(f"{who} expected {', '.join(tensors)} as tensors of one shape, got "
                         + ", ".join(f"{name} {shape}" for name, shape in got.items()))
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        raise ValueError(f"{who} expected {', '.join(tensors)} on one device, got "
                         + ", ".join(f"{name} on {device}" for name, device in devices.items()))


_MEAN = values.real("a finite mean", lambda v: True, values.MAX_WEIGHT,
                    "beyond it (z - mu)^2 overflows float32 (3e38 gave -inf)")


def _broadcast(who: str, name: str, t, z: Tensor) -> Tensor | float:
    """``t`` (a mean or a log-variance beside the points ``z``): a finite number, or a real floating-point tensor on
    ``z``'s device whose shape broadcasts with ``z``'s (sample axes in front), or a ValueError/TypeError naming it."""
    if not isinstance(t, Tensor):  # a number: bounded so that (z - mu)^2 and e^logvar stay finite in float32
        return (values.log_variance if name == "logvar" else _MEAN).check(f"{who}'s {name}", t)
    _floating(who, name, t)
    try:
        torch.broadcast_shapes(t.shape, z.shape)
    except RuntimeError:
        raise ValueError(f"{who}'s {name} must have a shape that broadcasts with z's {tuple(z.shape)} (sample axes in "
                         f"front), got {tuple(t.shape)}") from None
    if t.device != z.device:
        raise ValueError(f"{who}'s {name} must be on z's device {z.device}, got it on {t.device}")
    return t


KL_ROUNDING = 1e-6  # float32 rounding of 1/2 (mu^2 + e^l - 1 - l) can leave -1e-8; a KL below -1e-6 is no KL
MAX_KL = values.MAX_MEASURED  # nats: no run's KL comes near it, and a mean of larger ones overflows to inf


def check_kls(kl: Tensor, name: str, position: Callable[[int], str]) -> Tensor:
    """``kl`` when every value is a KL in nats (finite, >= 0 up to ``KL_ROUNDING``, at most ``MAX_KL``), else a
    ValueError naming ``name`` and where the first other value is (``position(flat index)``, e.g. "unit 3")."""
    values.with_values(name, kl, "KLs in nats with values")  # (a meta kl reached torch's Tensor.item())
    bad = ~((kl >= -KL_ROUNDING) & (kl <= MAX_KL))  # (NaN fails both)
    if not bool(bad.any()):
        return kl
    i = int(bad.reshape(-1).nonzero()[0])
    v = float(kl.reshape(-1)[i])
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite KLs, got {v} at {position(i)}: the run that produced them diverged")
    if v < 0:
        raise ValueError(f"{name} must be KLs >= 0 (nats), got {v:.3g} at {position(i)}")
    raise ValueError(f"{name} must be KLs of at most {MAX_KL:g} nats (no run's KL comes near it; their mean "
                     f"overflows), got {v:.3g} at {position(i)}")


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) = 1/2 sum_d (mu^2 + e^logvar - 1 - logvar).  [kingma2014, App. B]"""
    _same_shapes("kl_standard_normal", mu=mu, logvar=logvar)
    _at_least_one_axis("kl_standard_normal", mu)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)  # (B,)


def kl_diagonal_gaussians(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)), both diagonal, summed over D.  (B,)

    = 1/2 sum_d [ logvar_p - logvar_q + (e^logvar_q + (mu_q - mu_p)^2) / e^logvar_p - 1 ]
    With mu_p = 0 and logvar_p = 0 it reduces to :func:`kl_standard_normal`.
    """
    _same_shapes("kl_diagonal_gaussians", mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p)
    _at_least_one_axis("kl_diagonal_gaussians", mu_q, "mu_q")
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0).sum(dim=-1)


def log_normal(z: Tensor, mu: Tensor | float = 0.0, logvar: Tensor | float = 0.0) -> Tensor:
    """log N(z; mu, diag e^logvar) summed over the last dimension: -1/2 sum_d [log 2pi + logvar + (z-mu)^2/e^logvar].

    ``mu`` and ``logvar`` are numbers or tensors whose shapes broadcast with z's (sample axes in front)."""
    _floating("log_normal", "z", z)
    _at_least_one_axis("log_normal", z, "z")
    mu, logvar = _broadcast("log_normal", "mu", mu, z), _broadcast("log_normal", "logvar", logvar, z)
    return _log_normal(z, mu, logvar)


def _at_least_one_axis(who: str, t: Tensor, name: str = "mu") -> None:
    if t.dim() < 1:
        raise ValueError(f"{who}'s {name} must have at least one dimension (the latent dimension D), got a 0-d tensor")


def _log_normal(z: Tensor, mu: Tensor | float, logvar: Tensor | float) -> Tensor:
    """:func:`log_normal` of checked arguments."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


def monte_carlo_kl(mu: Tensor, logvar: Tensor, n_samples: int,
                   generator: torch.Generator | None = None) -> Tensor:
    """Unbiased estimate of KL(q || N(0, I)) from S samples: mean_s [log q(z_s) - log p(z_s)].  (S, B)

    Returned per sample so the variance of the estimator can be studied; ``.mean(0)`` is the estimate.
    """
    n_samples = values.samples.check("n_samples", n_samples)
    generator = values.generator.or_none().check("monte_carlo_kl's generator", generator)
    _same_shapes("monte_carlo_kl", mu=mu, logvar=logvar)
    if mu.dim() < 2:
        raise ValueError(f"monte_carlo_kl's mu and logvar must be (B, D): a batch of posteriors, got shape "
                         f"{tuple(mu.shape)}")
    values.fits_in_memory("monte_carlo_kl's n_samples", n_samples, 4 * mu.numel() * mu.element_size(),
                          f"draws of {tuple(mu.shape)} (noise, z and two densities each)")
    eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)  # (S, B, D)
    z = reparameterize(mu, logvar, eps)  # (S, B, D)
    return _log_normal(z, mu, logvar) - _log_normal(z, 0.0, 0.0)  # (S, B)


class DiagonalGaussian(Independent):
    """q(z|x) = N(mu, diag(sigma^2)) over D dimensions: batch shape (B,), event shape (D,).

    A ``torch.distributions`` object (``log_prob``, ``rsample``, ``mean``, ``variance`` work as
    usual) that also keeps ``mu`` and ``logvar``, the two encoder outputs the equations use.
    """

    def __init__(self, mu: Tensor, logvar: Tensor):
        _same_shapes("DiagonalGaussian", mu=mu, logvar=logvar)
        if mu.dim() < 1:
            raise ValueError("DiagonalGaussian's mu must have at least one dimension (the latent dimension D), got a "
                             "0-d tensor")
        super().__init__(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1, validate_args=False)
        self.mu = mu
        self.logvar = logvar

    def rsample(self, sample_shape: torch.Size | tuple = (), generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma eps, (*sample_shape, B, D): ``sample_shape`` a tuple of sizes, checked (and its draws
        bounded by ``values.MAX_BYTES``) before anything is allocated."""
        sample_shape = values.shape.check("DiagonalGaussian.rsample's sample_shape", sample_shape)
        generator = values.generator.or_none().check("DiagonalGaussian.rsample's generator", generator)
        values.fits_in_memory(f"DiagonalGaussian.rsample's sample_shape {sample_shape}", math.prod(sample_shape),
                              2 * self.mu.numel() * self.mu.element_size(),
                              f"draws of {tuple(self.mu.shape)} (noise and z each)")
        eps = torch.randn((*sample_shape, *self.mu.shape), generator=generator, device=self.mu.device,
                          dtype=self.mu.dtype)
        return reparameterize(self.mu, self.logvar, eps)

    def log_prob(self, value: Tensor) -> Tensor:
        """log q(value), summed over D: value (..., B, D), sample axes in front."""
        _floating("DiagonalGaussian.log_prob", "value", value)
        try:
            torch.broadcast_shapes(value.shape, self.mu.shape)
        except RuntimeError:
            raise ValueError(f"DiagonalGaussian.log_prob's value must have a shape that broadcasts with the "
                             f"distribution's {tuple(self.mu.shape)} (sample axes in front), got "
                             f"{tuple(value.shape)}") from None
        if value.device != self.mu.device:
            raise ValueError(f"DiagonalGaussian.log_prob's value must be on the distribution's device "
                             f"{self.mu.device}, got it on {value.device}")
        return _log_normal(value, self.mu, self.logvar)

    def kl_to_standard_normal(self) -> Tensor:
        """KL(q || N(0, I)) per example, (B,)."""
        return kl_standard_normal(self.mu, self.logvar)

    def kl_per_dimension(self) -> Tensor:
        """KL(q_d || N(0, 1)) for each latent dimension d, (B, D): the active-unit diagnostic."""
        return 0.5 * (self.mu.pow(2) + self.logvar.exp() - 1.0 - self.logvar)


@register_kl(DiagonalGaussian, DiagonalGaussian)
def _kl_diagonal_diagonal(q: DiagonalGaussian, p: DiagonalGaussian) -> Tensor:
    return kl_diagonal_gaussians(q.mu, q.logvar, p.mu, p.logvar)


def standard_normal(batch_shape: tuple[int, ...], dim: int, device=None, dtype=torch.float32) -> DiagonalGaussian:
    """The prior p(z) = N(0, I) with the given batch shape and D = ``dim``.  [slides, Eq. 5]"""
    batch_shape = values.shape.check("standard_normal's batch_shape", batch_shape)
    dim = values.units.check("standard_normal's dim (latent dimensions)", dim)
    dtype = values.floating_dtype.check("standard_normal's dtype", dtype)
    if device is not None:
        from vaecourse.runtime import default_device
        try:
            device = default_device(device)
        except ValueError as error:
            raise ValueError(f"standard_normal's device must be 'cpu', 'cuda', 'cuda:N', 'mps', 'auto' or a "
                             f"torch.device this machine has, got {values.shown(device)} ({error})") from None
    values.fits_in_memory(f"standard_normal's batch_shape {batch_shape} x dim {dim}", math.prod(batch_shape) * dim,
                          2 * torch.finfo(dtype).bits // 8, "values (mu and logvar, zeros)")
    zeros = torch.zeros((*batch_shape, dim), device=device, dtype=dtype)
    return DiagonalGaussian(zeros, zeros)


def precision_weighted_merge(mu_hat: Tensor, var_hat: Tensor, mu_p: Tensor, var_p: Tensor) -> tuple[Tensor, Tensor]:
    """Combine two Gaussian opinions about the same unit by adding precisions.  [sonderby2016, Eq. 23-24]

        sigma_q^2 = 1 / (sigma_hat^-2 + sigma_p^-2)
        mu_q      = (mu_hat sigma_hat^-2 + mu_p sigma_p^-2) / (sigma_hat^-2 + sigma_p^-2)

    ``(mu_hat, var_hat)`` is the bottom-up "approximate likelihood" from the data, ``(mu_p, var_p)`` the
    top-down prior; the result is the normalised product N(mu_hat, var_hat) * N(mu_p, var_p), each
    element-wise. The more certain source (smaller variance) pulls the mean towards itself, and the
    merged variance is smaller than either. Variances, not log-variances, go in and come out.
    """
    for name, t in (("mu_hat", mu_hat), ("var_hat", var_hat), ("mu_p", mu_p), ("var_p", var_p)):
        _floating("precision_weighted_merge", name, t)
    shapes = {tuple(t.shape) for t in (mu_hat, var_hat, mu_p, var_p)}
    if len(shapes) != 1:
        raise ValueError(f"precision_weighted_merge expects mu_hat, var_hat, mu_p and var_p of one shape, got "
                         f"{[tuple(t.shape) for t in (mu_hat, var_hat, mu_p, var_p)]}")
    tiny = torch.finfo(var_hat.dtype).tiny  # below it (subnormals, 1e-310 in float64) 1/var is inf and mu NaN
    if not bool(((var_hat >= tiny) & (var_p >= torch.finfo(var_p.dtype).tiny)).all()):  # (NaN fails)
        raise ValueError(f"precision_weighted_merge's var_hat and var_p must be variances > 0 (at least {tiny:.3g} in "
                         f"{var_hat.dtype}, where 1/var is finite), got a value below it or NaN")
    precision_hat, precision_p = 1.0 / var_hat, 1.0 / var_p  # (..., D)
    var = 1.0 / (precision_hat + precision_p)  # Eq. (23)
    mu = (mu_hat * precision_hat + mu_p * precision_p) * var  # Eq. (24)
    return mu, var


__all__ = [
    "DiagonalGaussian", "KL_ROUNDING", "MAX_KL", "check_kls", "kl_diagonal_gaussians", "precision_weighted_merge", "kl_divergence", "kl_standard_normal", "log_normal",
    "monte_carlo_kl", "reparameterize", "standard_normal",
]
