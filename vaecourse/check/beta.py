"""Exercise checks of chapter 2 (beta-VAE): the beta-VAE loss, the dual-ascent step on the multiplier, the
Burgess capacity schedule, and the active latents read off the per-dimension KL.

Besides the first test cases on fixed values, each check draws further cases from a fresh seed (other batch sizes,
numbers of latents, multipliers, budgets and schedules), compares the loss's gradients with the reference's, and
fails a function that changes its inputs.
"""

from __future__ import annotations

import math
import numbers
import random
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from vaecourse.check.core import (Case, F64, Mistake, Problem, Trial, across_sizes, assumed, called, close, describe,
                                  device_rule, expect, finite_rule, fmt, fresh_seed, gradient_trial, is_real_number,
                                  mismatch, named_mistake, number_value, own_state, run_check, shape_of, tensor_rules)

UNCHANGED = "Notebook 02 reads the same tensors again after your function, so a changed input spoils what follows"


def _beta_loss(log_px_z: Tensor, kl: Tensor, beta: float) -> Tensor:
    return -(log_px_z - beta * kl).mean()


@own_state
def beta_vae_loss(fn: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """Exercise 2.1: ``fn(log_px_z, kl, beta)`` -> the loss to minimise, -(1/B) sum_b (log p(x_b|z_b) - beta KL_b)."""
    formula = "loss = −(batch mean of log_px_z − beta · kl), Eq. (9) negated"
    why = ("Notebook 02 trains with your loss: the term without a gradient is not optimised, and beta then weights "
           "nothing the optimiser sees")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B = sizes["B"]
        log_px_z = -50.0 - 20.0 * torch.rand(B, generator=g, dtype=F64)  # (B,) reconstruction terms, nats
        kl = 2.0 + 10.0 * torch.rand(B, generator=g, dtype=F64)  # (B,) KLs, nats
        basic = tensor_rules("the loss", (), meaning="a single number, the batch mean", shape_rules=[
            (lambda o: shape_of(o) == (B,),
             f"the loss has shape ({B},), one value per example: average over the batch to get the single number "
             "the optimiser minimises"),
        ])

        # a positive objective (a Gaussian likelihood's log-density exceeds 0; a small beta·KL): the loss is
        # negative, so a loss kept positive (.abs(), relu, clamp(min=0)) differs from it only here
        log_px_z_up = 20.0 + 10.0 * torch.rand(B, generator=g, dtype=F64)  # (B,) nats
        kl_up = 0.5 + 2.0 * torch.rand(B, generator=g, dtype=F64)  # (B,) nats

        def trial(beta: float, log_px_z: Tensor = log_px_z, kl: Tensor = kl) -> Trial:
            want = _beta_loss(log_px_z, kl, beta)
            positive = bool(want < 0)  # the case built to show a sign kept positive
            kept = (f"for log_px_z around +25 nats (a Gaussian likelihood's log-density can exceed 0) and beta = "
                    f"{beta:g} the objective is positive and the loss negative ({fmt(want)})")

            def run(f: Callable) -> None:
                out = called(f, (log_px_z.clone(), kl.clone(), beta), ("log_px_z", "kl", None), UNCHANGED)
                if isinstance(out, Tensor) and out.is_floating_point() and close(out, want):
                    return  # right: the diagnostics below only name what is wrong
                expect(out, [
                    *basic,
                    finite_rule("the loss", formula),
                    (lambda o: positive and close(o, -want),
                     f"{kept}, yours is {fmt(-want)}: you took the absolute value of the loss (or of the objective); "
                     f"a loss may be negative, and .abs() turns minimising into maximising here: {formula}"),
                    (lambda o: positive and close(o, torch.zeros((), dtype=F64)),
                     f"{kept}, yours is 0: you clamped the loss at 0 (relu, clamp(min=0) or max(0, ·)), which stops "
                     f"training wherever the loss is negative; a loss may be negative: {formula}"),
                    (lambda o: positive and close(o, (log_px_z - beta * kl).abs().mean()),
                     f"{kept}: you kept each example's loss positive (.abs() per example); a loss may be negative: "
                     f"{formula}"),
                    (lambda o: close(o, -want),
                     "the sign is flipped: you returned the objective (to maximise); the optimiser minimises, so "
                     f"return its negative: {formula}"),
                    (lambda o: close(o, _beta_loss(log_px_z, kl, 1.0)) and beta != 1.0,
                     f"your loss ignores beta (it is the plain −ELBO): weight the KL by beta; {formula}"),
                    (lambda o: close(o, -(beta * log_px_z - kl).mean()),
                     f"beta multiplies the reconstruction term; it weights the KL: {formula}"),
                    (lambda o: close(o, -beta * (log_px_z - kl).mean()),
                     f"beta multiplies the whole ELBO, which only rescales the loss; it weights the KL alone: "
                     f"{formula}"),
                    (lambda o: close(o, -(log_px_z - kl / beta).mean()),
                     f"you divided the KL by beta; multiply it: {formula}"),
                    (lambda o: close(o, -(log_px_z + beta * kl).mean()),
                     f"the KL is added; it is a penalty, subtracted from the reconstruction term: {formula}"),
                    (lambda o: close(o, -(log_px_z - beta * kl).sum()),
                     "you summed over the batch; average it, so the loss does not grow with the batch size: "
                     f"{formula}"),
                    (lambda o: not close(o, want),
                     lambda o: f"for beta = {beta:g}, {mismatch(float(o), float(want))}; {formula}"),
                ])
            return run

        betas = (4.0, 1.0, 0.5) if B == 6 else (random.Random(fresh_seed()).uniform(1.5, 9.0),)
        gradients = gradient_trial(_beta_loss, lambda: (log_px_z, kl, betas[0]), {0: "log_px_z", 1: "kl"}, basic,
                                   "the loss", why, alternatives=[
                                       (lambda l, k, b: -(l - b * k.detach()).mean(),
                                        "your loss has the right value, but its KL term carries no gradient"),
                                       (lambda l, k, b: -(l.detach() - b * k).mean(),
                                        "your loss has the right value, but its reconstruction term carries no "
                                        "gradient")])
        return [*(trial(b) for b in betas), trial(0.5, log_px_z_up, kl_up), gradients]

    return run_check("2.1", "the beta-VAE loss",
                     "compute the loss to minimise for the beta-VAE objective of Eq. (9) from log_px_z, kl and beta",
                     fn, across_sizes(build, {"B": 6}, {"B": (2, 128)}, seed=21, count=2,
                                      advice=assumed("a batch size", "log_px_z.shape")),
                     hint="log_px_z and kl have shape (B,); Eq. (9) is maximised, the optimiser minimises; return a "
                          "0-d tensor")


REL, ABS = 1e-6, 1e-6  # a float32 answer (torch.tensor of a float) is as right as a float64 one


def _matches(out: Any, want: float) -> bool:
    return is_real_number(out) and math.isclose(number_value(out), want, rel_tol=REL, abs_tol=ABS)


def _number_rules(name: str, where: str) -> list:
    """The first diagnostics of a check whose answer is one number (a Python, numpy or one-element tensor)."""
    return [
        (lambda o: not isinstance(o, (numbers.Real, Tensor, np.ndarray)) or isinstance(o, (bool, np.bool_)),
         lambda o: f"return {name} as a number, got {describe(o)}"),
        (lambda o: (o.numel() if isinstance(o, Tensor) else np.size(o)) != 1,
         lambda o: f"return one number ({name}), got {describe(o)}"),
        (lambda o: isinstance(o, Tensor) and o.device.type != "cpu", device_rule(name)[1]),
        (lambda o: not is_real_number(o), lambda o: f"return {name} as a real number, got {describe(o)}"),
        (lambda o: not math.isfinite(number_value(o)), f"{name} is not finite {where}"),
    ]


def _near(o: Any, v: float) -> bool:
    return math.isclose(number_value(o), v, rel_tol=REL, abs_tol=ABS)


def _number_cases(name: str, cases: Sequence[Case], reference: Callable[..., float], at: Callable[[Case], str],
                  mistakes: Sequence[Mistake], facts: Callable[[Case], list] = lambda case: [],
                  after: Callable[[Case], str] = lambda case: "") -> Trial:
    """The trial of a check whose answer is one number per case: every case is called and read first (the number
    rules and ``facts``, such as a negative multiplier, where they fail), then a wrong answer is named by
    :func:`named_mistake` or shown as "at <case> you return X, expected Y<after(case)>"."""
    def run(f: Callable) -> None:
        got = []
        for case in cases:
            out, want = f(*case), reference(*case)
            if not _matches(out, want):
                expect(out, [*_number_rules(name, f"at {at(case)}{after(case)}"), *facts(case)])
            got.append((case, number_value(out), want))
        wrong = [(case, out, want) for case, out, want in got if not _near(out, want)]
        if wrong:
            case, out, want = wrong[0]
            raise Problem(named_mistake(got, mistakes, _near) or f"at {at(case)} {mismatch(out, want)}{after(case)}")
    return run


@own_state
def dual_ascent(fn: Callable[[float, float, float, float], float]) -> bool:
    """Exercise 2.2: ``fn(beta, kl, epsilon, lr)`` -> max(0, beta + lr (kl − epsilon))."""
    formula = "the projected gradient-ascent step on the dual of Eq. (8)"
    shows = {  # what a case shows, by its arguments (beta, kl, epsilon, lr)
        (1.0, 30.0, 20.0, 0.1): "the constraint KL < epsilon is violated (kl = 30 > epsilon = 20), so beta must grow",
        (3.0, 15.0, 20.0, 0.1): "the constraint holds with slack (kl = 15 < epsilon = 20), so beta must shrink",
        (0.2, 0.0, 20.0, 0.1): "beta would go below 0 here; a multiplier of an inequality constraint is never negative",
        (2.0, 25.0, 25.0, 0.5): "kl equals epsilon: the constraint is active and beta stays where it is",
        (12.0, 45.0, 20.0, 0.5): "a tight budget may need a large beta: the multiplier has no upper bound, only "
                                 "beta ≥ 0",
    }
    cases = [*shows, (0.7, 12.5, 10.0, 0.02)]
    rng = random.Random(fresh_seed())  # cases the learner cannot read from this source
    for _ in range(3):
        cases.append((round(rng.uniform(0.0, 5.0), 3), round(rng.uniform(0.0, 40.0), 3),
                      round(rng.uniform(1.0, 30.0), 3), rng.choice((0.003, 0.05, 0.2, 0.7))))
    below = (rng.uniform(0.01, 0.5), rng.uniform(0.0, 2.0), rng.uniform(20.0, 40.0), rng.uniform(0.1, 0.5))
    cases.append(below)
    shows[below] = "beta would go below 0 here; a multiplier of an inequality constraint is never negative"

    def at(case: Case) -> str:
        return "beta={:g}, kl={:g}, epsilon={:g}, lr={:g}".format(*case)

    def step(beta: float, kl: float, eps: float, lr: float) -> float:
        return max(0.0, beta + lr * (kl - eps))

    def facts(case: Case) -> list:
        return [(lambda o: number_value(o) < 0,
                 lambda o: f"the new beta is negative ({number_value(o):.4g}) for {at(case)}: a multiplier of an "
                           "inequality constraint is never negative, so the step is projected back onto beta ≥ 0")]

    mistakes: list[Mistake] = [
        (lambda c: step(c[0], c[2], c[1], c[3]),  # kl and epsilon swapped: beta − lr (kl − epsilon)
         lambda c: f"the step goes the wrong way for {at(c)}: "
                   f"{shows.get(c, 'beta follows the constraint violation kl − epsilon')}; {formula}"),
        (lambda c: c[0] + c[3] * (c[1] - c[2]),
         lambda c: f"for {at(c)} your beta is not clipped at 0: {shows.get(c, 'it would go below 0')}; {formula}"),
        (lambda c: abs(c[0] + c[3] * (c[1] - c[2])),
         lambda c: f"for {at(c)} you took the absolute value of a negative step: the projection onto beta ≥ 0 ends "
                   "at 0, it does not mirror"),
        (lambda c: step(c[0], c[1], c[2], 1.0), lambda c: f"the step ignores the step size lr: {formula}"),
        (lambda c: step(0.0, c[1], c[2], c[3]), lambda c: f"the new beta should start from the old one: {formula}"),
    ]
    return run_check("2.2", "the dual-ascent step",
                     "compute the new multiplier beta from beta, the batch-mean kl, the budget epsilon and the step "
                     "size lr (the lecture's section 1, Eq. 8)", fn,
                     [_number_cases("the new beta", cases, step, at, mistakes, facts,
                                    after=lambda c: (f" ({shows[c]})" if c in shows else "") + f"; {formula}")],
                     hint="ascent on the dual: beta moves by lr times the constraint's violation, and stays ≥ 0; all "
                          "four arguments are floats")


@own_state
def capacity_schedule(fn: Callable[[int, float, int], float]) -> bool:
    """Exercise 2.3: ``fn(step, c_max, c_steps)`` -> C = c_max · min(step / c_steps, 1), in nats."""
    formula = "C rises linearly from 0 nats at step 0 to c_max at step c_steps, then stays at c_max"
    cases = [(0, 25.0, 100_000), (25_000, 25.0, 100_000), (50_000, 25.0, 100_000), (100_000, 25.0, 100_000),
             (250_000, 25.0, 100_000), (7, 10.0, 20)]
    rng = random.Random(fresh_seed())  # schedules the learner cannot read from this source
    for _ in range(3):
        c_steps = rng.randint(30, 300_000)
        cases.append((rng.randint(1, c_steps - 1), round(rng.uniform(1.0, 60.0), 2), c_steps))
    c_steps = rng.randint(30, 300_000)
    cases.append((rng.randint(c_steps + 1, 3 * c_steps), round(rng.uniform(1.0, 60.0), 2), c_steps))

    def at(case: Case) -> str:
        return "step={}, c_max={:g}, c_steps={}".format(*case)

    def capacity(step: int, c_max: float, c_steps: int) -> float:
        return c_max * min(step / c_steps, 1.0)

    mistakes: list[Mistake] = [
        (lambda c: c[1] * c[0] / c[2] if c[0] > c[2] else None,
         lambda c: f"at {at(c)} C kept growing past c_max: after c_steps the capacity is held at c_max; {formula}"),
        (lambda c: c[1] * min(c[0] // c[2], 1),
         lambda c: f"at {at(c)} C is {c[1] * min(c[0] // c[2], 1):g}: integer division (//) rounds the progress "
                   f"down to 0; use true division; {formula}"),
        (lambda c: min(c[0] / c[2], 1.0),
         lambda c: f"at {at(c)} you returned the fraction of the schedule done; C is in nats, up to c_max: {formula}"),
        (lambda c: c[1] - capacity(*c), lambda c: f"the schedule runs backwards at {at(c)}: C rises from 0 to c_max; "
                                                  f"{formula}"),
    ]
    return run_check("2.3", "the capacity schedule",
                     "compute the capacity C in nats at this step of the Burgess et al. schedule (lecture section 1)",
                     fn, [_number_cases("the capacity C", cases, capacity, at, mistakes,
                                        after=lambda c: f"; {formula}")],
                     hint=f"{formula}; step and c_steps are ints, c_max a float")


def _kl_batch(B: int, D: int, g: torch.Generator, base: bool) -> Tensor:
    """Per-example, per-dimension KLs (B, D) with two traps: a dimension that one image uses (its batch mean stays
    below 0.1) and one that three images use heavily (active on the batch mean, 0 on the median)."""
    if base:
        level = torch.tensor([0.01, 3.0, 0.02, 1.6, 9.0, 0.15, 0.0], dtype=F64)  # (D,) nats
        one, skew = 0, D - 1
    else:
        choices = torch.tensor([0.01, 0.02, 0.04, 0.15, 0.3, 1.6, 3.0, 5.0, 9.0], dtype=F64)
        level = choices[torch.randint(len(choices), (D,), generator=g)]
        level[-1] = 9.0  # the last latent is always active: a slice [:, :7] misses it, a slice of rows does not
        one, skew = torch.randperm(D - 1, generator=g)[:2].tolist()
    kl = level * (0.5 + torch.rand(B, D, generator=g, dtype=F64))  # (B, D)
    kl[:, one] = 0.0
    kl[0, one] = 0.5  # one image uses it (0.5 nats); the batch mean 0.5 / B stays below 0.1
    kl[:, skew] = 0.0
    kl[-3:, skew] = 6.0  # the last three images carry it: mean 18 / B > 1 nat, median 0
    return kl


@own_state
def active_latents(fn: Callable[[Tensor, float], Tensor]) -> bool:
    """Exercise 2.4: ``fn(kl, threshold)`` with per-example, per-dimension KLs (B, D) -> the indices of the
    dimensions whose batch-mean KL exceeds ``threshold``, most informative first (a LongTensor)."""
    from vaecourse.metrics.latent_kl import active_latents as reference

    formula = "average over the batch, keep the dimensions above the threshold, most informative first"

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B, D = sizes["B"], sizes["D"]
        kl = _kl_batch(B, D, g, base=(B, D) == (8, 7))

        mean = kl.mean(dim=0)
        thresholds = (1.0, 0.1, 100.0)
        wants = {t: reference(kl, t) for t in thresholds}

        def by(score: Tensor, threshold: float, keep: Tensor | None = None) -> Tensor:
            order = torch.argsort(score, descending=True, stable=True)
            return order[(score[order] > threshold) if keep is None else keep[order]]

        def equal(o: Tensor, v: Tensor) -> bool:
            return o.shape == v.shape and torch.equal(o.long(), v)

        def facts(threshold: float) -> list:
            return [
                (lambda o: not isinstance(o, Tensor),
                 lambda o: f"return a torch.Tensor of dimension indices, got {describe(o)}"),
                device_rule("the result"),
                (lambda o: o.dtype == torch.bool,
                 "you returned a boolean mask; return the indices of the active dimensions, most informative first"),
                (lambda o: o.is_floating_point() and shape_of(o) == (D,),
                 "you returned a KL per dimension; return the indices of the dimensions above the threshold"),
                (lambda o: o.is_floating_point(), "return integer indices (a LongTensor), not floats"),
                (lambda o: o.dim() != 1, lambda o: f"return a 1-d tensor of indices, got shape {shape_of(o)}"),
            ]

        # the named mistakes, each (its answer at a threshold, or None where it has none; its message), named only
        # when the learner's answers are that mistake's at every threshold (named_mistake)
        mistakes: list[Mistake] = [
            (lambda t: by(kl.sum(0), t),
             lambda t: "you summed the KL over the batch; the threshold applies to the batch MEAN (nats per image): "
                       f"{formula}"),
            *[(lambda t, k=k: reference(kl[:, :k], t),
               lambda t, k=k: f"your answer looks at the first {k} latent dimensions only; kl has {D}")
              for k in (7,) if k < D],  # a size typed in is the first test case's (B = 8, D = 7)
            *[(lambda t, k=k: reference(kl[:k], t),
               lambda t, k=k: f"your answer is what the first {k} images alone give: average over the whole batch of "
                              f"{B} (read its size from kl, never type it)") for k in (8,) if k < B],
            (lambda t: by(kl.median(dim=0).values, t),
             lambda t: "you took the median over the batch: a dimension that a few images use heavily has median 0 "
                       "but carries information on average; the threshold applies to the batch MEAN"),
            (lambda t: by(mean, t, (kl > t).any(0)),
             lambda t: "a dimension above the threshold for one image only was kept: you kept any dimension that some "
                       f"example uses; average over the batch first: {formula}"),
            (lambda t: torch.argsort(mean)[mean[torch.argsort(mean)] > t] if len(wants[t]) > 1 else None,
             lambda t: f"the right dimensions, in increasing order of KL; put the most informative first: {formula}"),
            (lambda t: torch.nonzero(mean > t).flatten(),
             lambda t: f"the right dimensions, in index order; sort them by decreasing mean KL: {formula}"),
        ]

        def run(f: Callable) -> None:
            got = []
            for threshold in thresholds:
                out = called(f, (kl.clone(), threshold), ("kl", None), UNCHANGED)
                got.append((threshold, expect(out, facts(threshold)), wants[threshold]))
            wrong = [(t, o, w) for t, o, w in got if not equal(o, w)]
            if not wrong:
                return
            outs = [o for t, o, w in got]
            everything = [t for t, o, w in wrong if o.numel() == D and len(w) < D]
            if all(equal(o, outs[0]) for o in outs) and not everything:  # one answer whatever the threshold
                raise Problem(f"your answer is {outs[0].tolist()} for each of the thresholds "
                              f"{', '.join(f'{t:g}' for t in thresholds)}, expected "
                              f"{', '.join(str(w.tolist()) for t, o, w in got)}: the answer depends on the threshold "
                              f"argument (a number or a count typed in does not); {formula}")
            threshold, o, want = wrong[0]
            raise Problem(named_mistake(got, mistakes, equal) or
                          (f"with threshold {everything[0]:g} you returned all {D} dimensions; keep only those whose "
                           f"batch-mean KL is above the threshold: {formula}" if everything else "") or
                          f"with threshold {threshold:g} you return {o.tolist()}, expected {want.tolist()} "
                          f"(batch-mean KL per dimension: {fmt(mean, 3)}); {formula}")
        return [run]

    return run_check("2.4", "active latents",
                     "find the latents whose batch-mean KL (in nats) is above the threshold, most informative first "
                     "(lecture section 6)", fn,
                     across_sizes(build, {"B": 8, "D": 7}, {"B": (10, 128), "D": (8, 14)}, seed=24,
                                  advice=assumed("a batch size or a number of latents", "kl.shape")),
                     hint="kl has shape (B, D): reduce over the batch, compare with the threshold, and order the "
                          "surviving dimensions by their mean KL (torch.argsort gives an order)")


__all__ = ["active_latents", "beta_vae_loss", "capacity_schedule", "dual_ascent"]
