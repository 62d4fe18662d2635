"""beta-VAE objectives: the KL term weighted, capped, or constrained.

The problem behind them [slides, Eq. 6-8; higgins2017, Eq. 2-3]:
    max E_x E_q log p(x|z)   subject to   KL(q(z|x) || p(z)) < epsilon
Its Lagrangian (KKT) is  E_q log p(x|z) - beta (KL - epsilon),  beta >= 0,  and for a fixed multiplier the
epsilon term is a constant, leaving the beta-VAE objective  E_q log p(x|z) - beta KL  [slides, Eq. 9].

Every function returns :class:`~vaecourse.objectives.elbo.Terms` whose ``elbo`` is the true ELBO (beta = 1),
whatever the loss optimises. Reductions: sums over pixels and latents, mean over the batch last.
"""

from __future__ import annotations


import torch
from torch import Tensor

from vaecourse import values
from vaecourse.objectives.elbo import POSITION, Terms, elbo_terms, non_negative, schedule


def kl_weight(step: int, warmup_steps: int) -> float:
    """Linear KL warm-up: the weight rises from 0 to 1 over the first ``warmup_steps``, then stays 1.
    [sonderby2016, Eq. 26] (there over epochs). 0 warm-up steps means weight 1 from the start."""
    warmup_steps = POSITION.check("warmup_steps (the warm-up's length)", warmup_steps)
    step = POSITION.check("the warm-up's position (a step or an epoch)", step)
    return 1.0 if warmup_steps == 0 else min(1.0, step / warmup_steps)


def beta_vae_loss(log_px_z: Tensor, kl: Tensor, beta: float) -> Tensor:
    """The loss to minimise for the beta-VAE objective, from its per-example terms (B,): the negated batch mean of
    log p(x|z) - beta * KL.  [slides, Eq. 9]"""
    beta = non_negative("beta", beta)
    if not isinstance(log_px_z, Tensor) or not isinstance(kl, Tensor) or log_px_z.shape != kl.shape:
        raise TypeError(f"beta_vae_loss expected log_px_z and kl as tensors of one shape (B,), got "
                        f"{_described(log_px_z)} and {_described(kl)}")
    for name, value in (("log_px_z", log_px_z), ("kl", kl)):
        if not value.is_floating_point():
            raise TypeError(f"beta_vae_loss's {name} must be a real floating-point tensor (B,), got dtype {value.dtype}")
        values.with_values(f"beta_vae_loss's {name}", value, "per-example terms (B,)")
    if log_px_z.device != kl.device:
        raise ValueError(f"beta_vae_loss's log_px_z and kl must be on one device, got {log_px_z.device} and {kl.device}")
    if log_px_z.dim() != 1 or log_px_z.shape[0] == 0:
        raise ValueError(f"beta_vae_loss expected log_px_z and kl per example, (B,) with B >= 1, got shape "
                         f"{tuple(log_px_z.shape)}")
    return -(log_px_z - beta * kl).mean()


def _described(value) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, Tensor) else f"a {type(value).__name__}"


@schedule("step")
def beta_vae(output, x: Tensor, beta: float = 4.0, step: int = 0, warmup_steps: int = 0) -> Terms:
    """E_q log p(x|z) - beta * KL(q(z|x) || p(z)), maximised.  [slides, Eq. 9; higgins2017, Eq. 4]

    beta = 1 is the plain ELBO; beta > 1 presses the posterior towards the factorised prior.
    ``beta`` is the un-normalised weight (see :func:`normalised_beta` for the paper's beta_norm).
    With ``warmup_steps`` the weight ramps linearly from 0 to beta over that many steps: it keeps a
    freshly initialised VAE out of the collapsed "average image" optimum (KL = 0) it can sit in for
    thousands of steps on dSprites.
    """
    warmup_steps = values.non_negative_int.check("warmup_steps (a number of steps)", warmup_steps)
    step = values.non_negative_int.check("beta_vae's step", step)
    beta = non_negative("beta", beta) * kl_weight(step, warmup_steps)
    log_px_z, kl = elbo_terms(output, x)  # (B,), (B,)
    return Terms(log_px_z=log_px_z, kl=kl, elbo=log_px_z - kl, loss=beta_vae_loss(log_px_z, kl, beta),
                 extras={"beta": torch.tensor(beta)})


def capacity_at(step: int, c_max: float = 25.0, c_steps: int = 100_000, c_start_step: int = 0) -> float:
    """The capacity C (nats) at ``step``: 0 until ``c_start_step``, then linear up to ``c_max`` at
    ``c_start_step + c_steps``, then held.  [burgess2018, Sec. 5]"""
    c_steps = values.positive_int.check("c_steps (the capacity schedule must last at least one step)", c_steps)
    c_start_step = values.non_negative_int.check("c_start_step (the step at which C starts rising)", c_start_step)
    step = values.non_negative_int.check("the capacity schedule's step", step)
    c_max = non_negative("c_max (nats)", c_max)
    progress = min(max((step - c_start_step) / c_steps, 0.0), 1.0)
    return c_max * progress


@schedule("step")
def capacity_vae(output, x: Tensor, step: int = 0, gamma: float = 1000.0, c_max: float = 25.0,
                 c_steps: int = 100_000, c_start_step: int = 0) -> Terms:
    """E_q log p(x|z) - gamma * |E_x KL(q(z|x) || p(z)) - C|, C raised linearly.  [burgess2018, Eq. 8]

    The dataset-average KL (estimated by the batch mean) is pushed to the target C: one example may sit above C
    and another below it, as long as their average meets it. As C grows, information is let through the
    bottleneck a little at a time, so the factor that buys most reconstruction per nat comes first.
    Burgess et al. on dSprites: gamma = 1000, C from 0 to 25 nats over 100,000 steps.
    """
    gamma = non_negative("gamma", gamma)
    non_negative("c_max", c_max)
    target = capacity_at(step, c_max, c_steps, c_start_step)
    log_px_z, kl = elbo_terms(output, x)  # (B,), (B,)
    objective = log_px_z.mean() - gamma * (kl.mean() - target).abs()  # scalar: |batch-mean KL - C|, Eq. 8
    return Terms(log_px_z=log_px_z, kl=kl, elbo=log_px_z - kl, loss=-objective,
                 extras={"capacity": torch.tensor(target), "gamma": torch.tensor(gamma)})


KL_VALUE = values.real("a finite number (>= 0 up to rounding): a KL in nats", lambda v: v >= -1e-3, values.MAX_MEASURED,
                       "no KL the course computes comes near it")  # a batch-mean KL


def dual_ascent_step(beta: float, kl: float, epsilon: float, lr: float) -> float:
    """beta <- min(MAX_WEIGHT, max(0, beta + lr * (KL - epsilon))): gradient ascent on the dual.  [slides, Eq. 8]

    The multiplier grows while the constraint KL < epsilon is violated and shrinks (to 0 at most)
    while it holds with slack: complementary slackness, beta * (KL - epsilon) = 0, at a KKT point.
    It is clamped at ``values.MAX_WEIGHT`` (1e6), the largest beta that ``ConstrainedVAE.load_state_dict`` and
    every other beta take, so a checkpoint of a run whose multiplier ran away still resumes (a step of
    lr_dual 1e6 on a KL of 9 nats gave 9e6, which the run's own loader then refused).
    """
    beta, epsilon, lr = non_negative("beta", beta), non_negative("epsilon", epsilon), non_negative("lr", lr)
    kl = KL_VALUE.check("kl (the batch-mean KL, a float)", kl)
    return min(values.MAX_WEIGHT, max(0.0, beta + lr * (kl - epsilon)))


class ConstrainedVAE:
    """The constrained problem of Eq. (6)-(7) solved by its Lagrangian with a learned multiplier.

    Each call returns the Lagrangian terms for the model update (beta held fixed for this step),
    then updates beta by dual ascent on the batch-mean KL (:func:`dual_ascent_step`: clamped at
    ``values.MAX_WEIGHT``, the bound :meth:`load_state_dict` applies, so every saved state resumes). With ``lr_dual = 0`` the multiplier is
    frozen and the objective is exactly beta-VAE with that beta (the KKT view of Eq. 9).

        objective = ConstrainedVAE(epsilon=20.0, lr_dual=0.01, beta=1.0)
        fit(model, objective, data, steps=...)      # objective.beta_trace holds the multiplier
    """

    def __init__(self, epsilon: float, lr_dual: float = 0.01, beta: float = 1.0):
        self.epsilon = non_negative("epsilon", epsilon)
        self.lr_dual = non_negative("lr_dual", lr_dual)
        self.beta = non_negative("beta", beta)
        self.beta_trace: list[float] = []

    def __call__(self, output, x: Tensor) -> Terms:
        log_px_z, kl = elbo_terms(output, x)  # (B,), (B,)
        beta = self.beta
        lagrangian = log_px_z - beta * (kl - self.epsilon)  # (B,)  Eq. (8)
        if self.lr_dual > 0:  # (first: a refused KL leaves the multiplier and its trace as they were)
            self.beta = dual_ascent_step(beta, kl.detach().mean().item(), self.epsilon, self.lr_dual)
        self.beta_trace.append(beta)
        return Terms(log_px_z=log_px_z, kl=kl, elbo=log_px_z - kl, loss=-lagrangian.mean(),
                     extras={"beta": torch.tensor(beta), "constraint": (kl.detach() - self.epsilon)})

    def state_dict(self) -> dict:
        """The multiplier and its trace, so an interrupted run resumes with the same beta."""
        return {"beta": self.beta, "beta_trace": list(self.beta_trace)}

    def load_state_dict(self, state: dict) -> None:
        """The multiplier and its trace of :meth:`state_dict`, checked (nothing changes when a value is refused)."""
        state = values.mapping.check("ConstrainedVAE.load_state_dict's state", state)
        missing = [key for key in ("beta", "beta_trace") if key not in state]
        if missing:
            raise ValueError(f"ConstrainedVAE.load_state_dict's state must hold 'beta' and 'beta_trace', got keys "
                             f"{values.shown(sorted(map(str, state)))} (missing {', '.join(missing)})")
        beta = non_negative("ConstrainedVAE.load_state_dict's beta", state["beta"])
        trace = TRACE.check("ConstrainedVAE.load_state_dict's beta_trace", state["beta_trace"])
        self.beta, self.beta_trace = beta, [float(b) for b in trace]


TRACE = values.Kind(f"a list of multipliers, each a finite number >= 0 (at most {values.MAX_WEIGHT:g})",
                    lambda v: isinstance(v, (list, tuple)) and all(_is_multiplier(b) for b in v))  # (a dict's keys: no)


def _is_multiplier(value) -> bool:
    try:
        values.non_negative.check("beta", value)
    except ValueError:
        return False
    return True


def normalised_beta(beta: float, latent_dim: int, n_pixels: int) -> float:
    """beta_norm = beta * M / N for M latents and N input pixels.  [higgins2017, App. A.6]

    Higgins et al. quote beta_norm so that values compare across input and latent sizes; e.g. beta = 4
    with M = 10 latents on 64x64 dSprites (N = 4096) is beta_norm ~= 0.0098.
    """
    latent_dim, n_pixels = values.units.check("latent_dim", latent_dim), values.positive_int.check("n_pixels", n_pixels)
    return non_negative("beta", beta) * latent_dim / n_pixels


def unnormalised_beta(beta_norm: float, latent_dim: int, n_pixels: int) -> float:
    """The inverse of :func:`normalised_beta`: beta = beta_norm * N / M, the weight :func:`beta_vae` takes."""
    latent_dim, n_pixels = values.units.check("latent_dim", latent_dim), values.positive_int.check("n_pixels", n_pixels)
    return non_negative("beta_norm", beta_norm) * n_pixels / latent_dim


__all__ = ["ConstrainedVAE", "beta_vae", "kl_weight", "capacity_at", "capacity_vae", "dual_ascent_step", "normalised_beta",
           "unnormalised_beta"]
