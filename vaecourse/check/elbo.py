"""Exercise checks of chapter 1 (the ELBO): reparameterisation, Gaussian KL, Bernoulli log-likelihood, the ELBO."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from vaecourse.check.core import (ATOL, F64, Problem, Trial, as64, batch_shape_rules, close, expect, finite_rule, fmt,
                                  run_check, seeded, shape_of, tensor_rules, worst)
from vaecourse.distributions import kl_standard_normal


def reparameterize(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.1: ``fn(mu, logvar, eps)`` must return z = mu + exp(logvar / 2) * eps, shape (B, D)."""
    B, D = 5, 3
    g = seeded(11)
    mu, logvar = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
    eps, eps2 = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
    sigma = torch.exp(0.5 * logvar)
    want = mu + sigma * eps
    basic = tensor_rules("z", (B, D), meaning="one value per example and latent dimension, the shape of mu")

    def where(o: Any) -> str:
        (i, j), got, exp = worst(o, want)
        return (f"z differs from mu + exp(logvar / 2) * eps: at mu={mu[i, j]:.3f}, logvar={logvar[i, j]:.3f}, "
                f"eps={eps[i, j]:.3f} you return {got:.4f}, expected {exp:.4f}")

    def values(f: Callable) -> None:
        out = f(mu.clone(), logvar.clone(), eps.clone())
        again = f(mu.clone(), logvar.clone(), eps.clone())
        other = f(mu.clone(), logvar.clone(), eps2.clone())
        expect(out, [
            *basic,
            finite_rule("z", "sigma = exp(logvar / 2) is finite for these inputs"),
            (lambda o: close(o, mu + torch.exp(logvar) * eps),
             "you multiplied eps by exp(logvar), the variance sigma²; the standard deviation is "
             "sigma = exp(logvar / 2)"),
            (lambda o: close(o, mu + logvar * eps), "you multiplied eps by logvar itself; sigma = exp(logvar / 2)"),
            (lambda o: close(o, mu + torch.exp(-0.5 * logvar) * eps),
             "you multiplied eps by exp(-logvar / 2) = 1 / sigma; sigma = exp(logvar / 2)"),
            (lambda o: close(o, mu + eps),
             "z = mu + eps leaves out the spread: multiply eps by sigma = exp(logvar / 2)"),
            (lambda o: close(o, sigma * eps), "z is missing the mean: z = mu + sigma * eps"),
            (lambda o: not close(o, again),
             "calling your function twice with the same eps gave different z: you drew your own noise "
             "(torch.randn...); use the eps passed in, all the randomness must live there"),
            (lambda o: close(o, other),
             "z did not change when eps changed: your function ignores eps; z = mu + exp(logvar / 2) * eps"),
            (lambda o: not close(o, want), where),
        ])

    def gradients(f: Callable) -> None:
        m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
        out = expect(f(m, lv, eps.clone()), [
            *basic,
            (lambda o: not o.requires_grad,
             "z carries no gradient: something cut the graph (.detach(), .item(), .data, numpy, torch.tensor(...) "
             "or torch.no_grad()); the point of the trick is that dz/dmu and dz/dlogvar exist"),
        ])
        grad_mu, grad_logvar = torch.autograd.grad(out.sum(), [m, lv], allow_unused=True)
        cut = "something cut the graph (.detach(), .data, .item() or numpy)"
        if grad_mu is None:
            raise Problem(f"no gradient reaches mu: {cut}; dz/dmu should be 1")
        if grad_logvar is None:
            raise Problem(f"no gradient reaches logvar: {cut}; dz/dlogvar should be exp(logvar / 2) * eps / 2")
        if not (close(grad_mu, torch.ones_like(mu)) and close(grad_logvar, 0.5 * sigma * eps)):
            raise Problem("z has the right values but the wrong gradients: compute it from mu, logvar and eps "
                           "with differentiable torch operations")

    return run_check("1.1", "reparameterisation", "return z = mu + exp(logvar / 2) * eps", fn, [values, gradients],
                hint="z = mu + torch.exp(0.5 * logvar) * eps, with mu, logvar and eps all of shape (B, D)")


def gaussian_kl(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.2: ``fn(mu, logvar)`` → KL(N(mu, e^logvar) || N(0, I)) per example, (B,)."""
    B, D = 5, 3
    g = seeded(12)
    cases = [
        (torch.zeros(B, D, dtype=F64), torch.ones(B, D, dtype=F64), lambda i: "mu=0, logvar=1"),
        (1.5 * torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64), None),
    ]
    formula = "KL = ½ Σ_d (mu² + exp(logvar) − 1 − logvar)"

    def trial(mu: Tensor, logvar: Tensor, label: Callable[[int], str] | None) -> Trial:
        want = kl_standard_normal(mu, logvar)
        at = label or (lambda i: f"mu={fmt(mu[i])}, logvar={fmt(logvar[i])}")

        def run(f: Callable) -> None:
            expect(f(mu.clone(), logvar.clone()), [
                *tensor_rules("KL", (B,), meaning="one KL per example", shape_rules=[
                    *batch_shape_rules("KL", B, "KL", "sum over the latent dimensions only (.sum(dim=-1))"),
                    (lambda o: shape_of(o) == (B, D),
                     f"KL has shape ({B}, {D}) = (B, D): you forgot to sum over the latent dimensions; "
                     "the KL of a diagonal Gaussian is the sum of the per-dimension KLs, .sum(dim=-1)"),
                    (lambda o: shape_of(o) == (D,),
                     f"KL has shape ({D},) = (D,): you summed over the batch (dim 0); sum over the latent "
                     "dimensions instead, .sum(dim=-1)"),
                ]),
                finite_rule("KL", f"{formula} is finite for mu={fmt(mu[0])}, logvar={fmt(logvar[0])}"),
                (lambda o: close(o, 2 * want),
                 f"your KL is exactly twice the closed form: the factor ½ is missing; {formula}"),
                (lambda o: close(o, -want),
                 lambda o: f"KL came out negative ({fmt(o.min())}) for {at(0)}: your result is exactly −KL, "
                           "an overall sign is flipped; in the form −½ Σ (1 + logvar − mu² − exp(logvar)) the "
                           "minus in front matters"),
                (lambda o: close(o, 0.5 * (mu.pow(2) + torch.exp(0.5 * logvar) - 1.0 - logvar).sum(-1)),
                 "you used sigma = exp(logvar / 2) where the formula has the variance sigma² = exp(logvar); "
                 + formula),
                (lambda o: close(o, 0.5 * (mu.pow(2) + logvar.exp() - 1.0 + logvar).sum(-1)),
                 f"check the sign of the log-variance term: it is − logvar; {formula}"),
                (lambda o: close(o, want / D),
                 f"you averaged over the latent dimensions (.mean); sum them instead: {formula}"),
                (lambda o: (as64(o) < -ATOL).any(),
                 lambda o: f"KL came out negative ({fmt(o.min())}) for {at(int(as64(o).argmin()))}, "
                           "but a KL divergence is never negative: check the sign of the log-variance term (and that "
                           "mu is squared); " + formula),
                (lambda o: not close(o, want),
                 lambda o: (lambda i, got, exp: f"KL differs from the closed form by {abs(got - exp):.3g} at "
                                                f"{at(i[0])}: you return {got:.4f}, expected {exp:.4f}; {formula}"
                            )(*worst(o, want))),
            ])
        return run

    return run_check("1.2", "KL to the standard normal",
                "return the closed-form KL(q || N(0, I)) per example, summed over latent dimensions", fn,
                [trial(*case) for case in cases],
                hint=f"{formula}, with mu and logvar of shape (B, D); return shape (B,)")


def _bernoulli_reference(logits: Tensor, x: Tensor) -> Tensor:
    return (x * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(dim=1)


def bernoulli_log_likelihood(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.3: ``fn(logits, x)`` → log p(x|z) for a Bernoulli decoder, summed over pixels, (B,)."""
    B, shape = 4, (1, 28, 28)
    P = math.prod(shape)
    g = seeded(13)
    x = (torch.rand(B, *shape, generator=g, dtype=F64) < 0.3).to(F64)
    in_unit = 0.02 + 0.96 * torch.rand(B, *shape, generator=g, dtype=F64)  # logits that look like probabilities
    ordinary = 3.0 * torch.randn(B, *shape, generator=g, dtype=F64)
    extreme = 100.0 * torch.randn(B, *shape, generator=g, dtype=F64).sign()
    formula = "log p(x|z) = Σ_pixels [x · logits − softplus(logits)]"

    def trial(logits: Tensor, kind: str) -> Trial:
        want = _bernoulli_reference(logits, x)
        as_probs = (x * torch.log(logits) + (1 - x) * torch.log1p(-logits)).flatten(1).sum(dim=1)

        def run(f: Callable) -> None:
            rules = [
                *tensor_rules("the log-likelihood", (B,), meaning="one number per image", shape_rules=[
                    *batch_shape_rules("the log-likelihood", B, "log-likelihood",
                                        "sum over the pixels of each image only (.flatten(1).sum(dim=1), or "
                                        "reduction='none' in F.binary_cross_entropy_with_logits)"),
                    (lambda o: shape_of(o) == shape_of(logits),
                     f"you returned one number per pixel, shape {shape_of(logits)}: sum over the pixels of each "
                     "image, .flatten(1).sum(dim=1), to get shape (B,)"),
                ]),
            ]
            if kind == "in_unit":
                rules.append((lambda o: close(o, as_probs, equal_nan=True),
                              "you treated the logits as probabilities (x·log(l) + (1−x)·log(1−l) on the logits, "
                              "or F.binary_cross_entropy without _with_logits); the decoder outputs logits l with "
                              f"p = sigmoid(l): {formula}"))
            if kind == "extreme":
                rules.append(finite_rule(
                    "the log-likelihood", "for logits of ±100, log(sigmoid(l)) or log(1 − sigmoid(l)) becomes "
                    f"log(0); write it with softplus, {formula} (or −F.binary_cross_entropy_with_logits(logits, x, "
                    "reduction='none') summed over pixels)"))
            else:
                rules.append(finite_rule(
                    "the log-likelihood", "for ordinary logits (between −12 and 12) this happens when logits are "
                    f"used as probabilities (log of a negative number); p = sigmoid(logits), and {formula}"))
            rules += [
                (lambda o: close(o, want / P),
                 f"you averaged over the pixels (a mean, {P} times too small): the log-likelihood of an image is "
                 "the SUM over its pixels, .flatten(1).sum(dim=1)"),
                (lambda o: close(o, -want),
                 "the sign is flipped: you returned the binary cross-entropy (positive, a loss); "
                 f"the log-likelihood is minus it and never positive: {formula}"),
                (lambda o: close(o, -want / P),
                 "you returned the mean binary cross-entropy per pixel: negate it and sum over pixels instead "
                 "of averaging"),
                (lambda o: (as64(o) > ATOL).any(),
                 lambda o: f"the log-likelihood came out positive ({fmt(o.max())}), but a log of probabilities "
                           f"of binary pixels is ≤ 0: check the signs; {formula}"),
            ]
            if kind == "extreme":
                rules.append((lambda o: not close(o, want),
                              lambda o: f"for logits of ±100 your result is off by up to "
                                        f"{abs(worst(o, want)[1] - worst(o, want)[2]):.3g} "
                                        "nats (log(sigmoid(l) + small) or clamping loses the tail): "
                                        f"write it with softplus, {formula}"))
            rules.append((lambda o: not close(o, want),
                          lambda o: (lambda i, got, exp: f"image {i[0]} scores {got:.4f}, expected {exp:.4f}; "
                                                         + formula)(*worst(o, want))))
            expect(f(logits.clone(), x.clone()), rules)
        return run

    return run_check("1.3", "Bernoulli log-likelihood",
                "return log p(x|z) for Bernoulli pixels given the decoder's logits, summed over pixels", fn,
                [trial(in_unit, "in_unit"), trial(ordinary, "ordinary"), trial(extreme, "extreme")],
                hint=f"{formula}, with logits and x of shape (B, C, H, W); return shape (B,)")


def _small_vae(seed: int = 14):
    """A tiny untrained MNIST-sized VAE in float64, its encoder sharpened so that the KL is a few nats."""
    from vaecourse.models.vae import VAE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VAE(latent_dim=4, encoder="mlp28", image_shape=(1, 28, 28)).to(F64).eval()
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(10.0)
        last.bias.mul_(10.0)
    return model


def elbo(fn: Callable[[Any, Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.4: ``fn(model, x, eps)`` → per-example ELBO, (B,): log p(x|z) − KL(q(z|x) || N(0, I))."""
    B = 5
    g = seeded(15)
    x = (torch.rand(B, 1, 28, 28, generator=g, dtype=F64) < 0.3).to(F64)
    eps = torch.randn(B, 4, generator=g, dtype=F64)
    formula = "ELBO = model.decode(z).log_prob(x) − KL(q || N(0, I)) with z = q.mu + exp(q.logvar / 2) · eps"

    def run(f: Callable) -> None:
        model = _small_vae()
        with torch.no_grad():
            q = model.encode(x)
            kl = kl_standard_normal(q.mu, q.logvar)
            rec = model.decode(q.mu + torch.exp(0.5 * q.logvar) * eps).log_prob(x)
            rec_at_mu = model.decode(q.mu).log_prob(x)
        want = rec - kl
        out = f(model, x.clone(), eps.clone())
        again = f(_small_vae(), x.clone(), eps.clone())
        expect(out, [
            *tensor_rules("the ELBO", (B,), meaning="one ELBO per example", shape_rules=batch_shape_rules(
                "the ELBO", B, "ELBO", "keep log p(x|z) and the KL per example")),
            finite_rule("the ELBO", formula),
            (lambda o: close(o, -want),
             "the sign is flipped: you returned the loss (−ELBO); return the ELBO itself, " + formula),
            (lambda o: close(o, rec), "the KL term is missing: your result equals log p(x|z) alone; " + formula),
            (lambda o: close(o, rec + kl), "you added the KL; it is subtracted: " + formula),
            (lambda o: close(o, -rec - kl) or close(o, -rec + kl),
             "the signs are mixed up: " + formula),
            (lambda o: close(o, rec_at_mu - kl) or close(o, rec_at_mu),
             "you decoded z = q.mu and ignored eps: sample z = q.mu + exp(q.logvar / 2) · eps"),
            (lambda o: not close(o, again),
             "two calls with the same model, x and eps gave different ELBOs: you drew your own noise "
             "(model(x) or q.rsample()); build z from the eps passed in: z = q.mu + exp(q.logvar / 2) · eps"),
            (lambda o: not close(o, want),
             lambda o: (lambda i, got, exp: f"example {i[0]} has ELBO {got:.4f}, expected {exp:.4f} "
                                            f"(its KL is {kl[i[0]]:.4f}); {formula}")(*worst(o, want))),
        ])

    return run_check("1.4", "the ELBO", "return the per-example ELBO, log p(x|z) − KL(q(z|x) || N(0, I))", fn, [run],
                hint="q = model.encode(x); z = q.mu + torch.exp(0.5 * q.logvar) * eps; "
                     "return model.decode(z).log_prob(x) − KL, each of shape (B,)")


__all__ = ["bernoulli_log_likelihood", "elbo", "gaussian_kl", "reparameterize"]
