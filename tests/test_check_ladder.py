"""Chapter 4 exercise checks: references pass, stubs say "not done yet", each typical mistake gets its own message."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaecourse.distributions import precision_weighted_merge
from vaecourse.metrics.units import unit_activity
from vaecourse.objectives import kl_weight, log_mean_exp

from checking import assert_caught, assert_precise, class_cases, verdict  # noqa: E402  (tests/checking.py)


REFERENCES = {
    "precision_weighted_merge": precision_weighted_merge,
    "warmup_weight": kl_weight,
    "unit_activity": unit_activity,
    "log_mean_exp": log_mean_exp,
}
EXERCISES = {"precision_weighted_merge": "4.1", "warmup_weight": "4.2", "unit_activity": "4.3", "log_mean_exp": "4.4"}




@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name, capsys):
    ok, out = verdict(name, REFERENCES[name], capsys)
    assert ok is True and out.startswith("✅"), out


def test_alternative_correct_forms_pass(capsys):
    def merge_via_logs(mu_hat, var_hat, mu_p, var_p):
        var = torch.exp(-torch.logaddexp(-var_hat.log(), -var_p.log()))
        return var * (mu_hat / var_hat + mu_p / var_p), var

    def lme_by_hand(a, dim):
        m = a.max(dim, keepdim=True).values
        return (m + (a - m).exp().mean(dim, keepdim=True).log()).squeeze(dim)

    for name, fn in [("precision_weighted_merge", merge_via_logs), ("log_mean_exp", lme_by_hand),
                     ("unit_activity", lambda m: m.var(0, unbiased=False)),
                     ("warmup_weight", lambda e, n: 1.0 if n == 0 else min(1.0, e / n))]:
        ok, out = verdict(name, fn, capsys)
        assert ok, out


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_not_done_yet(name, capsys):
    exercise = EXERCISES[name]

    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise}: do the thing")

    ok, out = verdict(name, stub, capsys)
    assert ok is False and out.startswith(f"Exercise {exercise} is not done yet: do the thing"), out


def test_other_errors_are_reported_not_raised(capsys):
    def broken(mu_hat, var_hat, mu_p, var_p):
        return mu_hat @ var_hat  # wrong shapes for matmul

    ok, out = verdict("precision_weighted_merge", broken, capsys)
    assert ok is False and "raised RuntimeError" in out and "Hint" in out


MISTAKES = [
    ("precision_weighted_merge", lambda mh, vh, mp, vp: ((mh + mp) / 2, 1 / (1 / vh + 1 / vp)), "equal weights"),
    ("precision_weighted_merge", lambda mh, vh, mp, vp: ((mh * vh + mp * vp) / (vh + vp), 1 / (1 / vh + 1 / vp)),
     "weighted each mean by its variance"),
    ("precision_weighted_merge", lambda mh, vh, mp, vp: ((mh / vh + mp / vp), 1 / (1 / vh + 1 / vp)),
     "divided by the total precision"),
    ("precision_weighted_merge", lambda mh, vh, mp, vp: ((mh / vh + mp / vp) / (1 / vh + 1 / vp), vh + vp),
     "you added the variances"),
    ("precision_weighted_merge", lambda mh, vh, mp, vp: ((mh / vh + mp / vp) / (1 / vh + 1 / vp), 1 / vh + 1 / vp),
     "you returned the precision"),
    ("precision_weighted_merge", lambda mh, vh, mp, vp: (mh / vh + mp / vp) / (1 / vh + 1 / vp), "return two tensors"),
    ("warmup_weight", lambda e, n: e / n if n else 1.0, "keeps growing"),
    ("warmup_weight", lambda e, n: max(0.0, 1 - e / n) if n else 1.0, "falls from 1 to 0"),
    ("warmup_weight", lambda e, n: float(e >= n), "jumps from 0 to 1"),
    ("warmup_weight", lambda e, n: min(1.0, e / n), "divides by zero"),
    ("warmup_weight", lambda e, n: torch.tensor([1.0, 2.0]), "one number"),
    ("unit_activity", lambda m: m.var(1), "across units (dim 1)"),
    ("unit_activity", lambda m: m.std(0), "standard deviation"),
    ("unit_activity", lambda m: m.mean(0), "mean of each unit"),
    ("unit_activity", lambda m: m.pow(2).mean(0), "without subtracting the mean"),
    ("unit_activity", lambda m: m.var(), "single number"),
    ("log_mean_exp", lambda a, dim: torch.log(torch.exp(a).mean(dim)), "under- or overflows"),
    ("log_mean_exp", lambda a, dim: torch.logsumexp(a, dim), "log of the *sum*"),
    ("log_mean_exp", lambda a, dim: a.mean(dim), "mean of the log-weights"),
    ("log_mean_exp", lambda a, dim: a.max(dim).values, "only the maximum"),
    ("log_mean_exp", lambda a, dim: torch.logsumexp(a, dim) - math.log(a.shape[dim]) + 0.01, "off by 0.01"),
]


@pytest.mark.parametrize("name, fn, message", MISTAKES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(MISTAKES)])
def test_mistake_is_named(name, fn, message, capsys):
    ok, out = verdict(name, fn, capsys)
    assert ok is False and out.startswith("❌"), out
    assert message in out, out


# ---- issue 24: plausible wrong code of each class, each with its own message ------------------------------------
def _merge_no_grad(mh, vh, mp, vp):
    with torch.no_grad():
        return precision_weighted_merge(mh, vh, mp, vp)


def _merge_detached_mean(mh, vh, mp, vp):
    mu, var = precision_weighted_merge(mh, vh, mp, vp)
    return mu.detach(), var


def _merge_in_place(mh, vh, mp, vp):
    precision = vh.reciprocal_() + 1 / vp  # turns the caller's var_hat into a precision
    var = 1 / precision
    return (mh * vh + mp / vp) * var, var


def _lme_around(a, dim, centre):
    return (centre + (a - centre).exp().mean(dim, keepdim=True).log()).squeeze(dim)


def _lme_in_place(a, dim):
    m = a.max(dim, keepdim=True).values
    return (m + a.sub_(m).exp_().mean(dim, keepdim=True).log()).squeeze(dim)


def _lme_numpy(a, dim):
    x = a.numpy()
    m = x.max(dim, keepdims=True)
    return torch.from_numpy(np.log(np.mean(np.exp(x - m), dim)) + m.squeeze(dim))


def _centre_in_place(m):
    m -= m.mean(0)
    return m.pow(2).sum(0) / (m.shape[0] - 1)


CLASSES = {
    "gradients cut": [
        ("precision_weighted_merge", _merge_no_grad, "carries no gradient"),
        ("precision_weighted_merge", _merge_detached_mean, "no gradient reaches mu_hat"),
        ("log_mean_exp", lambda a, dim: log_mean_exp(a, dim).detach(), "carries no gradient"),
        ("log_mean_exp", _lme_numpy, ".numpy() on a tensor that needs a gradient"),
    ],
    "right only for the tested shape": [
        ("precision_weighted_merge", lambda mh, vh, mp, vp: tuple(t.reshape(4, 3) for t in precision_weighted_merge(
            mh, vh, mp, vp)), "right for B=4, D=3 but not for"),
        ("unit_activity", lambda m: m[:60].var(0), "the first 60 examples only"),
        ("log_mean_exp", lambda a, dim: torch.logsumexp(a, dim) - math.log(50), "right for S=50, B=4 but not for"),
    ],
    "numerically fragile": [
        ("log_mean_exp", lambda a, dim: _lme_around(a, dim, a.mean(dim, keepdim=True)), "you subtracted the MEAN"),
        ("log_mean_exp", lambda a, dim: a.exp().mean(dim).log(), "exp() under- or overflows"),
    ],
    "semantics missed": [
        ("warmup_weight", lambda e, n: min(1.0, e / max(n, 1)), "dividing by max(n_t, 1)"),
        ("warmup_weight", lambda e, n: min(1.0, e / (n + 1e-8)), "dividing by max(n_t, 1)"),
        ("unit_activity", lambda m: (m - m.median(0).values).pow(2).mean(0), "you centred on the median"),
        ("precision_weighted_merge", lambda mh, vh, mp, vp: precision_weighted_merge(mh, vh, mp, vp)[::-1],
         "mean and variance are swapped"),
    ],
    "inputs mutated": [
        ("precision_weighted_merge", _merge_in_place, "changed its input var_hat in place"),
        ("unit_activity", _centre_in_place, "changed its input means in place"),
        ("log_mean_exp", _lme_in_place, "changed its input a in place"),
    ],
}


@pytest.mark.parametrize("kind, name, fn, message", **class_cases(CLASSES))
def test_each_class_of_wrong_code_is_caught_and_named(kind, name, fn, message, capsys):
    assert_caught(name, fn, message, capsys)


def test_a_detached_maximum_is_still_right(capsys):
    """The usual trick, m.detach(), leaves the gradient of log-mean-exp unchanged: it passes."""
    ok, out = verdict("log_mean_exp", lambda a, dim: _lme_around(a, dim, a.max(dim, keepdim=True).values.detach()),
                      capsys)
    assert ok, out


@pytest.mark.parametrize("name, fn", [
    ("precision_weighted_merge", lambda *args: tuple(t + 2e-5 for t in precision_weighted_merge(*args))),
    ("unit_activity", lambda m: m.var(0) + 2e-5),
    ("log_mean_exp", lambda a, dim: log_mean_exp(a, dim) + 1e-4),  # 2e-7 is float32's rounding there
])
def test_differences_are_printed_at_a_precision_that_shows_them(name, fn, capsys):
    assert_precise(name, fn, capsys)
