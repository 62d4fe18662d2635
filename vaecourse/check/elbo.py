"""Exercise checks of chapter 1 (the ELBO): reparameterisation, Gaussian KL, Bernoulli log-likelihood, the ELBO.

Each check tries the first test case on fixed seeds, then other batch and latent sizes on data drawn from a fresh
seed; it compares the gradients that training needs with the reference's, runs the log-likelihood in float32 at
logits of ±40 to ±160, and fails a function that changes its inputs.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any, Callable

import torch
from torch import Tensor

from vaecourse.check.core import (ATOL, F64, Trial, across_sizes, as64, assumed, batch_shape_rules, called, close,
                                  compare_gradients, differs, expect, finite_rule, float32_rules, fmt, gradient_trial,
                                  own_state, run_check, shape_of, tensor_rules)
from vaecourse.distributions import kl_standard_normal

SIZES = assumed("a batch size or a latent size (the notebook's model has others than the first test case)",
                "the inputs (mu.shape, x.shape)")
UNCHANGED = "Notebook 01 calls your function again on the same tensors, so a changed input spoils what follows"


EXTREME = ("at means up to ±30 and log-variances of ±10 to ±25 (a model's encoder reaches them, and the library "
           "allows log-variances up to ±30): clamping mu, logvar or sigma, or flooring sigma, changes the result there")


def _extreme_posteriors(B: int, D: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Means up to ±30 and log-variances of ±10 to ±25, (B, D) float64 with B, D >= 2: positive log-variances in the
    even rows, negative ones in the odd rows (so a per-example sum is not swamped by one e^25), and the extremes where
    a clamp shows: logvar +25 and −25 beside a small mean (0: the tolerance is then absolute, 1e-6), means ±30
    beside moderate spreads. A clamp of mu, logvar or
    sigma anywhere inside these ranges changes z and the KL; float32 computes both to 1e-7 here (e^25 ≈ 7e10)."""
    mu = 30.0 * (2 * torch.rand(B, D, generator=g, dtype=F64) - 1)
    sign = torch.tensor([1.0 if b % 2 == 0 else -1.0 for b in range(B)], dtype=F64)[:, None]
    logvar = (10.0 + 15.0 * torch.rand(B, D, generator=g, dtype=F64)) * sign
    mu[0, 0], logvar[0, 0] = 0.5, 25.0
    mu[1, 0], logvar[1, 0] = 0.0, -25.0
    mu[0, 1], logvar[0, 1] = -30.0, 12.0
    mu[1, 1], logvar[1, 1] = 30.0, -12.0
    return mu, logvar


def _reference_z(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    return mu + torch.exp(0.5 * logvar) * eps


@own_state
def reparameterize(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.1: ``fn(mu, logvar, eps)`` must return z = mu + exp(logvar / 2) * eps, shape (B, D)."""
    formula = "z = mu + sigma * eps with sigma = exp(logvar / 2)"
    why = ("The trick exists so that z is a differentiable function of mu and logvar: notebook 01 trains the encoder "
           "through z, and without these gradients it would not learn")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B, D = sizes["B"], sizes["D"]
        mu, logvar = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
        eps, eps2 = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
        sigma = torch.exp(0.5 * logvar)
        want = mu + sigma * eps
        basic = tensor_rules("z", (B, D), meaning="one value per example and latent dimension, the shape of mu")

        def at(i: tuple[int, ...]) -> str:
            return f"mu={fmt(mu[i])}, logvar={fmt(logvar[i])}, eps={fmt(eps[i])}"

        def call(f: Callable, noise: Tensor) -> Any:
            return called(f, (mu.clone(), logvar.clone(), noise.clone()), ("mu", "logvar", "eps"), UNCHANGED)

        def values(f: Callable) -> None:
            out, again, other = call(f, eps), call(f, eps), call(f, eps2)
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
                 "z = mu + eps leaves out the spread: eps must be scaled by the standard deviation"),
                (lambda o: close(o, sigma * eps), "z is missing the mean mu"),
                (lambda o: not close(o, again),
                 "calling your function twice with the same eps gave different z: you drew your own noise "
                 "(torch.randn...); use the eps passed in, all the randomness must live there"),
                (lambda o: close(o, other),
                 "z did not change when eps changed: your function ignores eps"),
                (lambda o: not close(o, want), lambda o: f"z differs from {formula}: {differs(o, want, at)}"),
            ])

        far_mu, far_logvar = _extreme_posteriors(B, D, g)
        far_eps = torch.randn(B, D, generator=g, dtype=F64)
        far_eps[0, 0], far_eps[1, 0] = 1.0, -3.0  # sigma e^12.5 and 3 e^-12.5 (beside mu = 0) fully in z
        far_want = _reference_z(far_mu, far_logvar, far_eps)
        far_size = far_mu.abs() + torch.exp(0.5 * far_logvar) * far_eps.abs()  # where mu and sigma·eps cancel, z's
        # float32 rounding is that of its terms: the tolerance is relative to them, elementwise

        def far_close(o: Any) -> bool:
            return shape_of(o) == (B, D) and bool(((as64(o) - far_want).abs() <= 1e-6 + 1e-5 * far_size).all())

        def extreme(f: Callable) -> None:
            expect(called(f, (far_mu.clone(), far_logvar.clone(), far_eps.clone()), ("mu", "logvar", "eps"),
                          UNCHANGED), [
                *basic,
                finite_rule("z", f"sigma = exp(logvar / 2) is finite {EXTREME.split(':')[0]}"),
                (lambda o: not far_close(o),
                 lambda o: f"z differs from {formula} " + differs(o, far_want, lambda i: (
                     f"mu={fmt(far_mu[i])}, logvar={fmt(far_logvar[i])}, eps={fmt(far_eps[i])}")) + f"; {EXTREME}"),
            ])

        gradients = gradient_trial(_reference_z, lambda: (mu, logvar, eps), {0: "mu", 1: "logvar"}, basic, "z", why)
        return [values, extreme, gradients]

    return run_check("1.1", "reparameterisation",
                     "compute z from mu, logvar and the noise eps you are given (lecture section 3)", fn,
                     across_sizes(build, {"B": 5, "D": 3}, {"B": (2, 128), "D": (2, 9)}, seed=11, advice=SIZES),
                     hint=f"{formula}, elementwise on tensors of shape (B, D), with torch operations only")


@own_state
def gaussian_kl(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.2: ``fn(mu, logvar)`` → KL(N(mu, e^logvar) || N(0, I)) per example, (B,)."""
    formula = "KL = ½ Σ_d (mu² + exp(logvar) − 1 − logvar)"
    why = ("Notebook 01 trains with your KL: without its gradient the loss would show the KL's value, but the "
           "optimiser would never press q(z|x) towards the prior")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B, D = sizes["B"], sizes["D"]
        cases = [
            (torch.zeros(B, D, dtype=F64), torch.ones(B, D, dtype=F64), lambda i: "mu=0, logvar=1"),
            (1.5 * torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64), None),
            # log-variances of ±12 to ±25 (the library allows 30): a KL that clamps logvar to ±10 is wrong there
            (torch.zeros(B, D, dtype=F64), (12.0 + 13.0 * torch.rand(B, D, generator=g, dtype=F64)) * torch.randn(
                B, D, generator=g, dtype=F64).sign(), None),
            (*_extreme_posteriors(B, D, g), None),  # and means up to ±30: a clamp of mu, logvar or sigma is wrong
        ]
        basic = tensor_rules("KL", (B,), meaning="one KL per example", shape_rules=[
            *batch_shape_rules("KL", B, "KL", "sum over the latent dimensions only"),
            (lambda o: shape_of(o) == (B, D),
             f"KL has shape ({B}, {D}) = (B, D): you forgot to sum over the latent dimensions; "
             "the KL of a diagonal Gaussian is the sum of the per-dimension KLs"),
            (lambda o: shape_of(o) == (D,),
             f"KL has shape ({D},) = (D,): you summed over the batch (dim 0); sum over the latent "
             "dimensions (the last one) instead"),
        ])

        def trial(mu: Tensor, logvar: Tensor, label: Callable[[int], str] | None) -> Trial:
            want = kl_standard_normal(mu, logvar)
            at = label or (lambda i: f"mu={fmt(mu[i])}, logvar={fmt(logvar[i])}")

            def misread(other: Tensor) -> Callable[[Any], bool]:  # a typical slip, where it differs from the KL here
                return lambda o: close(o, other) and not close(other, want)

            def run(f: Callable) -> None:
                expect(called(f, (mu.clone(), logvar.clone()), ("mu", "logvar"), UNCHANGED), [
                    *basic,
                    finite_rule("KL", f"{formula} is finite for mu={fmt(mu[0])}, logvar={fmt(logvar[0])}"),
                    (misread(2 * want),
                     f"your KL is exactly twice the closed form: the factor ½ is missing; {formula}"),
                    (misread(-want),
                     lambda o: f"KL came out negative ({fmt(o.min())}) for {at(0)}: your result is exactly −KL, "
                               "an overall sign is flipped; in the form −½ Σ (1 + logvar − mu² − exp(logvar)) the "
                               "minus in front matters"),
                    (misread(0.5 * (mu.pow(2) + torch.exp(0.5 * logvar) - 1.0 - logvar).sum(-1)),
                     "you used sigma = exp(logvar / 2) where the formula has the variance sigma² = exp(logvar); "
                     + formula),
                    (misread(0.5 * (mu.pow(2) + logvar.exp() - 1.0 + logvar).sum(-1)),
                     f"check the sign of the log-variance term: it is − logvar; {formula}"),
                    (misread(want / mu.shape[1]),
                     f"you averaged over the latent dimensions (.mean); sum them instead: {formula}"),
                    (lambda o: (as64(o) < -ATOL).any(),
                     lambda o: f"KL came out negative ({fmt(o.min())}) for {at(int(as64(o).argmin()))}, "
                               "but a KL divergence is never negative: check the sign of the log-variance term "
                               "(and that mu is squared); " + formula),
                    (lambda o: not close(o, want),
                     lambda o: f"KL differs from the closed form {differs(o, want, lambda i: at(i[0]))}; {formula}"
                               + (f" ({EXTREME})" if mu.abs().max() > 10 or logvar.abs().max() > 10 else "")),
                ])
            return run

        mu, logvar = cases[1][0], cases[1][1]
        gradients = gradient_trial(kl_standard_normal, lambda: (mu, logvar), {0: "mu", 1: "logvar"}, basic, "KL", why)
        return [*(trial(*case) for case in cases), gradients]

    return run_check("1.2", "KL to the standard normal",
                     "compute the closed-form KL(q(z|x) || N(0, I)) per example from mu and logvar", fn,
                     across_sizes(build, {"B": 5, "D": 3}, {"B": (2, 128), "D": (2, 9)}, seed=12, advice=SIZES),
                     hint=f"{formula}, with mu and logvar of shape (B, D); return shape (B,)")


def _bernoulli_reference(logits: Tensor, x: Tensor) -> Tensor:
    return (x * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(dim=1)


@own_state
def bernoulli_log_likelihood(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.3: ``fn(logits, x)`` → log p(x|z) for a Bernoulli decoder, summed over pixels, (B,)."""
    formula = "log p(x|z) = Σ_pixels [x · logits − softplus(logits)]"
    stable = ("log(1 + exp(l)) overflows (exp(100) is inf in float32), and log(sigmoid(l)) or log(1 − sigmoid(l)) "
              "reaches log(0) (sigmoid(−100) is 0 in float32, 1 − sigmoid(100) is 0 even in float64): write it with "
              f"softplus, {formula}, or with torch's logits-based binary cross-entropy, which are stable")
    why = ("Notebook 01 trains the decoder through your log-likelihood: without its gradient the decoder would not "
           "learn to draw")

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B, shape = sizes["B"], (sizes["C"], sizes["H"], sizes["W"])
        P = math.prod(shape)
        x = (torch.rand(B, *shape, generator=g, dtype=F64) < 0.3).to(F64)
        in_unit = 0.02 + 0.96 * torch.rand(B, *shape, generator=g, dtype=F64)  # logits that look like probabilities
        ordinary = 3.0 * torch.randn(B, *shape, generator=g, dtype=F64)
        extreme = (40.0 + 120.0 * torch.rand(B, *shape, generator=g, dtype=F64)) * torch.randn(
            B, *shape, generator=g, dtype=F64).sign()  # ±40 to ±160: past torch's clamp of log at -100
        basic = tensor_rules("the log-likelihood", (B,), meaning="one number per image", shape_rules=[
            *batch_shape_rules("the log-likelihood", B, "log-likelihood",
                               "sum over the pixels of each image only (with reduction='none' if you use torch's "
                               "binary cross-entropy)"),
            (lambda o: shape_of(o) == (B, *shape),
             f"you returned one number per pixel, shape {(B, *shape)}: sum over all the pixels of each image "
             "(every dimension but the first) to get shape (B,)"),
        ])

        def call(f: Callable, logits: Tensor, target: Tensor = x) -> Any:
            return called(f, (logits.clone(), target.clone()), ("logits", "x"), UNCHANGED)

        def trial(logits: Tensor, kind: str) -> Trial:
            want = _bernoulli_reference(logits, x)
            as_probs = (x * torch.log(logits) + (1 - x) * torch.log1p(-logits)).flatten(1).sum(dim=1)

            def run(f: Callable) -> None:
                rules = list(basic)
                if kind == "in_unit":
                    rules.append((lambda o: close(o, as_probs, equal_nan=True),
                                  "you treated the logits as probabilities (x·log(l) + (1−x)·log(1−l) on the logits, "
                                  "or the binary cross-entropy that expects probabilities); the decoder outputs "
                                  f"logits l with p = sigmoid(l): {formula}"))
                if kind == "extreme":
                    rules.append(finite_rule("the log-likelihood", f"for logits of ±40 to ±160, {stable}"))
                else:
                    rules.append(finite_rule(
                        "the log-likelihood", "for ordinary logits (between −12 and 12) this happens when logits are "
                        f"used as probabilities (log of a negative number); p = sigmoid(logits), and {formula}"))
                rules += [
                    (lambda o: close(o, want / P),
                     f"you averaged over the pixels (a mean, {P} times too small): the log-likelihood of an image "
                     "is the SUM over its pixels"),
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
                                  lambda o: f"for logits of ±40 to ±160 your result is off: {differs(o, want, _image)} "
                                            f"(log(sigmoid(l) + small) or clamping loses the tail): {stable}"))
                rules.append((lambda o: not close(o, want), lambda o: f"{differs(o, want, _image)}; {formula}"))
                expect(call(f, logits), rules)
            return run

        logits32, x32 = extreme.float(), x.float()
        want32 = _bernoulli_reference(logits32.double(), x)

        def float32(f: Callable) -> None:
            expect(call(f, logits32, x32), [
                *tensor_rules("the log-likelihood", (B,), meaning="one number per image"),
                *float32_rules("the log-likelihood", want32, "at logits of ±40 to ±160", stable, rtol=1e-4, atol=1e-2),
            ])

        grey = torch.rand(B, *shape, generator=g, dtype=F64)  # targets in [0, 1]: the library's objectives take them
        want_grey = _bernoulli_reference(ordinary, grey)

        def grey_targets(f: Callable) -> None:
            try:
                out = call(f, ordinary, grey)
            except ValueError:  # torch's Bernoulli(logits=...).log_prob refuses x outside {0, 1}: right for binary data
                return
            expect(out, [*basic, (
                lambda o: not close(o, want_grey),
                lambda o: f"for grey pixels x in [0, 1] (not only 0 and 1) {differs(o, want_grey, _image)}: use x as "
                          f"it is, without rounding or thresholding it; {formula} holds for any x in [0, 1]")])

        gradients = gradient_trial(_bernoulli_reference, lambda: (ordinary, x), {0: "the logits"}, basic,
                                   "the log-likelihood", why)
        return [trial(in_unit, "in_unit"), trial(ordinary, "ordinary"), trial(extreme, "extreme"), float32,
                grey_targets, gradients]

    return run_check("1.3", "Bernoulli log-likelihood",
                     "compute log p(x|z) per image from the decoder's logits, summed over pixels, stable in float32",
                     fn, across_sizes(build, {"B": 4, "C": 1, "H": 28, "W": 28},
                                      {"B": (2, 128), "C": (2, 3), "H": (5, 12), "W": (5, 12)}, seed=13,
                                      advice=assumed("an image size", "logits.shape")),
                     hint=f"{formula}, with logits and x of shape (B, C, H, W); return shape (B,)")


def _image(i: tuple[int, ...]) -> str:
    return f"image {i[0]}"


def _small_vae(latent_dim: int = 4, seed: int = 14):
    """A tiny untrained MNIST-sized VAE in float64, its encoder sharpened so that the KL is a few nats: a fresh copy
    each call (the learner's function may not change it, and the gradient trials need their own weights)."""
    return copy.deepcopy(_built_vae(latent_dim, seed))


@functools.lru_cache(maxsize=4)
def _built_vae(latent_dim: int, seed: int):
    from vaecourse.models.vae import VAE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VAE(latent_dim=latent_dim, encoder="mlp28", image_shape=(1, 28, 28)).to(F64).eval()
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(10.0)
        last.bias.mul_(10.0)
    return model


def _model_leaves(model) -> dict[str, list[Tensor]]:
    return {"the encoder's weights": list(model.encoder.parameters()),
            "the decoder's weights": list(model.decoder.parameters())}


@own_state
def elbo(fn: Callable[[Any, Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.4: ``fn(model, x, eps)`` → per-example ELBO, (B,): log p(x|z) − KL(q(z|x) || N(0, I))."""
    formula = "ELBO = model.decode(z).log_prob(x) − KL(q || N(0, I)) with z = q.mu + exp(q.logvar / 2) · eps"
    why = ("Notebook 01 trains with your ELBO: a term that carries no gradient is not optimised (without the KL's "
           "gradient the model trains as a plain auto-encoder)")

    def terms(model, x: Tensor, eps: Tensor, detach: str = "") -> tuple[Tensor, Tensor]:
        q = model.encode(x)
        rec = model.decode(q.mu + torch.exp(0.5 * q.logvar) * eps).log_prob(x)
        kl = kl_standard_normal(q.mu, q.logvar)
        return (rec.detach() if detach == "rec" else rec), (kl.detach() if detach == "kl" else kl)

    def build(sizes: dict[str, int], g: torch.Generator) -> list[Trial]:
        B, D = sizes["B"], sizes["D"]
        x = (torch.rand(B, 1, 28, 28, generator=g, dtype=F64) < 0.3).to(F64)
        eps = torch.randn(B, D, generator=g, dtype=F64)
        model = _small_vae(D)
        with torch.no_grad():
            rec, kl = terms(model, x, eps)
            rec_at_mu = model.decode(model.encode(x).mu).log_prob(x)
        want = rec - kl
        basic = tensor_rules("the ELBO", (B,), meaning="one ELBO per example", shape_rules=batch_shape_rules(
            "the ELBO", B, "ELBO", "keep log p(x|z) and the KL per example"))

        def call(f: Callable, m) -> Any:
            return called(f, (m, x.clone(), eps.clone()), ("model", "x", "eps"), UNCHANGED)

        def values(f: Callable) -> None:
            out, again = call(f, _small_vae(D)), call(f, _small_vae(D))
            expect(out, [
                *basic,
                finite_rule("the ELBO", formula),
                (lambda o: close(o, -want),
                 "the sign is flipped: you returned the loss (−ELBO); return the ELBO itself, " + formula),
                (lambda o: close(o, rec), "the KL term is missing: your result equals log p(x|z) alone; " + formula),
                (lambda o: close(o, rec + kl), "you added the KL; it is subtracted: " + formula),
                (lambda o: close(o, -rec - kl) or close(o, -rec + kl),
                 "the signs are mixed up: " + formula),
                (lambda o: close(o, rec_at_mu - kl) or close(o, rec_at_mu),
                 "you decoded z = q.mu and ignored eps: the single sample of z is built from q and the eps you "
                 "are given"),
                (lambda o: not close(o, again),
                 "two calls with the same model, x and eps gave different ELBOs: you drew your own noise "
                 "(model(x) or q.rsample()); build z from the eps passed in"),
                (lambda o: not close(o, want),
                 lambda o: f"the ELBO {differs(o, want, lambda i: f'example {i[0]} (its KL is {fmt(kl[i[0]])})')}; "
                           f"{formula}"),
            ])

        def gradients(f: Callable) -> None:
            mine, theirs = _small_vae(D), _small_vae(D)
            out = expect(call(f, mine), basic)
            alternatives = []
            for detach, message in (("kl", "your ELBO has the right values, but its KL term carries no gradient "
                                           "(computed through .detach(), .item(), numpy or under torch.no_grad())"),
                                    ("rec", "your ELBO has the right values, but its reconstruction term log p(x|z) "
                                            "carries no gradient")):
                other = _small_vae(D)
                r, k = terms(other, x, eps, detach)
                alternatives.append((r - k, _model_leaves(other), message))
            r, k = terms(theirs, x, eps)
            compare_gradients(out, _model_leaves(mine), r - k, _model_leaves(theirs), "the ELBO", why, alternatives)

        return [values, gradients]

    return run_check("1.4", "the ELBO",
                     "compute the per-example ELBO of Eq. (1) from the model, x and the noise eps you are given", fn,
                     across_sizes(build, {"B": 5, "D": 4}, {"B": (2, 128), "D": (2, 9)}, seed=15, count=1,
                                  advice=assumed("a batch size or a latent size", "x.shape and eps.shape")),
                     hint="encode x, build z from q and eps as in Exercise 1.1, then take the decoder's "
                          "log-probability of x and subtract the KL of Exercise 1.2; each term has shape (B,)")


__all__ = ["bernoulli_log_likelihood", "elbo", "gaussian_kl", "reparameterize"]
