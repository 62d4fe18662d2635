"""Exercise checks with feedback: ``check.<name>(your_function)`` prints a verdict and returns True/False.

A notebook calls a check after each exercise and falls back to the library when it fails::

    if not check.gaussian_kl(gaussian_kl):
        gaussian_kl = distributions.kl_standard_normal

Each check runs the learner's function on fixed inputs (fixed seeds, float64), compares with the library's
reference and, when they differ, names the typical mistake in the learner's terms. A check never raises:
an unsolved stub (``NotImplementedError("Exercise 1.2: ...")``) prints "not done yet", any other exception
prints its type and message with a hint, and both return False.

Adding a check takes a few lines: write trials (functions of the learner's ``fn`` that call it on cloned
inputs and pass the output to :func:`_expect` with a list of ``(condition, message)`` diagnostics, checked in
order; the first condition that holds is the verdict), then hand them to :func:`_run`.
"""

from __future__ import annotations

import math
import os
import traceback
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

FALLBACK = "The rest of the notebook uses the library's version for now."
F64 = torch.float64
RTOL, ATOL = 1e-5, 1e-6

Rule = tuple[Callable[[Any], Any], Any]  # (condition on the learner's output, message or message(output))
Trial = Callable[[Callable[..., Any]], None]


# --------------------------------------------------------------------------------------------------- framework
class _Problem(Exception):
    """A mistake found in the learner's output; its message is shown as the verdict."""


def _verdict(out: Any, rules: Sequence[Rule]) -> str | None:
    """The message of the first rule whose condition holds on ``out``, or None when none does.

    A condition that cannot be evaluated (say, on an output of the wrong type) simply does not hold.
    """
    for condition, message in rules:
        try:
            hit = bool(condition(out))
        except Exception:
            continue
        if hit:
            try:
                return message(out) if callable(message) else str(message)
            except Exception:
                return "the result is not what the exercise asks for"
    return None


def _expect(out: Any, rules: Sequence[Rule]) -> Any:
    """Raise :class:`_Problem` with the first matching diagnostic; return ``out`` when none matches."""
    problem = _verdict(out, rules)
    if problem is not None:
        raise _Problem(problem)
    return out


def _todo(error: BaseException, exercise: str, default: str) -> str:
    """What to do, from the stub's own message ``Exercise N.M: what to do`` when it names this exercise."""
    text = str(error).strip()
    prefix = f"Exercise {exercise}:"
    if text.startswith(prefix):
        text = text[len(prefix):].strip().rstrip(".")
        if text:
            return text
    return default


def _where(error: BaseException) -> str:
    """' (in name, line N: `code`)' for the innermost frame of the learner's code (outside torch and vaecourse)."""
    try:
        libraries = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (torch, _package()))
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if not os.path.abspath(f.filename).startswith(libraries)]
        if frames:
            frame = frames[-1]
            code = f": `{frame.line.strip()}`" if frame.line else ""
            return f" (in {frame.name}, line {frame.lineno}{code})"
    except Exception:
        pass
    return ""


def _package():
    import vaecourse

    return vaecourse


def _run(exercise: str, title: str, todo: str, fn: Any, trials: Sequence[Trial], hint: str = "") -> bool:
    """Run the trials on ``fn``; print one verdict; return True when all pass. Never raises."""
    header = f"Exercise {exercise} ({title})"
    try:
        if not callable(fn):
            raise _Problem(f"expected your function, got {type(fn).__name__}: pass the function itself, "
                           "without calling it, e.g. check.gaussian_kl(gaussian_kl)")
        for trial in trials:
            trial(fn)
    except _Problem as problem:
        print(f"❌ {header}: {problem}\n   {FALLBACK}")
        return False
    except NotImplementedError as error:
        print(f"Exercise {exercise} is not done yet: {_todo(error, exercise, todo)}. {FALLBACK}")
        return False
    except Exception as error:  # the learner's code failed: explain, never re-raise
        message = str(error).strip().splitlines()
        message = message[0] if message else ""
        print(f"❌ {header}: your function raised {type(error).__name__}: {message}{_where(error)}"
              + (f"\n   Hint: {hint}" if hint else "") + f"\n   {FALLBACK}")
        return False
    print(f"✅ {header}: matches the library on every test case.")
    return True


# ------------------------------------------------------------------------------------------------------ helpers
def _as64(x: Any) -> Tensor:
    return torch.as_tensor(x.detach() if isinstance(x, Tensor) else x).to(F64)


def _close(out: Any, ref: Tensor, rtol: float = RTOL, atol: float = ATOL, equal_nan: bool = False) -> bool:
    """Same shape and allclose (in float64); False for anything that cannot be compared."""
    try:
        out = _as64(out)
        return tuple(out.shape) == tuple(ref.shape) and torch.allclose(out, _as64(ref), rtol=rtol, atol=atol,
                                                                      equal_nan=equal_nan)
    except Exception:
        return False


def _fmt(x: Any, digits: int = 3) -> str:
    """A number or a small tensor, rounded for a message."""
    x = _as64(x)
    if x.dim() == 0:
        return f"{x.item():.{digits}f}"
    return "[" + ", ".join(f"{v:.{digits}f}" for v in x.flatten().tolist()) + "]"


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def _worst(out: Any, ref: Tensor) -> tuple[tuple[int, ...], float, float]:
    """Index of the largest difference, the learner's value there and the expected one."""
    diff = (_as64(out) - _as64(ref)).abs().nan_to_num(nan=math.inf)
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    return index, float(_as64(out)[index]), float(_as64(ref)[index])


def _tensor_rules(name: str, shape: tuple[int, ...], shape_rules: Sequence[Rule] = (),
                  meaning: str = "") -> list[Rule]:
    """The first diagnostics of every check: a floating tensor of the right shape with finite values."""
    return [
        (lambda o: not isinstance(o, Tensor),
         lambda o: f"{name} should be a torch.Tensor, got {type(o).__name__}"
                   + (": keep it a tensor (no .item(), float() or numpy)" if isinstance(o, (int, float)) else "")),
        (lambda o: not o.is_floating_point(),
         lambda o: f"{name} has dtype {o.dtype}; it should be a floating-point tensor"),
        *shape_rules,
        (lambda o: _shape(o) != shape,
         lambda o: f"{name} has shape {_shape(o)}, expected {shape}" + (f": {meaning}" if meaning else "")),
    ]


def _batch_shape_rules(name: str, batch: int, per: str, reduce_hint: str) -> list[Rule]:
    """A single number where one value per example is wanted: the batch was summed or averaged."""
    return [(lambda o: o.numel() == 1 and o.dim() <= 1,
             lambda o: f"{name} is a single number ({_fmt(o.reshape(()))}), expected one {per} per example, "
                       f"shape ({batch},): {reduce_hint}, never over the batch (the training loss averages "
                       "over the batch later)")]


def _finite_rule(name: str, message: str) -> Rule:
    return (lambda o: not torch.isfinite(o).all(), f"{name} contains NaN or inf: {message}")


# ---------------------------------------------------------------------------------------- chapter 1 (the ELBO)
def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reparameterize(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.1: ``fn(mu, logvar, eps)`` must return z = mu + exp(logvar / 2) * eps, shape (B, D)."""
    B, D = 5, 3
    g = _generator(11)
    mu, logvar = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
    eps, eps2 = torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64)
    sigma = torch.exp(0.5 * logvar)
    want = mu + sigma * eps
    basic = _tensor_rules("z", (B, D), meaning="one value per example and latent dimension, the shape of mu")

    def where(o: Any) -> str:
        (i, j), got, exp = _worst(o, want)
        return (f"z differs from mu + exp(logvar / 2) * eps: at mu={mu[i, j]:.3f}, logvar={logvar[i, j]:.3f}, "
                f"eps={eps[i, j]:.3f} you return {got:.4f}, expected {exp:.4f}")

    def values(f: Callable) -> None:
        out = f(mu.clone(), logvar.clone(), eps.clone())
        again = f(mu.clone(), logvar.clone(), eps.clone())
        other = f(mu.clone(), logvar.clone(), eps2.clone())
        _expect(out, [
            *basic,
            _finite_rule("z", "sigma = exp(logvar / 2) is finite for these inputs"),
            (lambda o: _close(o, mu + torch.exp(logvar) * eps),
             "you multiplied eps by exp(logvar), the variance sigma²; the standard deviation is "
             "sigma = exp(logvar / 2)"),
            (lambda o: _close(o, mu + logvar * eps), "you multiplied eps by logvar itself; sigma = exp(logvar / 2)"),
            (lambda o: _close(o, mu + torch.exp(-0.5 * logvar) * eps),
             "you multiplied eps by exp(-logvar / 2) = 1 / sigma; sigma = exp(logvar / 2)"),
            (lambda o: _close(o, mu + eps),
             "z = mu + eps leaves out the spread: multiply eps by sigma = exp(logvar / 2)"),
            (lambda o: _close(o, sigma * eps), "z is missing the mean: z = mu + sigma * eps"),
            (lambda o: not _close(o, again),
             "calling your function twice with the same eps gave different z: you drew your own noise "
             "(torch.randn...); use the eps passed in, all the randomness must live there"),
            (lambda o: _close(o, other),
             "z did not change when eps changed: your function ignores eps; z = mu + exp(logvar / 2) * eps"),
            (lambda o: not _close(o, want), where),
        ])

    def gradients(f: Callable) -> None:
        m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
        out = _expect(f(m, lv, eps.clone()), [
            *basic,
            (lambda o: not o.requires_grad,
             "z carries no gradient: something cut the graph (.detach(), .item(), .data, numpy, torch.tensor(...) "
             "or torch.no_grad()); the point of the trick is that dz/dmu and dz/dlogvar exist"),
        ])
        grad_mu, grad_logvar = torch.autograd.grad(out.sum(), [m, lv], allow_unused=True)
        cut = "something cut the graph (.detach(), .data, .item() or numpy)"
        if grad_mu is None:
            raise _Problem(f"no gradient reaches mu: {cut}; dz/dmu should be 1")
        if grad_logvar is None:
            raise _Problem(f"no gradient reaches logvar: {cut}; dz/dlogvar should be exp(logvar / 2) * eps / 2")
        if not (_close(grad_mu, torch.ones_like(mu)) and _close(grad_logvar, 0.5 * sigma * eps)):
            raise _Problem("z has the right values but the wrong gradients: compute it from mu, logvar and eps "
                           "with differentiable torch operations")

    return _run("1.1", "reparameterisation", "return z = mu + exp(logvar / 2) * eps", fn, [values, gradients],
                hint="z = mu + torch.exp(0.5 * logvar) * eps, with mu, logvar and eps all of shape (B, D)")


def _kl_closed(mu: Tensor, logvar: Tensor) -> Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def gaussian_kl(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.2: ``fn(mu, logvar)`` → KL(N(mu, e^logvar) || N(0, I)) per example, (B,)."""
    B, D = 5, 3
    g = _generator(12)
    cases = [
        (torch.zeros(B, D, dtype=F64), torch.ones(B, D, dtype=F64), lambda i: "mu=0, logvar=1"),
        (1.5 * torch.randn(B, D, generator=g, dtype=F64), torch.randn(B, D, generator=g, dtype=F64), None),
    ]
    formula = "KL = ½ Σ_d (mu² + exp(logvar) − 1 − logvar)"

    def trial(mu: Tensor, logvar: Tensor, label: Callable[[int], str] | None) -> Trial:
        want = _kl_closed(mu, logvar)
        at = label or (lambda i: f"mu={_fmt(mu[i])}, logvar={_fmt(logvar[i])}")

        def run(f: Callable) -> None:
            _expect(f(mu.clone(), logvar.clone()), [
                *_tensor_rules("KL", (B,), meaning="one KL per example", shape_rules=[
                    *_batch_shape_rules("KL", B, "KL", "sum over the latent dimensions only (.sum(dim=-1))"),
                    (lambda o: _shape(o) == (B, D),
                     f"KL has shape ({B}, {D}) = (B, D): you forgot to sum over the latent dimensions; "
                     "the KL of a diagonal Gaussian is the sum of the per-dimension KLs, .sum(dim=-1)"),
                    (lambda o: _shape(o) == (D,),
                     f"KL has shape ({D},) = (D,): you summed over the batch (dim 0); sum over the latent "
                     "dimensions instead, .sum(dim=-1)"),
                ]),
                _finite_rule("KL", f"{formula} is finite for mu={_fmt(mu[0])}, logvar={_fmt(logvar[0])}"),
                (lambda o: _close(o, 2 * want),
                 f"your KL is exactly twice the closed form: the factor ½ is missing; {formula}"),
                (lambda o: _close(o, -want),
                 lambda o: f"KL came out negative ({_fmt(o.min())}) for {at(0)}: your result is exactly −KL, "
                           "an overall sign is flipped; in the form −½ Σ (1 + logvar − mu² − exp(logvar)) the "
                           "minus in front matters"),
                (lambda o: _close(o, 0.5 * (mu.pow(2) + torch.exp(0.5 * logvar) - 1.0 - logvar).sum(-1)),
                 "you used sigma = exp(logvar / 2) where the formula has the variance sigma² = exp(logvar); "
                 + formula),
                (lambda o: _close(o, 0.5 * (mu.pow(2) + logvar.exp() - 1.0 + logvar).sum(-1)),
                 f"check the sign of the log-variance term: it is − logvar; {formula}"),
                (lambda o: _close(o, want / D),
                 f"you averaged over the latent dimensions (.mean); sum them instead: {formula}"),
                (lambda o: (_as64(o) < -ATOL).any(),
                 lambda o: f"KL came out negative ({_fmt(o.min())}) for {at(int(_as64(o).argmin()))}, "
                           "but a KL divergence is never negative: check the sign of the log-variance term (and that "
                           "mu is squared); " + formula),
                (lambda o: not _close(o, want),
                 lambda o: (lambda i, got, exp: f"KL differs from the closed form by {abs(got - exp):.3g} at "
                                                f"{at(i[0])}: you return {got:.4f}, expected {exp:.4f}; {formula}"
                            )(*_worst(o, want))),
            ])
        return run

    return _run("1.2", "KL to the standard normal",
                "return the closed-form KL(q || N(0, I)) per example, summed over latent dimensions", fn,
                [trial(*case) for case in cases],
                hint=f"{formula}, with mu and logvar of shape (B, D); return shape (B,)")


def _bernoulli_reference(logits: Tensor, x: Tensor) -> Tensor:
    return (x * logits - torch.nn.functional.softplus(logits)).flatten(1).sum(dim=1)


def bernoulli_log_likelihood(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Exercise 1.3: ``fn(logits, x)`` → log p(x|z) for a Bernoulli decoder, summed over pixels, (B,)."""
    B, shape = 4, (1, 28, 28)
    P = math.prod(shape)
    g = _generator(13)
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
                *_tensor_rules("the log-likelihood", (B,), meaning="one number per image", shape_rules=[
                    *_batch_shape_rules("the log-likelihood", B, "log-likelihood",
                                        "sum over the pixels of each image only (.flatten(1).sum(dim=1), or "
                                        "reduction='none' in F.binary_cross_entropy_with_logits)"),
                    (lambda o: _shape(o) == _shape(logits),
                     f"you returned one number per pixel, shape {_shape(logits)}: sum over the pixels of each "
                     "image, .flatten(1).sum(dim=1), to get shape (B,)"),
                ]),
            ]
            if kind == "in_unit":
                rules.append((lambda o: _close(o, as_probs, equal_nan=True),
                              "you treated the logits as probabilities (x·log(l) + (1−x)·log(1−l) on the logits, "
                              "or F.binary_cross_entropy without _with_logits); the decoder outputs logits l with "
                              f"p = sigmoid(l): {formula}"))
            if kind == "extreme":
                rules.append(_finite_rule(
                    "the log-likelihood", "for logits of ±100, log(sigmoid(l)) or log(1 − sigmoid(l)) becomes "
                    f"log(0); write it with softplus, {formula} (or −F.binary_cross_entropy_with_logits(logits, x, "
                    "reduction='none') summed over pixels)"))
            else:
                rules.append(_finite_rule(
                    "the log-likelihood", "for ordinary logits (between −12 and 12) this happens when logits are "
                    f"used as probabilities (log of a negative number); p = sigmoid(logits), and {formula}"))
            rules += [
                (lambda o: _close(o, want / P),
                 f"you averaged over the pixels (a mean, {P} times too small): the log-likelihood of an image is "
                 "the SUM over its pixels, .flatten(1).sum(dim=1)"),
                (lambda o: _close(o, -want),
                 "the sign is flipped: you returned the binary cross-entropy (positive, a loss); "
                 f"the log-likelihood is minus it and never positive: {formula}"),
                (lambda o: _close(o, -want / P),
                 "you returned the mean binary cross-entropy per pixel: negate it and sum over pixels instead "
                 "of averaging"),
                (lambda o: (_as64(o) > ATOL).any(),
                 lambda o: f"the log-likelihood came out positive ({_fmt(o.max())}), but a log of probabilities "
                           f"of binary pixels is ≤ 0: check the signs; {formula}"),
            ]
            if kind == "extreme":
                rules.append((lambda o: not _close(o, want),
                              lambda o: f"for logits of ±100 your result is off by up to "
                                        f"{abs(_worst(o, want)[1] - _worst(o, want)[2]):.3g} "
                                        "nats (log(sigmoid(l) + small) or clamping loses the tail): "
                                        f"write it with softplus, {formula}"))
            rules.append((lambda o: not _close(o, want),
                          lambda o: (lambda i, got, exp: f"image {i[0]} scores {got:.4f}, expected {exp:.4f}; "
                                                         + formula)(*_worst(o, want))))
            _expect(f(logits.clone(), x.clone()), rules)
        return run

    return _run("1.3", "Bernoulli log-likelihood",
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
    from vaecourse.distributions import kl_standard_normal

    B = 5
    g = _generator(15)
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
        _expect(out, [
            *_tensor_rules("the ELBO", (B,), meaning="one ELBO per example", shape_rules=_batch_shape_rules(
                "the ELBO", B, "ELBO", "keep log p(x|z) and the KL per example")),
            _finite_rule("the ELBO", formula),
            (lambda o: _close(o, -want),
             "the sign is flipped: you returned the loss (−ELBO); return the ELBO itself, " + formula),
            (lambda o: _close(o, rec), "the KL term is missing: your result equals log p(x|z) alone; " + formula),
            (lambda o: _close(o, rec + kl), "you added the KL; it is subtracted: " + formula),
            (lambda o: _close(o, -rec - kl) or _close(o, -rec + kl),
             "the signs are mixed up: " + formula),
            (lambda o: _close(o, rec_at_mu - kl) or _close(o, rec_at_mu),
             "you decoded z = q.mu and ignored eps: sample z = q.mu + exp(q.logvar / 2) · eps"),
            (lambda o: not _close(o, again),
             "two calls with the same model, x and eps gave different ELBOs: you drew your own noise "
             "(model(x) or q.rsample()); build z from the eps passed in: z = q.mu + exp(q.logvar / 2) · eps"),
            (lambda o: not _close(o, want),
             lambda o: (lambda i, got, exp: f"example {i[0]} has ELBO {got:.4f}, expected {exp:.4f} "
                                            f"(its KL is {kl[i[0]]:.4f}); {formula}")(*_worst(o, want))),
        ])

    return _run("1.4", "the ELBO", "return the per-example ELBO, log p(x|z) − KL(q(z|x) || N(0, I))", fn, [run],
                hint="q = model.encode(x); z = q.mu + torch.exp(0.5 * q.logvar) * eps; "
                     "return model.decode(z).log_prob(x) − KL, each of shape (B,)")


__all__ = ["bernoulli_log_likelihood", "elbo", "gaussian_kl", "reparameterize"]
