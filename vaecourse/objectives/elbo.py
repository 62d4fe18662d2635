"""The evidence lower bound and the importance-weighted bound, as per-example terms.

ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))                      [slides, Eq. 1]
L_k(x)  = E[ log 1/k sum_i p(x, z_i) / q(z_i|x) ],  z_i ~ q(z|x)           [burda2016, Eq. 8]

Reductions: sum over pixels and latent dimensions first, mean over the batch last; nats per example.
Shape letters: B batch, D latent dimensions, S importance samples in one chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from vaecourse import values
from vaecourse.distributions import log_normal


def non_negative(name: str, value: float) -> float:
    """``value`` as a float if it is a weight, a bound or a step size (``values.non_negative``: finite, >= 0, at most
    ``values.MAX_WEIGHT``, as the recipes' fields); else a ValueError naming ``name``."""
    return values.non_negative.check(name, value)


POSITION = values.real("a finite number >= 0 (a step or an epoch)", lambda v: v >= 0)  # a schedule's position


def schedule(*names: str):
    """Decorator: the objective reads these of the training schedule ("step", "epoch") as keywords.

    ``fit`` passes an objective exactly the schedule it declares (``@schedule("step")`` on a function, a
    ``schedule = ("step",)`` attribute on a callable class; seen through ``functools.partial``), and nothing to an
    objective that declares none: ``objective(output, x)``.
    """
    unknown = [name for name in names if name not in ("step", "epoch")]  # (a list or a number is not a name either)
    if unknown:
        raise ValueError(f"an objective's schedule is read as 'step' and/or 'epoch', got {values.shown(unknown)}")

    def declare(objective):
        values.function.check("the objective schedule() decorates", objective)
        objective.schedule = tuple(names)
        return objective
    return declare


@dataclass(frozen=True)
class Terms:
    """What an objective returns: per-example terms (B,), the scalar it optimises, and extras.

    ``elbo`` is always the true ELBO, whatever ``loss`` is (a beta, capacity or Lagrangian
    objective logs the real bound beside what it optimises).
    """

    log_px_z: Tensor  # (B,) single-sample estimate of E_q log p(x|z)
    kl: Tensor  # (B,) KL(q(z|x) || p(z))
    elbo: Tensor  # (B,) log_px_z - kl
    loss: Tensor  # () what the optimiser minimises
    extras: dict[str, Tensor] = field(default_factory=dict)  # e.g. {"beta": ..., "capacity": ...}

    def __post_init__(self):  # types only (an objective returns Terms at every training step)
        for name in ("log_px_z", "kl", "elbo", "loss"):
            value = getattr(self, name)
            if not isinstance(value, Tensor) or not value.is_floating_point():
                raise TypeError(f"Terms' {name} must be a real floating-point tensor, got {values.shown(value)}")
        shapes = {name: tuple(getattr(self, name).shape) for name in ("log_px_z", "kl", "elbo")}
        if len(set(shapes.values())) > 1:
            raise ValueError("Terms' log_px_z, kl and elbo must be per-example tensors of one shape (B,), got "
                             + ", ".join(f"{name} {shape}" for name, shape in shapes.items()))
        if self.loss.dim() != 0:
            raise ValueError(f"Terms' loss must be a scalar tensor (what the optimiser minimises), got shape "
                             f"{tuple(self.loss.shape)}")
        values.mapping.check("Terms' extras", self.extras)
        for key, value in self.extras.items():
            if not isinstance(key, str) or not isinstance(value, Tensor):
                raise TypeError(f"Terms' extras must map names to tensors, got {values.shown(key)}: "
                                f"{values.shown(value)}")

    def scalars(self) -> dict[str, Tensor]:
        """Batch means of every term, detached: what a log or a progress bar shows (nats per example)."""
        out = {"loss": self.loss.detach(), "elbo": self.elbo.detach().mean(),
               "log_px_z": self.log_px_z.detach().mean(), "kl": self.kl.detach().mean()}
        out.update({k: v.detach().float().mean() for k, v in self.extras.items()})
        return out


def check_target(output, x) -> Tensor:
    """``x``, the batch the model was given, checked against the output and in the output's dtype: a ValueError
    naming what was expected and what came for another shape, a non-float dtype, an empty batch or NaN/inf."""
    if not isinstance(getattr(output, "p_x", None), torch.distributions.Distribution) \
            or not isinstance(getattr(output, "z", None), Tensor):
        raise TypeError(f"the objective expected a model's output (model(x), with p_x, q_z and z), got "
                        f"{type(output).__name__}")
    expected = tuple(output.p_x.batch_shape + output.p_x.event_shape)
    if not isinstance(x, Tensor) or tuple(x.shape) != expected:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"the objective expected the batch the model was given, of shape {expected}, got {got}")
    if not x.is_floating_point():
        raise ValueError(f"the objective expected floating-point images, got dtype {x.dtype}")
    for name, tensor in (("x", x), ("the model's output z", output.z)):  # (Tensor.item() cannot read meta tensors)
        values.with_values(f"the objective's {name}", tensor, "the batch the model was given" if name == "x"
                           else "the model's latents")
    if x.device != output.z.device:
        raise ValueError(f"the objective expected the batch x on the model output's device {output.z.device}, got it "
                         f"on {x.device}")
    if x.shape[0] == 0:
        raise ValueError(f"the objective expected a non-empty batch, got an empty one of shape {tuple(x.shape)}")
    low, high = (v.item() for v in torch.aminmax(x.detach()))  # NaN reaches both ends; one pass
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the objective expected finite pixel values, got images containing NaN or inf")
    if isinstance(getattr(output.p_x, "base_dist", output.p_x), torch.distributions.Bernoulli) \
            and not 0 <= low <= high <= 1:  # log p(x|z) of a Bernoulli is a likelihood only for x in [0, 1]
        raise ValueError(f"the objective expected pixel values in [0, 1] for the model's Bernoulli likelihood, got "
                         f"values from {low:g} to {high:g} (scale the images, or use a Gaussian likelihood)")
    return x.to(output.z.dtype)


def elbo_terms(output, x: Tensor) -> tuple[Tensor, Tensor]:
    """(log p(x|z), KL(q||p)) per example from a model output with ``q_z``, ``p_x`` (and a N(0, I) prior).

    An output that carries its own per-example ``kl`` (the hierarchical models of chapter 4, whose prior
    p(z_i | z_{i+1}) is not N(0, I)) is trusted for the KL term.
    """
    x = check_target(output, x)
    log_px_z = output.p_x.log_prob(x)  # (B,) summed over pixels
    if getattr(output, "kl", None) is not None:  # a model whose prior is not N(0, I) (a hierarchy) reports its KL
        return log_px_z, output.kl  # (B,)
    if not hasattr(getattr(output, "q_z", None), "kl_to_standard_normal"):
        raise TypeError(f"the objective expected a model's output with q_z (a DiagonalGaussian) for the KL term, got "
                        f"{type(output).__name__} without one")
    kl = output.q_z.kl_to_standard_normal()  # (B,) closed form, summed over D
    return log_px_z, kl


def elbo(output, x: Tensor) -> Terms:
    """The plain VAE objective: maximise the ELBO, i.e. minimise its negative batch mean.  [slides, Eq. 1]"""
    log_px_z, kl = elbo_terms(output, x)
    bound = log_px_z - kl  # (B,)
    return Terms(log_px_z=log_px_z, kl=kl, elbo=bound, loss=-bound.mean())


def log_mean_exp(a: Tensor, dim: int = 0) -> Tensor:
    """log (1/n) sum exp(a) along ``dim``, stably: max + log mean exp(a - max)."""
    if not isinstance(a, Tensor) or not a.is_floating_point():
        raise TypeError(f"log_mean_exp expected a real floating-point tensor a (log-weights), got {values.shown(a)}")
    values.with_values("log_mean_exp's a", a, "log-weights")
    if a.dim() == 0:
        raise ValueError("log_mean_exp expected a tensor a with at least one axis to average over, got a 0-d tensor")
    dim = values.integer(f"an axis of a (between {-a.dim()} and {a.dim() - 1})", -a.dim(), a.dim() - 1).check(
        "log_mean_exp's dim", dim)
    if a.shape[dim] == 0:
        raise ValueError(f"log_mean_exp needs at least one value along dim {dim}, got an empty a of shape {tuple(a.shape)}")
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


@torch.no_grad()
def importance_weighted_bound(model, x: Tensor, k: int = 5000, *, chunk_size: int = 250,
                              generator: torch.Generator | None = None) -> Tensor:
    """The k-sample importance-weighted bound L_k(x) <= log p(x), per example (B,).  [burda2016, Eq. 8]

    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x),  L_k = logsumexp_i(log w_i) - log k.
    The k samples are drawn ``chunk_size`` at a time and folded into a running logsumexp, so
    memory grows with the chunk, not with k: k = 5000 fits where 5000 decoded batches would not.
    L_1 is the ELBO (in expectation); L_k rises towards log p(x) as k grows.
    A model with a ``log_importance_weights(x, S, generator=...) -> (S, B)`` method (the hierarchical
    models of chapter 4, whose q and p span several layers) supplies its own weights.
    """
    k = values.samples.check("k (the number of importance samples)", k)
    chunk_size = values.samples.check("chunk_size", chunk_size)
    generator = values.generator.or_none().check("generator", generator)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "encode"):
        raise ValueError(f"importance_weighted_bound's model must be a vaecourse model (encode and decode), got "
                         f"{type(model).__name__}")
    if getattr(model, "takes_labels", False):  # q(z|x, u): log p(x) of an image alone is not what it models
        raise ValueError(f"importance_weighted_bound's model must encode images alone (a VAE or a LadderVAE), got "
                         f"{type(model).__name__}, which reads labels u beside x")
    check_chunk_fits("chunk_size", min(chunk_size, k), x)
    if hasattr(model, "log_importance_weights"):  # a model that scores its own samples (a hierarchy)
        log_weights = model.log_importance_weights
    else:
        log_weights = _vae_log_weights(model, x)
    batch = x.shape[0]
    running = torch.full((batch,), -math.inf, device=x.device)  # logsumexp so far
    done = 0
    while done < k:
        s = min(chunk_size, k - done)
        log_w = log_weights(x, s, generator=generator)  # (S, B)
        running = torch.logaddexp(running.to(log_w.dtype), torch.logsumexp(log_w, dim=0))
        done += s
    return running - math.log(k)  # (B,)


def check_chunk_fits(name: str, chunk_size: int, x: Tensor) -> None:
    """Refuse a chunk of importance samples whose decoded images would not fit in ``values.MAX_BYTES``: each chunk
    decodes ``chunk_size`` samples for every image of ``x`` at once (the images repeated, the decoder's output and its
    log-probabilities: about three copies). 100,000 samples of 1,000 32x32 images asked the allocator for 410 GB."""
    chunk_size = values.positive_int.check(name, chunk_size)  # (a tensor in the words below had reached __format__)
    images = x.shape[0] if isinstance(x, Tensor) and x.dim() > 0 else 1
    pixels = x[0].numel() if isinstance(x, Tensor) and x.dim() > 0 and x.shape[0] > 0 else 1  # (the model names x)
    values.fits_in_memory(f"{name} ({chunk_size:,} samples for each of {images:,} images)", chunk_size * images,
                          3 * 4 * pixels, "decoded images at once")


def _vae_log_weights(model, x: Tensor):
    """log w_s = log p(x|z_s) + log N(z_s; 0, I) - log q(z_s|x) for a VAE, as a function of (x, S): (S, B).

    The encoder runs once; each call draws S new samples, one draw per sample, so the samples (and the
    bound) do not depend on how k is chunked.
    """
    q = model.encode(x)
    mu, logvar = q.mu, q.logvar  # (B, D)
    batch = x.shape[0]

    def log_weights(x: Tensor, s: int, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.stack([torch.randn(mu.shape, generator=generator) for _ in range(s)]).to(mu.device, mu.dtype)  # (S, B, D)
        z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, D)
        flat_z = z.reshape(s * batch, -1)  # (S*B, D)
        flat_x = x.unsqueeze(0).expand(s, *x.shape).reshape(s * batch, *x.shape[1:])
        log_px_z = model.decode(flat_z).log_prob(flat_x).view(s, batch)  # (S, B)
        return log_px_z + log_normal(z) - log_normal(z, mu, logvar)  # (S, B)

    return log_weights


__all__ = ["Terms", "check_target", "elbo", "elbo_terms", "importance_weighted_bound", "log_mean_exp", "non_negative",
           "schedule"]
