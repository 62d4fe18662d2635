"""Exercise checks of chapter 4 (the Ladder VAE): the precision-weighted merge, the warm-up schedule, the
active-unit statistic, and the stable log-mean-exp behind the importance-weighted log-likelihood.

Besides the first test cases on fixed seeds, each check tries other sizes on data from a fresh seed, compares the
gradients that training needs with the reference's, runs the log-mean-exp in float32 at log-weights of −1000 with a
wide spread, and fails a function that changes its inputs.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

import torch
from torch import Tensor

from vaecourse.check.core import (F64, Problem, Trial, across_sizes, assumed, called, close, describe, differs, expect,
                                  finite_rule, float32_rules, fmt, fresh_seed, gradient_trial, is_real_number,
                                  named_mistake, number_text, number_value, own_state, run_check, shape_of,
                                  tensor_rules)
from vaecourse.distributions import precision_weighted_merge as _merge

UNCHANGED = "Notebook 04 uses the same tensors again after your function, so a changed input spoils what follows"
SIZES = assumed("a size", "the inputs' shapes")


@own_state
def precision_weighted_merge(fn: Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]) -> bool:
    """Exercise 4.1: ``fn(mu_hat, var_hat, mu_p, var_p)`` -> (mu_q, var_q) of Eq. (23)-(24)."""
    formula = "Eq. (23)-(24): the precisions (1 / variance) add, and each mean is weighted by its precision"
    why = ("The Ladder VAE trains through the merge: the bottom-up and the top-down paths both get their gradients "
           "from it")
    names = ("mu_hat", "var_hat", "mu_p", "var_p")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B, D = sizes["B"], sizes["D"]
        mu_hat, mu_p = 2 * torch.randn(B, D, generator=g, dtype=F64), 2 * torch.randn(B, D, generator=g, dtype=F64)
        var_hat = 0.1 + 2 * torch.rand(B, D, generator=g, dtype=F64)
        var_p = 0.1 + 2 * torch.rand(B, D, generator=g, dtype=F64)
        inputs = (mu_hat, var_hat, mu_p, var_p)
        prec = 1 / var_hat + 1 / var_p
        want_mu, want_var = _merge(*inputs)
        pair = [(lambda o: not isinstance(o, (tuple, list)) or len(o) != 2,
                 lambda o: f"return two tensors, (mu_q, var_q); got {describe(o)}"),
                (lambda o: not all(isinstance(v, Tensor) for v in o),
                 lambda o: "return two tensors, (mu_q, var_q); got " + " and ".join(describe(v) for v in o))]

        def at(i: tuple[int, ...]) -> str:
            return ", ".join(f"{n}={fmt(t[i])}" for n, t in zip(names, inputs))

        def values(f: Callable) -> None:
            out = expect(called(f, tuple(t.clone() for t in inputs), names, UNCHANGED), [
                *pair,
                (lambda o: close(o[0], want_var) and close(o[1], want_mu),
                 "you returned (var_q, mu_q): mean and variance are swapped; return (mu_q, var_q)"),
            ])
            mu, var = out
            expect(var, [
                *tensor_rules("var_q", (B, D), meaning="one variance per example and unit, like var_hat"),
                finite_rule("var_q", formula),
                (lambda o: close(o, prec), "you returned the precision 1/var_hat + 1/var_p; the variance is its "
                 f"inverse: {formula}"),
                (lambda o: close(o, var_hat + var_p),
                 "you added the variances; in a product of Gaussians the *precisions* (1/variance) add, so the merged "
                 f"variance is smaller than both: {formula}"),
                (lambda o: close(o, (var_hat + var_p) / 2), f"you averaged the variances; {formula}"),
                (lambda o: close(o, 1 / (var_hat + var_p)),
                 f"1/(var_hat + var_p) is not it: add the precisions, then invert: {formula}"),
                (lambda o: not close(o, want_var), lambda o: f"var_q differs {differs(o, want_var, at)}; {formula}"),
            ])
            expect(mu, [
                *tensor_rules("mu_q", (B, D), meaning="one mean per example and unit, like mu_hat"),
                finite_rule("mu_q", formula),
                (lambda o: close(o, (mu_hat + mu_p) / 2),
                 "you averaged the two means with equal weights; each should be weighted by its precision "
                 f"(1/variance), so the more certain source counts more: {formula}"),
                (lambda o: close(o, (mu_hat * var_hat + mu_p * var_p) / (var_hat + var_p)),
                 "you weighted each mean by its variance, which trusts the *less* certain source more; weight by the "
                 f"precision 1/variance instead: {formula}"),
                (lambda o: close(o, mu_hat / var_hat + mu_p / var_p),
                 f"the precision-weighted sum still has to be divided by the total precision (times var_q): {formula}"),
                (lambda o: not close(o, want_mu), lambda o: f"mu_q differs {differs(o, want_mu, at)}; {formula}"),
            ])

        # variances from 1e-6 to 1e3 (log-uniform), the extremes where a clamp shows: a floor var.clamp_min(1e-3)
        # or a ceiling changes (mu_q, var_q) there; float32 computes both to 1e-7 relative
        far = [10.0 ** (-6.0 + 9.0 * torch.rand(B, D, generator=g, dtype=F64)) for _ in range(2)]
        far[0][0, 0], far[1][0, 1], far[0][1, 0], far[1][1, 0], far[0][1, 1], far[1][1, 1] = \
            1e-6, 1e-6, 1e3, 1.0, 1e3, 1e3
        far_inputs = (mu_hat.clone(), far[0], mu_p.clone(), far[1])
        far_mu, far_var = _merge(*far_inputs)
        extreme_words = ("for variances from 1e-6 to 1e3 (a confident and a vague source: both happen in a ladder) "
                         "a floor or a ceiling on the variances, or on var_q, changes the merge: use them as they are; "
                         + formula)

        def far_at(i: tuple[int, ...]) -> str:
            return ", ".join(f"{n}={fmt(t[i])}" for n, t in zip(names, far_inputs))

        def extreme(f: Callable) -> None:
            out = expect(called(f, tuple(t.clone() for t in far_inputs), names, UNCHANGED), pair)
            expect(out[1], [*tensor_rules("var_q", (B, D)), finite_rule("var_q", extreme_words),
                            (lambda o: not close(o, far_var, atol=1e-12),  # relative: var_q is down to 5e-7
                             lambda o: f"var_q differs {differs(o, far_var, far_at)}; {extreme_words}")])
            expect(out[0], [*tensor_rules("mu_q", (B, D)), finite_rule("mu_q", extreme_words),
                            (lambda o: not close(o, far_mu),
                             lambda o: f"mu_q differs {differs(o, far_mu, far_at)}; {extreme_words}")])

        gradients = gradient_trial(_merge, lambda: inputs, dict(enumerate(names)), pair, "(mu_q, var_q)", why)
        return [values, extreme, gradients]

    return run_check("4.1", "precision-weighted merge",
                     "merge the bottom-up estimate and the prior of one layer into (mu_q, var_q), Eq. (23)-(24)", fn,
                     across_sizes(build, {"B": 4, "D": 3}, {"B": (2, 128), "D": (2, 9)}, seed=41, advice=SIZES),
                     hint=f"{formula}; the inputs hold variances (not log-variances), all of shape (B, D)")


def _warmup_reference(epoch: float, n_t: float) -> float:
    return 1.0 if n_t == 0 else min(1.0, epoch / n_t)


@own_state
def warmup_weight(fn: Callable[[float, float], float]) -> bool:
    """Exercise 4.2: ``fn(epoch, n_t)`` -> the KL weight beta of Eq. (26): linear 0 -> 1 over n_t epochs, then 1."""
    cases = [(0, 200), (50, 200), (100, 200), (199, 200), (200, 200), (250, 200), (1000, 200), (2.5, 10), (3, 0),
             (0, 0), (0.5, 0)]
    rng = random.Random(fresh_seed())  # schedules the learner cannot read from this source
    for _ in range(3):
        n_t = rng.randint(3, 500)
        cases.append((round(rng.uniform(0, 2 * n_t), 2), n_t))
    rule = ("beta rises linearly from 0 to 1 over the first n_t epochs, then stays 1; with n_t = 0 it is 1 from the "
            "start")

    def run(f: Callable) -> None:
        got = {}
        for epoch, n_t in cases:
            try:
                value = f(epoch, n_t)
            except ZeroDivisionError as error:
                if n_t != 0 or not getattr(error, "_raised_by_learner", False):
                    raise
                raise Problem(f"with n_t = 0 (no warm-up) your function divides by zero; then there is no warm-up "
                              f"and beta = 1 from the start: {rule}") from None
            if not is_real_number(value):
                raise Problem(f"return one number (a float), got {describe(value)}")
            got[(epoch, n_t)] = number_value(value)
        # the schedule's named shapes, each only where the learner's weights are that shape's at every warm-up
        # (n_t > 0; n_t = 0 is judged below): a ramp starting late is 0 at epoch 100 and 1 at 200 too, yet no jump
        ramps = [((epoch, n_t), value, _warmup_reference(epoch, n_t)) for (epoch, n_t), value in got.items() if n_t]
        shape = named_mistake(ramps, [
            (lambda case: 1.0 - min(1.0, case[0] / case[1]),
             lambda case: f"your weight falls from 1 to 0; warm-up starts from 0 (a plain auto-encoder) and rises to "
                          f"1: {rule}"),
            (lambda case: float(case[0] >= case[1]),
             lambda case: f"your weight jumps from 0 to 1 at epoch n_t; it should rise linearly (0.5 at epoch 100 of "
                          f"200): {rule}"),
        ], lambda a, b: math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9))
        if shape:
            raise Problem(shape)
        if got[(1000, 200)] > 1.0 + 1e-9:
            raise Problem(f"after the warm-up the weight keeps growing (epoch 1000 gives {got[(1000, 200)]:.4g}); "
                          f"cap it at 1, the true ELBO: {rule}")
        wrong_at_zero = [(e, v) for (e, n), v in got.items() if n == 0 and not math.isclose(v, 1.0)]
        if wrong_at_zero:
            epoch, value = wrong_at_zero[0]
            one_epoch = all(math.isclose(v, min(e, 1.0), abs_tol=1e-9) for e, v in wrong_at_zero)  # min(e / max(n_t, 1), 1)
            cause = ("dividing by max(n_t, 1) (or by n_t plus a small number) turns 'no warm-up' into a one-epoch "
                     "warm-up; " if one_epoch else "")
            raise Problem(f"with n_t = 0 at epoch {epoch:g} you return {value:.4g}, expected 1: {cause}with n_t = 0 "
                          "there is no warm-up at all, and beta = 1 from epoch 0")
        for (epoch, n_t), value in got.items():
            want = _warmup_reference(epoch, n_t)
            if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):
                a, b = number_text(value, want)
                raise Problem(f"at epoch {epoch:g} with n_t = {n_t} you return {a}, expected {b}: {rule}")

    return run_check("4.2", "warm-up schedule",
                     "compute the KL weight beta of Eq. (26) at this epoch of an n_t-epoch warm-up", fn, [run],
                     hint=rule)


def _skewed_means(N: int, D: int, g: torch.Generator, base: bool) -> Tensor:
    """Posterior means (N, D) of units from very active to dead, skewed (so that a median is not the mean)."""
    scales = torch.tensor([2.0, 0.5, 0.1, 0.01, 0.0], dtype=F64) if base else \
        torch.tensor([3.0, 1.0, 0.3, 0.1, 0.05, 0.01, 0.0], dtype=F64)[torch.randint(7, (D,), generator=g)]
    noise = torch.randn(N, D, generator=g, dtype=F64)
    return (noise + 0.5 * noise.pow(2)) * scales + 0.3


@own_state
def unit_activity(fn: Callable[[Tensor], Tensor]) -> bool:
    """Exercise 4.3: ``fn(means)`` with means (N, D) -> A_u = Cov_x(E_q[u]) per unit, (D,)."""
    formula = "A_u = Cov_x(E_q[u]): the variance over the N examples of each unit's posterior mean"

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        N, D = sizes["N"], sizes["D"]
        means = _skewed_means(N, D, g, base=(N, D) == (60, 5))
        unbiased, biased = means.var(0, unbiased=True), means.var(0, unbiased=False)
        around_median = (means - means.median(dim=0).values).pow(2)

        def variance(o: Any, m: Tensor) -> bool:
            return close(o, m.var(0, unbiased=True)) or close(o, m.var(0, unbiased=False))

        def first_rows(o: Any) -> int | None:
            return next((k for k in range(2, N) if variance(o, means[:k])), None)

        def run(f: Callable) -> None:
            expect(called(f, (means.clone(),), ("means",), UNCHANGED), [
                *tensor_rules("A", (D,), meaning="one number per unit", shape_rules=[
                    (lambda o: shape_of(o) == (N,),
                     f"A has shape ({N},) = (N,): you took the variance across units (dim 1) for each example; the "
                     "statistic is per unit, over the examples (dim 0)"),
                    (lambda o: o.numel() == 1,
                     "A is a single number: compute one variance per unit, over the examples"),
                ]),
                (lambda o: close(o, unbiased.sqrt()) or close(o, biased.sqrt()),
                 "you returned the standard deviation; A_u is a (co)variance, the square of it (threshold 0.01 is on "
                 "the variance)"),
                (lambda o: close(o, means.mean(0)), f"you returned the mean of each unit; the statistic is its "
                 f"variance: {formula}"),
                (lambda o: close(o, means.pow(2).mean(0)),
                 f"you returned E[m^2] without subtracting the mean; Cov_x centres first: {formula}"),
                (lambda o: close(o, around_median.mean(0)) or close(o, around_median.sum(0) / (N - 1)),
                 f"you centred on the median; a (co)variance centres on the mean over the examples: {formula}"),
                (lambda o: first_rows(o) is not None,
                 lambda o: f"your A is that of the first {first_rows(o)} examples only: use all {N} (read N from "
                           "means.shape, never type it)"),
                (lambda o: not variance(o, means),
                 lambda o: f"A differs from {formula} {differs(o, unbiased, lambda i: f'unit {i[0]}')}"),
            ])
        return [run]

    return run_check("4.3", "active-unit statistic",
                     "compute Burda et al.'s activity A_u of every unit from the posterior means (lecture section 5)",
                     fn, across_sizes(build, {"N": 60, "D": 5}, {"N": (70, 128), "D": (6, 10)}, seed=43,
                                      advice=SIZES),
                     hint="means has shape (N, D), one row per example: one number per unit, a statistic over the "
                          "examples")


def _lme(a: Tensor, dim: int) -> Tensor:
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def _lme_around(a: Tensor, dim: int, centre: Tensor) -> Tensor:
    return (centre + (a - centre).exp().mean(dim, keepdim=True).log()).squeeze(dim)


@own_state
def log_mean_exp(fn: Callable[[Tensor, int], Tensor]) -> bool:
    """Exercise 4.4: ``fn(a, dim)`` -> log (1/n) sum_i exp(a_i) along ``dim``, stable for any a."""
    formula = "log_mean_exp(a) = m + log(mean(exp(a − m))) with m = the maximum along dim"
    why = ("The importance-weighted bound L_k can be trained directly (the IWAE objective) and is then differentiated "
           "through your function")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        S, B = sizes["S"], sizes["B"]
        ordinary = torch.randn(S, B, generator=g, dtype=F64) * 3
        low = ordinary - 1000.0  # log-weights of real images: hundreds of nats below zero
        high = ordinary + 1000.0
        wide = (-1000.0 + 300.0 * torch.rand(S, B, generator=g, dtype=F64)).float()  # float32, spread of 300 nats

        def trial(a: Tensor, dim: int, kind: str) -> Trial:
            want = _lme(a, dim)
            n = a.shape[dim]

            def run(f: Callable) -> None:
                rules = [*tensor_rules("the result", shape_of(want), meaning=f"a reduced along dim={dim}")]
                if kind != "ordinary":
                    rules.append((lambda o: not torch.isfinite(o).all(),
                                  f"for log-weights around {'-' if kind == 'low' else '+'}1000 your result is "
                                  f"{'-inf' if kind == 'low' else 'inf'} or NaN: exp() under- or overflows. Subtract "
                                  f"the maximum first: {formula}"))
                rules += [
                    finite_rule("the result", formula),
                    (lambda o: close(o, torch.logsumexp(a, dim)),
                     f"this is logsumexp, a log of the *sum*; divide by n inside the log, i.e. subtract log(n) = "
                     f"{math.log(n):.4g}"),
                    (lambda o: close(o, a.mean(dim)),
                     "you returned the mean of the log-weights (the ELBO-like average), not the log of the mean "
                     f"weight; by Jensen it is smaller: {formula}"),
                    (lambda o: close(o, a.max(dim).values),
                     f"you returned only the maximum; the other weights count too: {formula}"),
                    (lambda o: not close(o, want, rtol=1e-6),  # float32's rounding: a float32 log(n) is right too
                     lambda o: f"{differs(o, want, lambda i: f'column {i}')}; {formula}"),
                ]
                expect(called(f, (a.clone(), dim), ("a", None), UNCHANGED), rules)
            return run

        want32 = _lme(wide.double(), 0)
        mean_centred = _lme_around(wide, 0, wide.mean(0, keepdim=True))
        naive = wide.exp().mean(0).log()

        def float32(f: Callable) -> None:
            expect(called(f, (wide.clone(), 0), ("a", None), UNCHANGED), [
                *tensor_rules("the result", (B,), meaning="a reduced along dim=0"),
                *float32_rules("the result", want32, "at log-weights from −1000 to −700", formula, wrong=[
                    (mean_centred, "in float32 at log-weights from −1000 to −700 your result overflows: you "
                                   "subtracted the MEAN of a, which leaves exponents up to +150 (exp(89) is already "
                                   "inf in float32); subtract the MAXIMUM, so that every exponent is ≤ 0 and the "
                                   "largest term is exp(0) = 1"),
                    (naive, "in float32 at log-weights from −1000 to −700 exp(a) underflows to 0 and its log is −inf: "
                            f"subtract the maximum first, {formula}"),
                ], rtol=1e-5, atol=1e-3),
            ])

        # slices along dim at levels hundreds of nats apart (the log-weights of two images of one IWAE batch: −80
        # and −300 nats), float32: a maximum (or mean, min) of the whole tensor leaves some slices' exponents far
        # below float32's range, where they underflow to log(0) = −inf, or above it; the maximum along dim does not
        levels = torch.tensor([0.0, -1000.0, 400.0, -300.0, -80.0, 700.0, -600.0, 50.0, -150.0], dtype=F64)
        levels = levels[torch.arange(B) % len(levels)]  # the nine levels again for a larger batch
        spread = (ordinary / 3 + levels).float()  # (S, B): column b around levels[b]

        def apart(a: Tensor, dim: int) -> Trial:
            want = _lme(a.double(), dim)
            axis = "column" if dim == 0 else "row"
            where = f"for {axis}s of log-weights at levels from −1000 to +700 nats (float32, reduced along dim={dim})"
            whole = [_lme_around(a, dim, c) for c in (a.max(), a.min(), a.mean(), a.max().clamp(max=0))]

            def run(f: Callable) -> None:
                expect(called(f, (a.clone(), dim), ("a", None), UNCHANGED), [
                    *tensor_rules("the result", shape_of(want), meaning=f"a reduced along dim={dim}"),
                    (lambda o: any(close(o, w, rtol=1e-5, atol=1e-3, equal_nan=True) for w in whole) or (
                        not torch.isfinite(o).all() and torch.isfinite(o).any()),
                     f"{where} your result is inf or NaN in some {axis}s only: you subtracted one number for the "
                     f"whole tensor (a.max(), or its mean or min), so the {axis}s far from it under- or overflow; "
                     f"take the maximum along dim, m = a.max(dim, keepdim=True).values: {formula}"),
                    (lambda o: not torch.isfinite(o).all(), f"{where} your result is inf or NaN: {formula}"),
                    (lambda o: not close(o, want, rtol=1e-5, atol=1e-3),
                     lambda o: f"{where} {differs(o, want, lambda i: f'{axis} {i[0]}')}; {formula}"),
                ])
            return run

        gradients = gradient_trial(_lme, lambda: (ordinary, 0), {0: "a"}, tensor_rules("the result", (B,)),
                                   "the result", why)
        return [trial(ordinary, 0, "ordinary"), trial(ordinary.T.contiguous(), 1, "ordinary"),
                trial(ordinary.T.contiguous(), -1, "ordinary"), trial(low, 0, "low"), trial(high, 0, "high"),
                float32, apart(spread, 0), apart(spread.T.contiguous(), 1), gradients]

    return run_check("4.4", "stable log-mean-exp",
                     "compute log(mean(exp(a))) along dim so that it stays finite for log-weights of ±1000, in "
                     "float32 too (lecture section 5)", fn,
                     across_sizes(build, {"S": 50, "B": 4}, {"S": (5, 128), "B": (2, 128)}, seed=44, advice=SIZES),
                     hint="factor the largest weight out of the sum before taking exp (torch.max or .max(dim) gives "
                          "it); keep dim as given, and return a reduced along it")


__all__ = ["log_mean_exp", "precision_weighted_merge", "unit_activity", "warmup_weight"]
