"""Exercise checks of chapter 4 (the Ladder VAE): the precision-weighted merge, the warm-up schedule, the
active-unit statistic, and the stable log-mean-exp behind the importance-weighted log-likelihood."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from vaecourse.check.core import (F64, Problem, close, describe, expect, finite_rule, is_real_number, number_value,
                                  run_check, seeded, shape_of, tensor_rules, worst)


def precision_weighted_merge(fn: Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]) -> bool:
    """Exercise 4.1: ``fn(mu_hat, var_hat, mu_p, var_p)`` -> (mu_q, var_q) of Eq. (23)-(24)."""
    B, D = 4, 3
    g = seeded(41)
    mu_hat, mu_p = 2 * torch.randn(B, D, generator=g, dtype=F64), 2 * torch.randn(B, D, generator=g, dtype=F64)
    var_hat, var_p = 0.1 + 2 * torch.rand(B, D, generator=g, dtype=F64), 0.1 + 2 * torch.rand(B, D, generator=g, dtype=F64)
    prec = 1 / var_hat + 1 / var_p
    want_var = 1 / prec
    want_mu = (mu_hat / var_hat + mu_p / var_p) / prec
    formula = "var_q = 1 / (1/var_hat + 1/var_p), mu_q = (mu_hat/var_hat + mu_p/var_p) * var_q"

    def run(f: Callable) -> None:
        out = f(mu_hat.clone(), var_hat.clone(), mu_p.clone(), var_p.clone())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Problem(f"return two tensors, (mu_q, var_q); got {describe(out)}")
        mu, var = out
        expect(var, [
            *tensor_rules("var_q", (B, D), meaning="one variance per example and unit, like var_hat"),
            finite_rule("var_q", formula),
            (lambda o: close(o, prec), f"you returned the precision 1/var_hat + 1/var_p; the variance is its inverse: {formula}"),
            (lambda o: close(o, var_hat + var_p),
             "you added the variances; in a product of Gaussians the *precisions* (1/variance) add, so the merged "
             f"variance is smaller than both: {formula}"),
            (lambda o: close(o, (var_hat + var_p) / 2), f"you averaged the variances; {formula}"),
            (lambda o: close(o, 1 / (var_hat + var_p)), f"1/(var_hat + var_p) is not it: add the precisions, then invert: {formula}"),
            (lambda o: not close(o, want_var),
             lambda o: (lambda i, got, exp: f"var_q differs at var_hat={var_hat[i]:.3f}, var_p={var_p[i]:.3f}: you return "
                                            f"{got:.4f}, expected {exp:.4f}; {formula}")(*worst(o, want_var))),
        ])
        expect(mu, [
            *tensor_rules("mu_q", (B, D), meaning="one mean per example and unit, like mu_hat"),
            finite_rule("mu_q", formula),
            (lambda o: close(o, (mu_hat + mu_p) / 2),
             "you averaged the two means with equal weights; each should be weighted by its precision (1/variance), "
             f"so the more certain source counts more: {formula}"),
            (lambda o: close(o, (mu_hat * var_hat + mu_p * var_p) / (var_hat + var_p)),
             "you weighted each mean by its variance, which trusts the *less* certain source more; weight by the "
             f"precision 1/variance instead: {formula}"),
            (lambda o: close(o, mu_hat / var_hat + mu_p / var_p),
             f"the precision-weighted sum still has to be divided by the total precision (times var_q): {formula}"),
            (lambda o: not close(o, want_mu),
             lambda o: (lambda i, got, exp: f"mu_q differs at mu_hat={mu_hat[i]:.3f}, var_hat={var_hat[i]:.3f}, "
                                            f"mu_p={mu_p[i]:.3f}, var_p={var_p[i]:.3f}: you return {got:.4f}, expected "
                                            f"{exp:.4f}; {formula}")(*worst(o, want_mu))),
        ])

    return run_check("4.1", "precision-weighted merge", "return (mu_q, var_q) of Eq. (23)-(24)", fn, [run],
                     hint=formula)


def _warmup_reference(epoch: float, n_t: float) -> float:
    return 1.0 if n_t == 0 else min(1.0, epoch / n_t)


def warmup_weight(fn: Callable[[float, float], float]) -> bool:
    """Exercise 4.2: ``fn(epoch, n_t)`` -> the KL weight beta of Eq. (26): linear 0 -> 1 over n_t epochs, then 1."""
    cases = [(0, 200), (50, 200), (100, 200), (199, 200), (200, 200), (250, 200), (1000, 200), (2.5, 10), (3, 0)]
    rule = "beta = min(1, epoch / n_t), and beta = 1 from the start when n_t = 0"

    def run(f: Callable) -> None:
        got = {}
        for epoch, n_t in cases:
            if n_t == 0:
                try:
                    value = f(epoch, n_t)
                except ZeroDivisionError:
                    raise Problem(f"with n_t = 0 (no warm-up) your function divides by zero; then there is no warm-up "
                                  f"and beta = 1 from the start: {rule}") from None
            else:
                value = f(epoch, n_t)
            if not is_real_number(value):
                raise Problem(f"return one number (a float), got {describe(value)}")
            got[(epoch, n_t)] = number_value(value)
        if math.isclose(got[(0, 200)], 1.0) and math.isclose(got[(200, 200)], 0.0):
            raise Problem(f"your weight falls from 1 to 0; warm-up starts from 0 (a plain auto-encoder) and rises to 1: {rule}")
        if got[(1000, 200)] > 1.0 + 1e-9:
            raise Problem(f"after the warm-up the weight keeps growing (epoch 1000 gives {got[(1000, 200)]:.3g}); "
                          f"cap it at 1, the true ELBO: {rule}")
        if math.isclose(got[(100, 200)], 0.0) and math.isclose(got[(200, 200)], 1.0):
            raise Problem(f"your weight jumps from 0 to 1 at epoch n_t; it should rise linearly (0.5 at epoch 100 of 200): {rule}")
        for (epoch, n_t), value in got.items():
            want = _warmup_reference(epoch, n_t)
            if not math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-12):
                raise Problem(f"at epoch {epoch} with n_t = {n_t} you return {value:.4g}, expected {want:.4g}: {rule}")

    return run_check("4.2", "warm-up schedule", "return the KL weight of Eq. (26)", fn, [run], hint=rule)


def unit_activity(fn: Callable[[Tensor], Tensor]) -> bool:
    """Exercise 4.3: ``fn(means)`` with means (N, D) -> A_u = Cov_x(E_q[u]) per unit, (D,)."""
    N, D = 60, 5
    g = seeded(43)
    means = torch.randn(N, D, generator=g, dtype=F64) * torch.tensor([2.0, 0.5, 0.1, 0.01, 0.0], dtype=F64) + 0.3
    unbiased, biased = means.var(0, unbiased=True), means.var(0, unbiased=False)
    formula = "A_u = variance over the N examples (dim 0) of each unit's posterior mean"

    def run(f: Callable) -> None:
        expect(f(means.clone()), [
            *tensor_rules("A", (D,), meaning="one number per unit", shape_rules=[
                (lambda o: shape_of(o) == (N,),
                 f"A has shape ({N},) = (N,): you took the variance across units (dim 1) for each example; the "
                 "statistic is per unit, over the examples: .var(dim=0)"),
                (lambda o: o.numel() == 1, "A is a single number: compute one variance per unit, .var(dim=0)"),
            ]),
            (lambda o: close(o, unbiased.sqrt()) or close(o, biased.sqrt()),
             "you returned the standard deviation; A_u is a (co)variance, the square of it (threshold 0.01 is on the variance)"),
            (lambda o: close(o, means.mean(0)), f"you returned the mean of each unit; the statistic is its variance: {formula}"),
            (lambda o: close(o, means.pow(2).mean(0)),
             f"you returned E[m^2] without subtracting the mean; Cov_x centres first: {formula}"),
            (lambda o: not (close(o, unbiased) or close(o, biased)),
             lambda o: (lambda i, got, exp: f"A differs for unit {i[0]}: you return {got:.4g}, expected {exp:.4g}; "
                                            f"{formula}")(*worst(o, unbiased))),
        ])

    return run_check("4.3", "active-unit statistic", "return the variance over examples of each unit's mean", fn,
                     [run], hint="means.var(dim=0): shape (N, D) -> (D,)")


def _lme(a: Tensor, dim: int) -> Tensor:
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def log_mean_exp(fn: Callable[[Tensor, int], Tensor]) -> bool:
    """Exercise 4.4: ``fn(a, dim)`` -> log (1/n) sum_i exp(a_i) along ``dim``, stable for any a."""
    S, B = 50, 4
    g = seeded(44)
    ordinary = torch.randn(S, B, generator=g, dtype=F64) * 3
    low = ordinary - 1000.0  # log-weights of real images: hundreds of nats below zero
    high = ordinary + 1000.0
    formula = "log_mean_exp(a) = m + log(mean(exp(a - m))) with m = max(a), or logsumexp(a) - log(n)"

    def trial(a: Tensor, dim: int, kind: str) -> Callable:
        want = _lme(a, dim)
        n = a.shape[dim]

        def run(f: Callable) -> None:
            rules = [*tensor_rules("the result", shape_of(want), meaning=f"a reduced along dim={dim}")]
            if kind != "ordinary":
                rules.append((lambda o: not torch.isfinite(o).all(),
                              f"for log-weights around {'-' if kind == 'low' else '+'}1000 your result is "
                              f"{'-inf' if kind == 'low' else 'inf'} or NaN: exp() under- or overflows. Subtract the "
                              f"maximum first: {formula}"))
            rules += [
                finite_rule("the result", formula),
                (lambda o: close(o, torch.logsumexp(a, dim)),
                 f"this is logsumexp, a log of the *sum*; divide by n inside the log, i.e. subtract log(n) = {math.log(n):.3f}"),
                (lambda o: close(o, a.mean(dim)),
                 "you returned the mean of the log-weights (the ELBO-like average), not the log of the mean weight; "
                 f"by Jensen it is smaller: {formula}"),
                (lambda o: close(o, a.max(dim).values),
                 f"you returned only the maximum; add log(mean(exp(a - max))): {formula}"),
                (lambda o: not close(o, want, rtol=1e-9, atol=1e-8),
                 lambda o: (lambda i, got, exp: f"off by {abs(got - exp):.3g} at column {i}: you return {got:.4f}, "
                                                f"expected {exp:.4f}; {formula}")(*worst(o, want))),
            ]
            expect(f(a.clone(), dim), rules)
        return run

    return run_check("4.4", "stable log-mean-exp", "return log(mean(exp(a))) along dim, computed stably", fn,
                     [trial(ordinary, 0, "ordinary"), trial(ordinary.T.contiguous(), 1, "ordinary"),
                      trial(low, 0, "low"), trial(high, 0, "high")],
                     hint="m = a.max(dim, keepdim=True).values; return (m + (a - m).exp().mean(dim, keepdim=True).log()).squeeze(dim)")


__all__ = ["log_mean_exp", "precision_weighted_merge", "unit_activity", "warmup_weight"]
