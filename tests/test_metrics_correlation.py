"""Rank correlations between latents and factors, and the per-dimension KL: against scipy and known answers."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from vaecourse.data import DSprites
from vaecourse.distributions import kl_standard_normal
from vaecourse.metrics import (active_latents, factor_latent_correlations, kl_per_dimension, model_kl_per_dimension,
                               spearman_matrix)
from vaecourse.models import VAE


def test_spearman_matrix_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 4))
    factors = np.stack([rng.integers(0, 6, 200), rng.integers(0, 32, 200), rng.normal(size=200)], axis=1)  # ties
    codes[:, 1] = factors[:, 0] ** 3 + 0.01 * rng.normal(size=200)  # monotone in factor 0
    rho = spearman_matrix(torch.tensor(codes), torch.tensor(factors))
    full = spearmanr(np.concatenate([codes, factors], axis=1)).statistic
    assert rho.shape == (4, 3)
    assert np.allclose(rho, full[:4, 4:], atol=1e-12)
    assert rho[1, 0] > 0.95  # monotone up to the noise that breaks the ties


def test_constant_latent_has_zero_correlation():
    factors = torch.arange(10.0).unsqueeze(1)
    rho = spearman_matrix(torch.ones(10, 2), factors)
    assert np.array_equal(rho, np.zeros((2, 1)))


@pytest.mark.parametrize("codes, factors, message", [
    (torch.zeros(5, 2), torch.zeros(4, 1), "same N"),
    (torch.zeros(2, 2), torch.zeros(2, 1), "at least 3 examples"),
    (torch.full((5, 2), float("nan")), torch.zeros(5, 1), "codes must be finite real numbers, got NaN or inf"),
])
def test_spearman_matrix_refuses_bad_input(codes, factors, message):
    with pytest.raises(ValueError, match=message):
        spearman_matrix(codes, factors)



def test_identity_representation_is_separate_and_constant_is_not():
    data = DSprites()
    cache = {}

    def oracle(x):  # the factors of the images just rendered, shuffled into latent columns 3, 0, 5 (+ noise dims)
        f = cache["factors"][:x.shape[0]].float()
        cache["factors"] = cache["factors"][x.shape[0]:]
        codes = torch.randn(x.shape[0], 6, generator=torch.Generator().manual_seed(x.shape[0]))
        codes[:, 3], codes[:, 0], codes[:, 5] = f[:, 4], -f[:, 5], f[:, 2]  # posX, -posY, scale
        return codes

    sample = data.sample_factors

    def remembering(n, generator=None):
        out = sample(n, generator)
        cache["factors"] = out
        return out

    data.sample_factors = remembering
    score = factor_latent_correlations(data, oracle, generator=torch.Generator().manual_seed(0), n=600, batch_size=128)
    assert score["latent"] == [3, 0, 5]
    assert score["abs_rho"] == pytest.approx([1.0, 1.0, 1.0])
    assert score["rho"][0, 1] == pytest.approx(-1.0)
    assert score["separate"] is True
    constant = factor_latent_correlations(data, lambda x: torch.zeros(x.shape[0], 4), n=100,
                                          generator=torch.Generator().manual_seed(0))
    assert constant["separate"] is False and max(constant["abs_rho"]) == 0.0


def test_one_latent_for_two_factors_is_not_separate():
    """A latent that follows posX + posY correlates ~0.7 with each; the distinct match cannot reuse it."""
    data = DSprites()
    cache = {}
    sample = data.sample_factors

    def remembering(n, generator=None):
        cache["f"] = sample(n, generator)
        return cache["f"]

    data.sample_factors = remembering
    score = factor_latent_correlations(
        data, lambda x: torch.stack([cache["f"][:, 4].float() + cache["f"][:, 5].float(), cache["f"][:, 2].float(),
                                     torch.zeros(x.shape[0])], dim=1),
        n=400, batch_size=400, generator=torch.Generator().manual_seed(1))
    assert score["best_latent"][:2] == [0, 0]
    assert score["separate"] is False


@pytest.mark.parametrize("kwargs, message", [
    ({"factors": ("colour",)}, "unknown factor names"),
    ({"n": 2}, r"n must be an int >= 3 \(examples\) and at most 1,000,000, got 2"),
    ({"n": True}, "got True"),
    ({"batch_size": 0}, "batch_size must be a batch size"),
    ({"threshold": float("nan")}, r"threshold must be a number in \[0, 1\]"),
    ({"threshold": 1.5}, "got 1.5"),
])
def test_factor_latent_correlations_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        factor_latent_correlations(DSprites(), lambda x: torch.zeros(x.shape[0], 3), **kwargs)


def test_too_few_latents_for_distinct_factors():
    with pytest.raises(ValueError, match="only 2 latents"):
        factor_latent_correlations(DSprites(), lambda x: torch.randn(x.shape[0], 2), n=50)


def test_kl_per_dimension_sums_to_the_kl():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    per = kl_per_dimension(mu, logvar)
    assert per.shape == (7, 5)
    assert torch.allclose(per.sum(-1), kl_standard_normal(mu, logvar))
    assert (per >= 0).all()
    with pytest.raises(ValueError, match="same shape"):
        kl_per_dimension(mu, logvar[:, :3])


def test_model_kl_per_dimension_is_the_batch_mean():
    torch.manual_seed(0)
    model = VAE(latent_dim=3, encoder="mlp28", image_shape=(1, 28, 28)).eval()
    x = (torch.rand(9, 1, 28, 28) > 0.5).float()
    q = model.encode(x)
    assert torch.allclose(model_kl_per_dimension(model, x), kl_per_dimension(q.mu, q.logvar).mean(0).detach())


def test_active_latents_sorted_by_batch_mean():
    kl = torch.tensor([[0.0, 2.0, 0.5, 0.05], [0.3, 4.0, 0.5, 0.05]])  # means 0.15, 3, 0.5, 0.05
    assert active_latents(kl, 0.1).tolist() == [1, 2, 0]
    assert active_latents(kl.mean(0), 1.0).tolist() == [1]
    assert active_latents(kl, 10.0).tolist() == []
    for bad in (-1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match=r"threshold \(nats\) must be a finite number >= 0"):
            active_latents(kl, bad)
    with pytest.raises(ValueError, match=r"\(B, D\) or \(D,\)"):
        active_latents(torch.zeros(2, 2, 2))
