"""The diagonal Gaussian, reparameterisation and KLs against torch.distributions and known moments."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaecourse.distributions import (DiagonalGaussian, kl_diagonal_gaussians, kl_standard_normal, log_normal,
                                     monte_carlo_kl, reparameterize, standard_normal)

B, D = 4, 3


def _params(seed: int = 0, b: int = B, d: int = D, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(b, d, generator=g, dtype=dtype)
    logvar = torch.randn(b, d, generator=g, dtype=dtype)  # variances from ~e^-2 to ~e^2
    return mu, logvar


def _torch_normal(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


# reparameterisation ---------------------------------------------------------------------------------------------

def test_reparameterize_is_mu_plus_sigma_eps():
    mu, logvar = _params()
    eps = torch.randn(B, D, generator=torch.Generator().manual_seed(1), dtype=mu.dtype)
    z = reparameterize(mu, logvar, eps)
    torch.testing.assert_close(z, mu + torch.exp(logvar / 2) * eps, rtol=0, atol=1e-12)


def test_reparameterize_with_generator_draws_eps_from_it():
    mu, logvar = _params()
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(5))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5), dtype=mu.dtype)
    torch.testing.assert_close(z, mu + torch.exp(logvar / 2) * eps, rtol=0, atol=1e-12)
    assert z.dtype == mu.dtype and z.shape == (B, D)


def test_reparameterize_carries_gradients_to_mu_and_logvar():
    mu, logvar = _params()
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    eps = torch.randn(B, D, generator=torch.Generator().manual_seed(2), dtype=mu.dtype)
    reparameterize(mu, logvar, eps).sum().backward()
    # dz/dmu = 1, dz/dlogvar = 1/2 sigma eps
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(logvar.detach() / 2) * eps)


@pytest.mark.parametrize("draw", ["reparameterize", "rsample"])
def test_sample_moments_match_within_standard_errors(draw):
    mu = torch.tensor([[0.5, -2.0, 3.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]], dtype=torch.float64)
    n = 200_000
    g = torch.Generator().manual_seed(123)
    if draw == "reparameterize":
        z = reparameterize(mu.expand(n, D), logvar.expand(n, D), generator=g)  # (n, D)
    else:
        z = DiagonalGaussian(mu, logvar).rsample((n,), generator=g)[:, 0]  # (n, 1, D) -> (n, D)
    var = logvar.exp()[0]
    se_mean = (var / n).sqrt()  # standard error of the sample mean
    se_var = var * math.sqrt(2.0 / (n - 1))  # standard error of the sample variance (Gaussian)
    assert ((z.mean(0) - mu[0]).abs() < 5 * se_mean).all(), (z.mean(0), mu[0])
    assert ((z.var(0) - var).abs() < 5 * se_var).all(), (z.var(0), var)


# KL divergences -----------------------------------------------------------------------------------------------

def test_kl_standard_normal_matches_torch():
    mu, logvar = _params()
    expected = kl_divergence(_torch_normal(mu, logvar), _torch_normal(torch.zeros_like(mu), torch.zeros_like(mu)))
    got = kl_standard_normal(mu, logvar)
    assert got.shape == (B,)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_kl_diagonal_gaussians_matches_torch():
    mu_q, logvar_q = _params(0)
    mu_p, logvar_p = _params(1)
    expected = kl_divergence(_torch_normal(mu_q, logvar_q), _torch_normal(mu_p, logvar_p))
    got = kl_diagonal_gaussians(mu_q, logvar_q, mu_p, logvar_p)
    assert got.shape == (B,)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_kl_diagonal_reduces_to_kl_standard_normal_for_a_standard_normal_p():
    mu, logvar = _params(3)
    zeros = torch.zeros_like(mu)
    torch.testing.assert_close(kl_diagonal_gaussians(mu, logvar, zeros, zeros), kl_standard_normal(mu, logvar))


def test_kl_is_nonnegative_and_zero_only_when_q_equals_p():
    for seed in range(20):
        mu_q, logvar_q = _params(2 * seed, b=16)
        mu_p, logvar_p = _params(2 * seed + 1, b=16)
        assert (kl_diagonal_gaussians(mu_q, logvar_q, mu_p, logvar_p) > 0).all()
        assert (kl_standard_normal(mu_q, logvar_q) > 0).all()
        torch.testing.assert_close(kl_diagonal_gaussians(mu_q, logvar_q, mu_q, logvar_q),
                                   torch.zeros(16, dtype=torch.float64), rtol=0, atol=1e-12)
    zeros = torch.zeros(2, D)
    assert (kl_standard_normal(zeros, zeros) == 0).all()
    # a change in one coordinate only (mean, then variance) already makes it positive
    assert kl_standard_normal(torch.tensor([[1e-3, 0.0]]), torch.zeros(1, 2)).item() > 0
    assert kl_standard_normal(torch.zeros(1, 2), torch.tensor([[0.0, 1e-2]])).item() > 0


def test_monte_carlo_kl_converges_to_closed_form():
    mu, logvar = _params(7)
    s = 20_000
    samples = monte_carlo_kl(mu, logvar, s, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (s, B)
    estimate = samples.mean(0)
    se = samples.std(0) / math.sqrt(s)
    closed = kl_standard_normal(mu, logvar)
    assert ((estimate - closed).abs() < 4 * se).all(), (estimate, closed, se)
    # and the estimate is not trivially exact: the per-sample values really vary
    assert (samples.std(0) > 0.1).all()


def test_log_normal_matches_torch_normal():
    mu, logvar = _params(4)
    z = torch.randn(B, D, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    expected = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(log_normal(z, mu, logvar), expected)
    # defaults: the standard normal, with a float mu/logvar broadcast
    torch.testing.assert_close(log_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    torch.testing.assert_close(log_normal(z, 1.5, math.log(2.0)),
                               Normal(1.5, math.sqrt(2.0)).log_prob(z).sum(-1))


# the DiagonalGaussian distribution ------------------------------------------------------------------------------

def test_diagonal_gaussian_agrees_with_torch_independent_normal():
    mu, logvar = _params(5)
    q = DiagonalGaussian(mu, logvar)
    ref = _torch_normal(mu, logvar)
    assert q.batch_shape == (B,) and q.event_shape == (D,)
    z = torch.randn(2, B, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(q.log_prob(z), ref.log_prob(z))
    assert q.log_prob(z).shape == (2, B)
    torch.testing.assert_close(q.mean, mu)
    torch.testing.assert_close(q.variance, logvar.exp())
    torch.testing.assert_close(q.stddev, torch.exp(0.5 * logvar))
    torch.testing.assert_close(q.entropy(), ref.entropy())
    torch.testing.assert_close(q.kl_to_standard_normal(), kl_standard_normal(mu, logvar))
    torch.testing.assert_close(q.kl_per_dimension().sum(-1), q.kl_to_standard_normal())
    assert q.kl_per_dimension().shape == (B, D)


def test_kl_divergence_between_diagonal_gaussians_dispatches_to_closed_form():
    q = DiagonalGaussian(*_params(0))
    p = DiagonalGaussian(*_params(1))
    torch.testing.assert_close(kl_divergence(q, p), kl_divergence(_torch_normal(q.mu, q.logvar),
                                                                   _torch_normal(p.mu, p.logvar)))
    prior = standard_normal((B,), D, dtype=torch.float64)
    assert prior.batch_shape == (B,) and prior.event_shape == (D,)
    torch.testing.assert_close(kl_divergence(q, prior), q.kl_to_standard_normal())


def test_diagonal_gaussian_rsample_shape_and_gradients():
    mu, logvar = _params(6)
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    q = DiagonalGaussian(mu, logvar)
    z = q.rsample((5,), generator=torch.Generator().manual_seed(0))
    assert z.shape == (5, B, D)
    z.sum().backward()
    assert mu.grad is not None and torch.all(mu.grad == 5)
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0
    # the same generator seed gives the same sample
    again = DiagonalGaussian(mu.detach(), logvar.detach()).rsample((5,), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.detach(), again)


def test_mismatched_mu_and_logvar_shapes_raise_value_error():
    with pytest.raises(ValueError, match=r"mu, logvar as tensors of one shape, got mu \(4, 3\), logvar \(4, 2\)"):
        DiagonalGaussian(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least one dimension"):
        DiagonalGaussian(torch.tensor(0.0), torch.tensor(0.0))
