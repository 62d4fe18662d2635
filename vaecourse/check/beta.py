"""Exercise checks of chapter 2 (beta-VAE): the beta-VAE loss, the dual-ascent step on the multiplier, the
Burgess capacity schedule, and the active latents read off the per-dimension KL."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from vaecourse.check.core import (F64, close, describe, device_rule, expect, finite_rule, fmt, is_real_number,
                                  number_value, run_check, seeded, shape_of, tensor_rules)


def beta_vae_loss(fn: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """Exercise 2.1: ``fn(log_px_z, kl, beta)`` -> the loss to minimise, -(1/B) sum_b (log p(x_b|z_b) - beta KL_b)."""
    B = 6
    g = seeded(21)
    log_px_z = -50.0 - 20.0 * torch.rand(B, generator=g, dtype=F64)  # (B,) reconstruction terms, nats
    kl = 2.0 + 10.0 * torch.rand(B, generator=g, dtype=F64)  # (B,) KLs, nats
    formula = "loss = −mean over the batch of (log_px_z − beta · kl)"

    def trial(beta: float) -> Callable:
        want = -(log_px_z - beta * kl).mean()

        def run(f: Callable) -> None:
            out = f(log_px_z.clone(), kl.clone(), beta)
            if isinstance(out, Tensor) and out.is_floating_point() and close(out, want):
                return  # right: the diagnostics below only name what is wrong
            expect(out, [
                *tensor_rules("the loss", (), meaning="a single number, the batch mean", shape_rules=[
                    (lambda o: shape_of(o) == (B,),
                     f"the loss has shape ({B},), one value per example: average over the batch (.mean()) to get "
                     "the single number the optimiser minimises"),
                ]),
                finite_rule("the loss", formula),
                (lambda o: close(o, -want),
                 "the sign is flipped: you returned the objective (to maximise); the optimiser minimises, so "
                 f"return its negative: {formula}"),
                (lambda o: close(o, -(log_px_z - kl).mean()) and beta != 1.0,
                 f"your loss ignores beta (it is the plain −ELBO): weight the KL by beta; {formula}"),
                (lambda o: close(o, -(beta * log_px_z - kl).mean()),
                 f"beta multiplies the reconstruction term; it weights the KL: {formula}"),
                (lambda o: close(o, -beta * (log_px_z - kl).mean()),
                 f"beta multiplies the whole ELBO, which only rescales the loss; it weights the KL alone: {formula}"),
                (lambda o: close(o, -(log_px_z - kl / beta).mean()),
                 f"you divided the KL by beta; multiply it: {formula}"),
                (lambda o: close(o, -(log_px_z + beta * kl).mean()),
                 f"the KL is added; it is a penalty, subtracted from the reconstruction term: {formula}"),
                (lambda o: close(o, -(log_px_z - beta * kl).sum()),
                 f"you summed over the batch; average it (.mean()), so the loss does not grow with the batch size: "
                 f"{formula}"),
                (lambda o: not close(o, want),
                 lambda o: f"for beta = {beta:g} your loss is {fmt(o)}, expected {fmt(want)}; {formula}"),
            ])
        return run

    return run_check("2.1", "the beta-VAE loss", "return −mean(log_px_z − beta · kl)", fn,
                     [trial(4.0), trial(1.0), trial(0.5)],
                     hint="log_px_z and kl have shape (B,); return (-(log_px_z - beta * kl)).mean(), a 0-d tensor")


def _matches(out: Any, want: float) -> bool:
    return is_real_number(out) and math.isclose(number_value(out), want, rel_tol=1e-9, abs_tol=1e-9)


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


def dual_ascent(fn: Callable[[float, float, float, float], float]) -> bool:
    """Exercise 2.2: ``fn(beta, kl, epsilon, lr)`` -> max(0, beta + lr (kl − epsilon))."""
    formula = "beta ← max(0, beta + lr · (kl − epsilon))"
    cases = [  # (beta, kl, epsilon, lr, what the case shows)
        (1.0, 30.0, 20.0, 0.1, "the constraint KL < epsilon is violated (kl = 30 > epsilon = 20), so beta must grow"),
        (3.0, 15.0, 20.0, 0.1, "the constraint holds with slack (kl = 15 < epsilon = 20), so beta must shrink"),
        (0.2, 0.0, 20.0, 0.1, "beta would go below 0 here; a multiplier of an inequality constraint is never negative"),
        (2.0, 25.0, 25.0, 0.5, "kl equals epsilon: the constraint is active and beta stays where it is"),
        (0.7, 12.5, 10.0, 0.02, None),
    ]

    def trial(beta: float, kl: float, eps: float, lr: float, why: str | None) -> Callable:
        want = max(0.0, beta + lr * (kl - eps))
        at = f"beta={beta:g}, kl={kl:g}, epsilon={eps:g}, lr={lr:g}"

        def run(f: Callable) -> None:
            out = f(beta, kl, eps, lr)
            if _matches(out, want):
                return
            expect(out, [
                *_number_rules("the new beta", f"for {at}; {formula}"),
                (lambda o: number_value(o) < 0,
                 lambda o: f"the new beta is negative ({number_value(o):.3f}) for {at}: clip it at 0, {formula}"),
                (lambda o: math.isclose(number_value(o), max(0.0, beta - lr * (kl - eps)), abs_tol=1e-9) and kl != eps,
                 f"the step goes the wrong way for {at}: {why or 'beta follows the constraint violation kl − epsilon'}; "
                 f"{formula}"),
                (lambda o: math.isclose(number_value(o), beta + lr * (kl - eps), abs_tol=1e-9) and want != beta + lr * (kl - eps),
                 f"for {at} your beta is not clipped at 0: {why}; {formula}"),
                (lambda o: math.isclose(number_value(o), max(0.0, beta + (kl - eps)), abs_tol=1e-9) and lr != 1,
                 f"the step ignores the step size lr: {formula}"),
                (lambda o: math.isclose(number_value(o), max(0.0, lr * (kl - eps)), abs_tol=1e-9) and beta != 0,
                 f"the new beta should start from the old one: {formula}"),
                (lambda o: not math.isclose(number_value(o), want, rel_tol=1e-9, abs_tol=1e-9),
                 lambda o: f"for {at} you return {number_value(o):.4f}, expected {want:.4f}"
                           + (f" ({why})" if why else "") + f"; {formula}"),
            ])
        return run

    return run_check("2.2", "the dual-ascent step", "return max(0, beta + lr * (kl - epsilon))", fn,
                     [trial(*case) for case in cases], hint=f"{formula}; all four arguments are floats")


def capacity_schedule(fn: Callable[[int, float, int], float]) -> bool:
    """Exercise 2.3: ``fn(step, c_max, c_steps)`` -> C = c_max · min(step / c_steps, 1), in nats."""
    formula = "C = c_max · min(step / c_steps, 1)"
    cases = [(0, 25.0, 100_000), (25_000, 25.0, 100_000), (50_000, 25.0, 100_000), (100_000, 25.0, 100_000),
             (250_000, 25.0, 100_000), (7, 10.0, 20)]

    def trial(step: int, c_max: float, c_steps: int) -> Callable:
        want = c_max * min(step / c_steps, 1.0)
        at = f"step={step}, c_max={c_max:g}, c_steps={c_steps}"

        def run(f: Callable) -> None:
            out = f(step, c_max, c_steps)
            if _matches(out, want):
                return
            expect(out, [
                *_number_rules("the capacity C", f"at {at}; {formula}"),
                (lambda o: step > c_steps and math.isclose(number_value(o), c_max * step / c_steps, rel_tol=1e-9),
                 f"at {at} C kept growing past c_max: after c_steps the capacity is held at c_max; {formula}"),
                (lambda o: 0 < step < c_steps and math.isclose(number_value(o), c_max * (step // c_steps), abs_tol=1e-9),
                 f"at {at} C is {c_max * (step // c_steps):g}: integer division (//) rounds the progress down to 0; "
                 f"use step / c_steps; {formula}"),
                (lambda o: 0 < step < c_steps and math.isclose(number_value(o), min(step / c_steps, 1.0), rel_tol=1e-9),
                 f"at {at} you returned the fraction of the schedule done; multiply it by c_max (nats): {formula}"),
                (lambda o: math.isclose(number_value(o), c_max * (1 - min(step / c_steps, 1.0)), abs_tol=1e-9) and want != c_max / 2,
                 f"the schedule runs backwards at {at}: C rises from 0 to c_max; {formula}"),
                (lambda o: not math.isclose(number_value(o), want, rel_tol=1e-9, abs_tol=1e-9),
                 lambda o: f"at {at} you return C = {number_value(o):.4f}, expected {want:.4f}; {formula}"),
            ])
        return run

    return run_check("2.3", "the capacity schedule", "return c_max * min(step / c_steps, 1)", fn,
                     [trial(*case) for case in cases], hint=f"{formula}; step and c_steps are ints, c_max a float")


def active_latents(fn: Callable[[Tensor, float], Tensor]) -> bool:
    """Exercise 2.4: ``fn(kl, threshold)`` with per-example, per-dimension KLs (B, D) -> the indices of the
    dimensions whose batch-mean KL exceeds ``threshold``, most informative first (a LongTensor)."""
    from vaecourse.metrics.latent_kl import active_latents as reference

    B, D = 8, 6
    g = seeded(24)
    level = torch.tensor([0.01, 3.0, 0.02, 1.6, 9.0, 0.15], dtype=F64)  # (D,) active: 4, 1, 3 at 1 nat; 4, 1, 3, 5 at 0.1
    kl = level * (0.5 + torch.rand(B, D, generator=g, dtype=F64))  # (B, D)
    kl[:, 0] = 0.0
    kl[0, 0] = 0.5  # dimension 0: one image uses it (0.5 nats), the batch mean (0.0625) stays below 0.1
    formula = "mean over the batch (dim 0), keep the dimensions above the threshold, sort by decreasing mean KL"

    def trial(threshold: float) -> Callable:
        want = reference(kl, threshold)
        mean = kl.mean(dim=0)

        def run(f: Callable) -> None:
            out = f(kl.clone(), threshold)
            ascending = torch.argsort(mean)[mean[torch.argsort(mean)] > threshold]
            by_index = torch.nonzero(mean > threshold).flatten()
            by_sum = torch.argsort(kl.sum(0), descending=True)[kl.sum(0)[torch.argsort(kl.sum(0), descending=True)] > threshold]
            by_any = torch.argsort(mean, descending=True)[(kl > threshold).any(0)[torch.argsort(mean, descending=True)]]
            expect(out, [
                (lambda o: not isinstance(o, Tensor),
                 lambda o: f"return a torch.Tensor of dimension indices, got {describe(o)}"),
                device_rule("the result"),
                (lambda o: o.dtype == torch.bool,
                 "you returned a boolean mask; return the indices of the active dimensions (torch.nonzero or "
                 "argsort), most informative first"),
                (lambda o: o.is_floating_point() and shape_of(o) == (D,),
                 "you returned a KL per dimension; return the indices of the dimensions above the threshold"),
                (lambda o: o.is_floating_point(), "return integer indices (a LongTensor), not floats"),
                (lambda o: o.dim() != 1, lambda o: f"return a 1-d tensor of indices, got shape {shape_of(o)}"),
                (lambda o: o.numel() == D and len(want) < D,
                 f"you returned all {D} dimensions; keep only those whose batch-mean KL is above the threshold: "
                 f"{formula}"),
                (lambda o: torch.equal(o.long(), by_sum) and not torch.equal(by_sum, want),
                 f"you summed the KL over the batch; the threshold applies to the batch MEAN (nats per image): {formula}"),
                (lambda o: torch.equal(o.long(), by_any) and not torch.equal(by_any, want),
                 "dimension 0 is above the threshold for one image only: you kept a dimension that any example "
                 f"uses; average over the batch first: {formula}"),
                (lambda o: torch.equal(o.long(), ascending) and len(want) > 1,
                 f"the right dimensions, in increasing order of KL; put the most informative first: {formula}"),
                (lambda o: torch.equal(o.long(), by_index) and not torch.equal(by_index, want),
                 f"the right dimensions, in index order; sort them by decreasing mean KL: {formula}"),
                (lambda o: not torch.equal(o.long(), want),
                 lambda o: f"with threshold {threshold:g} you return {o.tolist()}, expected {want.tolist()} "
                           f"(batch-mean KL per dimension: {fmt(mean, 2)}); {formula}"),
            ])
        return run

    return run_check("2.4", "active latents", "return the dimensions whose batch-mean KL is above the threshold, "
                     "largest first", fn, [trial(1.0), trial(0.1), trial(100.0)],
                     hint="mean = kl.mean(dim=0); order = mean.argsort(descending=True); return order[mean[order] > threshold]")


__all__ = ["active_latents", "beta_vae_loss", "capacity_schedule", "dual_ascent"]
