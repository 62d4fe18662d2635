"""Objectives: pure functions (output, x, **hyper) -> Terms, with the true ELBO always inside."""

from functools import partial

from vaecourse.objectives.elbo import Terms, elbo, elbo_terms, importance_weighted_bound, log_mean_exp
from vaecourse.objectives.beta import (ConstrainedVAE, beta_vae, capacity_at, capacity_vae, dual_ascent_step,
                                       kl_weight, normalised_beta, unnormalised_beta)  # chapter 2
from vaecourse.objectives.ladder import ladder_elbo  # chapter 4
from vaecourse.objectives.causal import (CausalObjective, causal_terms, causal_vae_loss, conditional_vae_loss,
                                         dag_constraint, dag_constraint_grad, label_loss, label_residuals,
                                         mask_loss)  # chapter 5: CausalVAE (Eq. 36-41), the CVAE
from vaecourse.objectives.independence import hsic, noise_dependence  # chapter 5: independent exogenous noise

# The objectives the command line can name: name -> factory(args namespace) -> objective callable.
OBJECTIVES = {
    "elbo": lambda args: elbo,
    "beta": lambda args: partial(beta_vae, beta=args.beta, warmup_steps=args.kl_warmup),
    # --beta read as Higgins et al.'s normalised beta_norm = beta M / N, converted for M latents, N pixels
    "beta_norm": lambda args: partial(beta_vae, beta=unnormalised_beta(args.beta, args.latent_dim, args.image_size ** 2),
                                      warmup_steps=args.kl_warmup),
    "capacity": lambda args: partial(capacity_vae, gamma=args.gamma, c_max=args.c_max, c_steps=args.c_steps,
                                     c_start_step=args.c_start_step),
    "constrained": lambda args: ConstrainedVAE(epsilon=args.epsilon, lr_dual=args.lr_dual, beta=args.beta),
    "ladder": lambda args: partial(ladder_elbo, warmup_epochs=args.warmup_epochs,
                                   steps_per_epoch=getattr(args, "steps_per_epoch", None)),
    "causal": lambda args: CausalObjective(beta=args.lu_weight, gamma=args.lm_weight, label_fit=args.label_fit,
                                           independence=args.independence,
                                           pixel_weights=getattr(args, "pixel_weights", None)),
    "cvae": lambda args: conditional_vae_loss,
}


def make_objective(name: str, args=None):
    """The objective called ``name``, configured from a namespace of hyper-parameters (command line)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}: expected one of {tuple(OBJECTIVES)}")
    return OBJECTIVES[name](args)


__all__ = [
    "Terms", "elbo", "elbo_terms", "importance_weighted_bound", "log_mean_exp",
    "ConstrainedVAE", "beta_vae", "capacity_at", "capacity_vae", "dual_ascent_step", "kl_weight", "normalised_beta",
    "unnormalised_beta",
    "ladder_elbo",
    "CausalObjective", "causal_terms", "causal_vae_loss", "conditional_vae_loss", "dag_constraint",
    "dag_constraint_grad", "label_loss", "label_residuals", "mask_loss",
    "hsic", "noise_dependence",
    "OBJECTIVES", "make_objective",
]
