"""HSIC (objectives.independence): known answers, an independent reference formula, symmetry, bad input."""

import math

import numpy as np
import pytest
import torch

from vaecourse.objectives.independence import hsic, noise_dependence


def reference_hsic(x, y, s):
    """Gretton et al.'s biased estimator written as three sums (no centring matrix), in float64 numpy."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = len(x)
    K = np.exp(-(x[:, None] - x[None]) ** 2 / (2 * s * s))
    L = np.exp(-(y[:, None] - y[None]) ** 2 / (2 * s * s))
    value = (K * L).sum() / m ** 2 + K.sum() * L.sum() / m ** 4 - 2 * (K.sum(1) * L.sum(1)).sum() / m ** 3
    return value * m ** 2 / (m - 1) ** 2  # the library's 1 / (m - 1)^2 normalisation


def test_matches_the_three_sum_formula_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g, dtype=torch.float64)
    y = y + x ** 2
    for s in (0.3, 1.0, 2.5):
        assert hsic(x, y, s).item() == pytest.approx(reference_hsic(x, y, s), rel=1e-10)
        assert hsic(x, y, s).item() == pytest.approx(hsic(y, x, s).item(), rel=1e-12)


def test_independent_near_zero_dependent_large_and_not_just_correlation():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(400, generator=g) * 2 - 1
    independent = hsic(x, torch.rand(400, generator=g) * 2 - 1).item()
    parabola = hsic(x, x ** 2).item()  # uncorrelated with x, yet a function of it
    assert abs(torch.corrcoef(torch.stack([x, x ** 2]))[0, 1].item()) < 0.2
    assert independent < 2e-3 and parabola > 10 * independent
    assert hsic(x, x).item() > parabola  # a one-to-one function: the most dependent
    assert hsic(x, torch.full_like(x, 3.0)).item() == pytest.approx(0.0, abs=1e-7)  # a constant
    # a residual far smaller than the bandwidth costs almost nothing, however it depends on x
    assert hsic(x, 1e-3 * x.sin()).item() < 1e-6 < hsic(x, x.sin()).item()


def test_noise_dependence_sums_the_pairs():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(200, generator=g), torch.randn(200, generator=g)
    r = torch.stack([a, b, a + b], 1)
    expected = hsic(a, b) + hsic(a, a + b) + hsic(b, a + b)
    assert noise_dependence(r).item() == pytest.approx(expected.item(), rel=1e-6)
    assert noise_dependence(torch.stack([a, b], 1)).item() < noise_dependence(r).item()


def test_gradient_flows_and_bad_input_is_refused():
    x = torch.linspace(-1, 1, 30, requires_grad=True)
    hsic(x, x.detach() ** 2).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same length"):
        hsic(torch.zeros(5), torch.zeros(4))
    with pytest.raises(ValueError, match="same length >= 2"):
        hsic(torch.zeros(1), torch.zeros(1))
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="bandwidth"):
            hsic(torch.zeros(5), torch.zeros(5), bad)
    with pytest.raises(ValueError, match=r"\(B, n\) with n >= 2"):
        noise_dependence(torch.zeros(5, 1))
