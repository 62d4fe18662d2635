"""The ELBO terms and the importance-weighted bound against identities and a closed-form log p(x).

The strongest check is a linear-Gaussian model, p(z) = N(0, I), p(x|z) = N(x; z, I), so that
p(x) = N(x; 0, 2I) and the exact posterior is N(x/2, I/2): with q equal to that posterior every
importance weight p(x, z)/q(z|x) equals p(x), so L_k = log p(x) for every k, and with any other
Gaussian q the ELBO has a closed form too.
"""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaecourse.distributions import DiagonalGaussian, kl_standard_normal, reparameterize
from vaecourse.likelihoods import bernoulli, bernoulli_log_prob
from vaecourse.models import VAE, VAEOutput
from vaecourse.objectives import Terms, elbo, elbo_terms, importance_weighted_bound, log_mean_exp

D = 3


class LinearGaussian(nn.Module):
    """q(z|x) = N(a x, e^logvar I), p(z) = N(0, I), p(x|z) = N(x; z, I); x and z are both (B, D)."""

    def __init__(self, a: float = 0.5, logvar: float = math.log(0.5)):
        super().__init__()
        self.a, self.q_logvar = a, logvar

    def encode(self, x):
        return DiagonalGaussian(self.a * x, torch.full_like(x, self.q_logvar))

    def decode(self, z):
        return Independent(Normal(z, torch.ones_like(z)), 1)

    def forward(self, x, generator=None):
        q = self.encode(x)
        z = reparameterize(q.mu, q.logvar, generator=generator)
        return VAEOutput(q_z=q, z=z, p_x=self.decode(z))


def log_px_linear(x):
    """log N(x; 0, 2I), summed over D (written out: float64 throughout)."""
    return (-0.5 * math.log(2 * math.pi * 2.0) - x ** 2 / 4.0).sum(-1)


def elbo_linear(model, x):
    """Closed-form ELBO of LinearGaussian: E_q log N(x; z, I) - KL(q || N(0, I))."""
    m, s2 = model.a * x, math.exp(model.q_logvar)
    expected_log_lik = (-0.5 * math.log(2 * math.pi) - 0.5 * ((x - m) ** 2 + s2)).sum(-1)
    return expected_log_lik - kl_standard_normal(m, torch.full_like(x, model.q_logvar))


def _x(b=4, seed=0):
    return 1.5 * torch.randn(b, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _repeat_bound(model, x, k, r, seed, **kw):
    """L_k for r independent repetitions of each example: (r, B)."""
    xr = x.repeat(r, *([1] * (x.dim() - 1)))
    return importance_weighted_bound(model, xr, k, generator=torch.Generator().manual_seed(seed), **kw).view(r, -1)


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, encoder="mlp28", image_shape=(1, 8, 8)).double()
    with torch.no_grad():  # make p(x|z) depend on z and q(z|x) miss the posterior, so that L_k visibly moves with k
        model.decoder.body[0].weight.mul_(5.0)
        model.encoder[1][-1].bias.copy_(torch.tensor([1.0, 1.0, -1.5, -1.5]))
    x = (torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    return model, x


# the ELBO terms ---------------------------------------------------------------------------------------------------

def test_elbo_terms_are_log_likelihood_minus_kl_and_the_loss_is_minus_their_mean(tiny_vae):
    model, x = tiny_vae
    out = model(x, generator=torch.Generator().manual_seed(2))
    terms = elbo(out, x)
    assert isinstance(terms, Terms)
    for t in (terms.log_px_z, terms.kl, terms.elbo):
        assert t.shape == (x.shape[0],)
    torch.testing.assert_close(terms.log_px_z, bernoulli_log_prob(model.decoder(out.z), x))
    torch.testing.assert_close(terms.kl, kl_standard_normal(out.q_z.mu, out.q_z.logvar))
    torch.testing.assert_close(terms.elbo, terms.log_px_z - terms.kl)
    assert terms.loss.shape == ()
    torch.testing.assert_close(terms.loss, -terms.elbo.mean())
    assert (terms.kl >= 0).all() and (terms.elbo < terms.log_px_z).all()
    assert torch.equal(torch.stack(elbo_terms(out, x)), torch.stack([terms.log_px_z, terms.kl]))
    scalars = terms.scalars()
    assert set(scalars) == {"loss", "elbo", "log_px_z", "kl"}
    torch.testing.assert_close(scalars["elbo"], terms.elbo.mean().detach())
    assert not any(v.requires_grad for v in scalars.values())
    # the loss is differentiable all the way into the encoder
    terms.loss.backward()
    assert next(model.encoder.parameters()).grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_elbo_expectation_matches_closed_form_in_the_linear_gaussian_model():
    model, x = LinearGaussian(a=0.0, logvar=1.0), _x()
    r = 20_000
    xr = x.repeat(r, 1)
    terms = elbo(model(xr, generator=torch.Generator().manual_seed(0)), xr)
    samples = terms.elbo.view(r, -1)  # (r, B)
    # the KL is closed form: the same in every repetition, and equal to KL(N(a x, e^logvar) || N(0, I))
    torch.testing.assert_close(terms.kl.view(r, -1), kl_standard_normal(model.a * x, torch.full_like(x, 1.0))
                               .expand(r, -1))
    se = samples.std(0) / math.sqrt(r)
    assert ((samples.mean(0) - elbo_linear(model, x)).abs() < 4 * se).all()


class ConstantDecoder(nn.Module):
    """q(z|x) = p(z) = N(0, I) and p(x|z) independent of z: KL = 0 and log p(x) = log p(x|z) exactly."""

    def __init__(self, shape=(1, 4, 4)):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(3)))

    def encode(self, x):
        zeros = torch.zeros(x.shape[0], 2, dtype=x.dtype)
        return DiagonalGaussian(zeros, zeros)

    def decode(self, z):
        return bernoulli(self.logits.to(z.dtype).expand(z.shape[0], *self.logits.shape))

    def forward(self, x, generator=None):
        q = self.encode(x)
        z = q.rsample(generator=generator)
        return VAEOutput(q_z=q, z=z, p_x=self.decode(z))


def test_prior_posterior_and_z_free_decoder_give_zero_kl_and_exact_bounds():
    model = ConstantDecoder()
    x = (torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    exact = bernoulli_log_prob(model.logits.detach().expand_as(x), x)  # log p(x), (B,)
    terms = elbo(model(x), x)
    assert torch.all(terms.kl == 0)
    torch.testing.assert_close(terms.elbo, exact)
    for k in (1, 13):
        torch.testing.assert_close(importance_weighted_bound(model, x, k, chunk_size=5), exact)


# the importance-weighted bound: exact cases --------------------------------------------------------------------

@pytest.mark.parametrize("k,chunk_size", [(1, 250), (7, 3), (100, 7), (100, 1000), (64, 64)])
def test_exact_posterior_makes_the_bound_equal_log_px_for_every_k(k, chunk_size):
    model, x = LinearGaussian(a=0.5, logvar=math.log(0.5)), _x()
    bound = importance_weighted_bound(model, x, k, chunk_size=chunk_size,
                                      generator=torch.Generator().manual_seed(k))
    assert bound.shape == (x.shape[0],)
    torch.testing.assert_close(bound, log_px_linear(x), rtol=0, atol=1e-10)


# the importance-weighted bound: expectations ------------------------------------------------------------------

def test_one_sample_bound_is_the_elbo_in_expectation_linear_gaussian():
    model, x = LinearGaussian(a=0.0, logvar=1.0), _x()
    samples = _repeat_bound(model, x, 1, 20_000, seed=1)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    assert ((samples.mean(0) - elbo_linear(model, x)).abs() < 4 * se).all()


def test_bound_tightens_with_k_towards_log_px_linear_gaussian():
    model, x = LinearGaussian(a=0.0, logvar=1.0), _x()
    means, ses = [], []
    for k in (1, 10, 100):
        samples = _repeat_bound(model, x, k, 2_000, seed=k)
        means.append(samples.mean(0))
        ses.append(samples.std(0) / math.sqrt(samples.shape[0]))
    log_px = log_px_linear(x)
    for (lo, se_lo), (hi, se_hi) in zip(zip(means, ses), zip(means[1:], ses[1:])):
        assert (hi - lo > 3 * torch.sqrt(se_lo ** 2 + se_hi ** 2)).all(), (lo, hi)
    assert (means[-1] <= log_px + 3 * ses[-1]).all()
    # the gap to log p(x) shrinks: L_100 is much closer than L_1 = ELBO
    assert ((log_px - means[-1]).abs() < 0.25 * (log_px - means[0])).all()


def test_one_sample_bound_is_the_elbo_in_expectation_vae(tiny_vae):
    model, x = tiny_vae
    r = 4_000
    iw = _repeat_bound(model, x, 1, r, seed=5)  # (r, B)
    xr = x.repeat(r, 1, 1, 1)
    with torch.no_grad():
        el = elbo(model(xr, generator=torch.Generator().manual_seed(6)), xr).elbo.view(r, -1)
    se = torch.sqrt(iw.var(0) / r + el.var(0) / r)
    assert ((iw.mean(0) - el.mean(0)).abs() < 4 * se).all(), (iw.mean(0), el.mean(0), se)


def test_bound_is_non_decreasing_in_k_on_average_vae(tiny_vae):
    model, x = tiny_vae
    r = 200
    samples = {k: _repeat_bound(model, x, k, r, seed=10 + k, chunk_size=100) for k in (1, 10, 100)}
    means = {k: v.mean(0) for k, v in samples.items()}
    ses = {k: v.std(0) / math.sqrt(r) for k, v in samples.items()}
    for lo, hi in ((1, 10), (10, 100)):
        assert (means[hi] - means[lo] > 3 * torch.sqrt(ses[lo] ** 2 + ses[hi] ** 2)).all(), (lo, hi, means, ses)


def test_same_generator_seed_gives_the_same_bound(tiny_vae):
    model, x = tiny_vae
    a = importance_weighted_bound(model, x, 50, chunk_size=7, generator=torch.Generator().manual_seed(0))
    b = importance_weighted_bound(model, x, 50, chunk_size=7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_chunk_size_does_not_change_the_bound_for_a_fixed_generator(tiny_vae):
    model, x = tiny_vae
    a = importance_weighted_bound(model, x, 100, chunk_size=7, generator=torch.Generator().manual_seed(0))
    b = importance_weighted_bound(model, x, 100, chunk_size=1000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kw,message", [
    ({"k": 0}, r"k \(the number of importance samples\) must be a number of samples between 1 and 100,000, got 0"),
    ({"k": -5}, r"got -5"),
    ({"k": 2.5}, r"between 1 and 100,000, got 2.5"),
    ({"k": True}, r"between 1 and 100,000, got True"),
    ({"k": 10, "chunk_size": 0}, r"chunk_size must be a number of samples between 1 and 100,000, got 0"),
    ({"k": 10, "chunk_size": 1.5}, r"chunk_size must be a number of samples between 1 and 100,000, got 1.5"),
])
def test_bad_k_or_chunk_size_raise_value_error(kw, message):
    with pytest.raises(ValueError, match=message):
        importance_weighted_bound(LinearGaussian(), _x(), **kw)


# log_mean_exp ------------------------------------------------------------------------------------------------------

def test_log_mean_exp_matches_naive_on_small_values():
    a = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(a), torch.log(torch.exp(a).mean(0)))
    torch.testing.assert_close(log_mean_exp(a, dim=1), torch.log(torch.exp(a).mean(1)))
    torch.testing.assert_close(log_mean_exp(a, dim=-1), torch.log(torch.exp(a).mean(-1)))


def test_log_mean_exp_is_finite_and_exact_for_huge_values():
    a = torch.tensor([[1000.0, -1000.0, 1000.0], [1000.0, -1000.0, -1000.0]])  # exp overflows/underflows
    got = log_mean_exp(a, dim=0)
    torch.testing.assert_close(got, torch.tensor([1000.0, -1000.0, 1000.0 - math.log(2.0)]))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(log_mean_exp(torch.full((5,), -1000.0)), torch.tensor(-1000.0))
    torch.testing.assert_close(log_mean_exp(a, dim=1), torch.tensor([1000.0 + math.log(2 / 3), 1000.0 - math.log(3)]))
