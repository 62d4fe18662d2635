"""Observation models p(x|z) against torch's Bernoulli/Normal and binary cross-entropy."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal

from vaecourse.likelihoods import LIKELIHOODS, LikelihoodHead, bernoulli, bernoulli_log_prob, gaussian

SHAPE = (5, 1, 6, 7)  # (B, C, H, W)


def _logits(seed=0, scale=3.0):
    return scale * torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _binary(seed=1):
    return (torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) > 0.5).double()


def test_bernoulli_log_prob_is_minus_summed_binary_cross_entropy():
    logits = _logits()
    for x in (_binary(), torch.rand(SHAPE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)):
        expected = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        got = bernoulli_log_prob(logits, x)
        assert got.shape == (SHAPE[0],)
        torch.testing.assert_close(got, expected)
        # the summed form equals the 'sum' reduction over the whole batch
        torch.testing.assert_close(got.sum(), -F.binary_cross_entropy_with_logits(logits, x, reduction="sum"))


def test_bernoulli_log_prob_matches_torch_bernoulli_for_binary_images():
    logits, x = _logits(), _binary()
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_prob(logits, x), expected)
    # the head gives the same number, per example
    torch.testing.assert_close(bernoulli(logits).log_prob(x), expected)


def test_bernoulli_log_prob_is_finite_and_exact_for_extreme_logits():
    for dtype in (torch.float32, torch.float64):
        logits = torch.tensor([[100.0, -100.0, 100.0, -100.0]], dtype=dtype)
        x = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=dtype)
        got = bernoulli_log_prob(logits, x)
        assert torch.isfinite(got).all()
        # right with certainty: log 1 = 0 (up to e^-100); wrong: log sigmoid(-100) = -100 (up to e^-100)
        torch.testing.assert_close(got, torch.tensor([-200.0], dtype=dtype))
        head = bernoulli(logits.view(1, 1, 1, 4)).log_prob(x.view(1, 1, 1, 4))
        torch.testing.assert_close(head, got)


def test_bernoulli_sums_over_every_pixel_dimension():
    logits, x = _logits(), _binary()
    per_pixel = x * logits - F.softplus(logits)  # (B, C, H, W)
    torch.testing.assert_close(bernoulli_log_prob(logits, x), per_pixel.sum(dim=(1, 2, 3)))
    p = bernoulli(logits)
    assert p.batch_shape == (SHAPE[0],) and p.event_shape == SHAPE[1:]
    torch.testing.assert_close(p.mean, torch.sigmoid(logits))
    # changing one pixel of example 2 changes only example 2's log-probability
    x2 = x.clone()
    x2[2, 0, 3, 4] = 1 - x2[2, 0, 3, 4]
    diff = bernoulli_log_prob(logits, x2) - bernoulli_log_prob(logits, x)
    assert (diff[[0, 1, 3, 4]] == 0).all() and diff[2].abs() > 0


@pytest.mark.parametrize("logvar", [0.0, math.log(0.1), "per-pixel"])
def test_gaussian_head_matches_summed_torch_normal(logvar):
    mean = _logits(3, scale=1.0)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    if logvar == "per-pixel":
        logvar = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    scale = torch.exp(0.5 * torch.as_tensor(logvar, dtype=torch.float64))
    expected = Normal(mean, scale).log_prob(x).flatten(1).sum(1)
    p = gaussian(mean, logvar)
    assert p.batch_shape == (SHAPE[0],) and p.event_shape == SHAPE[1:]
    torch.testing.assert_close(p.log_prob(x), expected)
    torch.testing.assert_close(p.mean, mean)


def test_likelihood_head_wraps_decoder_outputs():
    params = _logits(6).float()
    x = _binary(7).float()
    head = LikelihoodHead("bernoulli")
    assert list(head.parameters()) == []
    torch.testing.assert_close(head(params).log_prob(x), bernoulli_log_prob(params, x))
    torch.testing.assert_close(head.mean(params), torch.sigmoid(params))

    head = LikelihoodHead("gaussian")
    (logvar,) = list(head.parameters())  # a learned scalar log-variance, starting at log 0.1
    assert logvar.shape == () and logvar.item() == pytest.approx(math.log(0.1))
    expected = Normal(params, math.sqrt(0.1)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(head(params).log_prob(x), expected)
    torch.testing.assert_close(head.mean(params), params)
    head(params).log_prob(x).sum().backward()
    assert logvar.grad is not None and logvar.grad != 0


def test_unknown_likelihood_raises_value_error_naming_the_choices():
    assert set(LIKELIHOODS) == {"bernoulli", "gaussian"}
    with pytest.raises(ValueError, match=r"unknown likelihood 'poisson': expected one of \('bernoulli', 'gaussian'\)"):
        LikelihoodHead("poisson")
